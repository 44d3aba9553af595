/**
 * A scripted account for the release state machine and the CLI's shift alike: the aliases (with
 * Lambda's RevisionId, which moto does not keep), the stage, and alarm states and metric readings
 * that change with every gate check. The CLI's shift gets it as its AWS interface (worldApi), the
 * state machine's SDK tasks through the Step Functions stand-in (worldTasks), answering as the
 * services' API references describe (UpdateAlias refusing a stale RevisionId with
 * PreconditionFailedException, UpdateStage's patch operations, FlushStageCache accepted or refused
 * with ConflictException, DescribeAlarms, GetMetricData with
 * ./../support/metric-math.ts for the expressions).
 */
import type { MetricId } from '../../src/aws/cloudwatch.ts';
import type { AwsApi } from '../../src/aws/index.ts';
import type { ShiftPlan } from '../../src/deploy/shift.ts';
import { evaluate, type Series } from '../support/metric-math.ts';

export type State = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA' | undefined;

export interface Scenario {
  plan: ShiftPlan;
  /** Alarm states at the n-th gate check (undefined: the alarm does not exist). */
  alarms: (check: number) => Record<string, State>;
  /** A new version's failures and invocations at the n-th gate check. */
  metrics: (check: number, fn: string) => { failures: number; invocations: number };
  /** Someone moves this alias by hand after the n-th check. */
  handEdit?: { check: number; fn: string };
  /** API Gateway refuses FlushStageCache after the variables move forward, back, or both (every attempt). */
  flushRefused?: 'forward' | 'restore' | 'both';
}

/** One scripted account: the aliases, the stage, and readings that change with every gate check. */
export class World {
  checks = 0;
  aliases = new Map<string, { version: string; weights: Record<string, number>; revision: number }>();
  stage: { deploymentId: string; variables: Record<string, string> };
  records: string[] = [];
  /**
   * The stage's cache flushes, as `<forward|restore>:<flushed|refused>` (forward: the stage holds
   * the plan's new variables); a retry of a refused flush is not a flush of its own.
   */
  flushes: string[] = [];
  constructor(
    private readonly sc: Scenario,
    stage: { deploymentId: string; variables: Record<string, string> },
  ) {
    for (const f of sc.plan.functions) this.aliases.set(f.functionName, { version: f.previousVersion, weights: {}, revision: 1 });
    this.stage = { deploymentId: stage.deploymentId, variables: { ...stage.variables } };
  }
  check(): Record<string, State> {
    const states = this.sc.alarms(this.checks);
    if (this.sc.handEdit?.check === this.checks) {
      const a = this.aliases.get(this.sc.handEdit.fn)!;
      Object.assign(a, { version: '2', weights: {}, revision: a.revision + 1 });
    }
    this.checks++;
    return states;
  }
  /** Sum of a metric the CLI or the state machine asks for, at the current check. */
  metric(namespace: string, metricName: string, dims: Record<string, string>): number | undefined {
    const fn = dims.FunctionName!;
    const m = this.sc.metrics(this.checks - 1, fn);
    if (metricName === 'Invocations') return m.invocations > 0 ? m.invocations : undefined;
    // Lambda publishes Errors with every invocation; the authorizer writes AuthorizerFailures when it refuses.
    void namespace;
    return m.invocations > 0 || m.failures > 0 ? m.failures : undefined;
  }
  /** FlushStageCache: refused as the scenario says, else accepted (API Gateway answers 202). */
  flush(): void {
    const same = (a: Record<string, string>, b: Record<string, string> = {}) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    const phase = same(this.stage.variables, this.sc.plan.newStageVariables) ? 'forward' : same(this.stage.variables, this.sc.plan.previousStageVariables) ? 'restore' : 'other';
    const refused = this.sc.flushRefused === 'both' || this.sc.flushRefused === phase;
    const entry = `${phase}:${refused ? 'refused' : 'flushed'}`;
    if (!(refused && this.flushes.at(-1) === entry)) this.flushes.push(entry);
    if (refused) throw Object.assign(new Error('Cache flush already in progress'), { name: 'ConflictException' });
  }
  aws(): Pick<AwsApi, 'lambda' | 'apigateway' | 'cloudwatch'> {
    return worldApi(this);
  }
  bind(resource: string): (input: unknown) => Promise<unknown> {
    return worldTasks(this, resource);
  }
  snapshot() {
    return { aliases: [...this.aliases].map(([fn, a]) => [fn, a.version, a.weights]), stage: this.stage, flushes: this.flushes };
  }
}

/** The world as the CLI's shift sees it: its AWS interface. */
function worldApi(w: World): Pick<AwsApi, 'lambda' | 'apigateway' | 'cloudwatch'> {
    return {
      lambda: {
        async getAlias(fn: string) {
          const a = w.aliases.get(fn)!;
          return { functionVersion: a.version, additionalWeights: { ...a.weights } };
        },
        async updateAlias(fn: string, _alias: string, version: string, weights: Record<string, number>) {
          const a = w.aliases.get(fn)!;
          Object.assign(a, { version, weights: { ...weights }, revision: a.revision + 1 });
        },
      },
      apigateway: {
        async setStageDeployment(_r: string, _s: string, id: string) {
          w.stage.deploymentId = id;
        },
        async setStageVariables(_r: string, _s: string, vars: Record<string, string>) {
          const keys = [...new Set([...Object.keys(w.stage.variables), ...Object.keys(vars)])].filter((k) => w.stage.variables[k] !== vars[k]);
          w.stage.variables = { ...vars };
          return keys;
        },
        async flushStageCache() {
          w.flush();
        },
      },
      cloudwatch: {
        async alarmStates(names: string[]) {
          const s = w.check();
          const states = Object.fromEntries(names.filter((n) => s[n]).map((n) => [n, s[n]!]));
          return { states, missing: names.filter((n) => !s[n]) };
        },
        async metricSums(metrics: MetricId[]) {
          return metrics.map((m) => w.metric(m.namespace, m.metricName, m.dimensions) ?? 0);
        },
      },
    } as unknown as Pick<AwsApi, 'lambda' | 'apigateway' | 'cloudwatch'>;
}

/** The SDK tasks of the definition, answered by the world as the services would. */
function worldTasks(w: World, resource: string): (input: unknown) => Promise<unknown> {
    const action = resource.split(':').slice(-2).join(':');
    return async (raw) => {
      const input = raw as Record<string, unknown> & { FunctionName: string; RevisionId: string; FunctionVersion: string; Key: string };
      switch (action) {
        case 'lambda:updateAlias': {
          const a = w.aliases.get(input.FunctionName)!;
          if (input.RevisionId !== String(a.revision)) throw Object.assign(new Error(`The Revision Id provided does not match the latest Revision Id of ${input.FunctionName}:live`), { name: 'Lambda.PreconditionFailedException' });
          Object.assign(a, { version: input.FunctionVersion, weights: { ...(input.RoutingConfig as { AdditionalVersionWeights: Record<string, number> }).AdditionalVersionWeights }, revision: a.revision + 1 });
          return { RevisionId: String(a.revision), FunctionVersion: a.version };
        }
        case 'apigateway:updateStage':
          for (const op of input.PatchOperations as { Op: string; Path: string; Value?: string }[]) {
            if (op.Path === '/deploymentId') w.stage.deploymentId = op.Value!;
            else if (op.Op === 'remove') delete w.stage.variables[op.Path.slice('/variables/'.length)];
            else w.stage.variables[op.Path.slice('/variables/'.length)] = op.Value!;
          }
          return {};
        case 'apigateway:flushStageCache':
          try {
            w.flush();
          } catch (err) {
            throw Object.assign(new Error((err as Error).message), { name: `ApiGateway.${(err as Error).name}` });
          }
          return {};
        case 'cloudwatch:describeAlarms': {
          const s = w.check();
          return { MetricAlarms: (input.AlarmNames as string[]).filter((n) => s[n]).map((n) => ({ AlarmName: n, StateValue: s[n] })), CompositeAlarms: [] };
        }
        case 'cloudwatch:getMetricData': {
          const t = 1_700_000_000_000;
          const series: Record<string, Series> = {};
          const queries = input.MetricDataQueries as { Id: string; ReturnData: boolean; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] } } }[];
          for (const q of queries.filter((x) => x.MetricStat)) {
            const m = q.MetricStat!.Metric;
            const v = w.metric(m.Namespace, m.MetricName, Object.fromEntries(m.Dimensions.map((d) => [d.Name, d.Value])));
            series[q.Id] = new Map(v === undefined ? [] : [[t, v]]);
          }
          for (const q of queries.filter((x) => x.Expression)) series[q.Id] = evaluate(q.Expression!, series) as Series;
          return { MetricDataResults: queries.filter((q) => q.ReturnData).map((q) => ({ Id: q.Id, Values: [...series[q.Id]!.values()], Timestamps: [...series[q.Id]!.keys()].map((x) => new Date(x).toISOString()) })) };
        }
        case 's3:putObject':
          w.records.push(String(input.Key));
          return {};
        case 's3:deleteObject':
          return {};
      }
      throw new Error(`world: ${resource} not scripted`);
    };
}
