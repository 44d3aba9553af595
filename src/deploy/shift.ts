/**
 * The alias shift engine: moves the `live` alias of each function from its previous version to the
 * new one through the env's traffic steps, baking after each step while polling the gating alarms.
 * Any alarm in ALARM, or an abort (SIGINT/SIGTERM), restores every alias and the API stage to what
 * served before the shift. Clock and sleep are injectable so tests bake in milliseconds.
 */
import type { AwsApi } from '../aws/index.ts';
import { DeployError, InterruptedError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';

export const LIVE_ALIAS = 'live';

export interface FunctionShift {
  functionName: string;
  previousVersion: string;
  newVersion: string;
}

export interface ShiftPlan {
  functions: FunctionShift[];
  restApiId: string;
  stageName: string;
  previousDeploymentId: string;
  newDeploymentId: string;
  /**
   * The stage variables (feature flags, DRR toggle) the release applies when it moves the stage,
   * and those a rollback puts back; the stage's variables are left alone when absent.
   */
  newStageVariables?: Record<string, string>;
  previousStageVariables?: Record<string, string>;
  alarmNames: string[];
  /** Percent on the new version per step; strictly increasing, ends at 100. */
  steps: number[];
  bakeSeconds: number;
  alarmPollSeconds: number;
  /**
   * The new versions' own error rate, in percent of their invocations, above which the shift rolls
   * back (from Lambda's Errors/Invocations by alias and executed version); no check when absent.
   */
  errorRatePercent?: number;
}

export type ShiftOutcome =
  | { kind: 'promoted'; steps: number[] }
  | { kind: 'rolled-back'; reason: string; alarms: string[]; atStep: number };

export interface ShiftDeps {
  aws: Pick<AwsApi, 'lambda' | 'apigateway' | 'cloudwatch'>;
  reporter?: Reporter;
  signal?: AbortSignal;
  now?: () => number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Checked before each traffic step (e.g. `catalogctl verify` against the stage); a failure rolls
   * back like an alarm does.
   */
  gate?: (step: number) => Promise<{ ok: true } | { ok: false; reason: string }>;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

type Alias = Pick<AwsApi, 'lambda'>;

/** What each function's alias serves; `inProgress` lists those with extra weights (a shift not finished). */
export async function readAliases(aws: Alias, functionNames: string[]) {
  const aliases = await Promise.all(functionNames.map(async (fn) => ({ functionName: fn, ...(await aws.lambda.getAlias(fn, LIVE_ALIAS)) })));
  return { aliases, inProgress: aliases.filter((a) => Object.keys(a.additionalWeights).length > 0) };
}

/**
 * A shift in progress is a lock. Without `resume` it refuses (exit 2); with it, the versions the
 * interrupted shift was moving between are returned so the new shift continues that one.
 */
export async function checkShiftLock(aws: Alias, functionNames: string[], resume: boolean): Promise<Map<string, { previous: string; next: string }> | undefined> {
  const { inProgress } = await readAliases(aws, functionNames);
  if (inProgress.length === 0) return undefined;
  if (!resume) {
    const what = inProgress.map((a) => `${a.functionName} (${a.functionVersion} + ${Object.entries(a.additionalWeights).map(([v, w]) => `${v}@${Math.round(w * 100)}%`).join(', ')})`);
    throw new UserInputError(`release: a traffic shift is in progress on ${what.join('; ')}; run with --resume to continue it or run rollback first`);
  }
  return new Map(inProgress.map((a) => [a.functionName, { previous: a.functionVersion, next: Object.keys(a.additionalWeights)[0]! }]));
}

/**
 * Every alias back on its previous version with no extra weights, and the stage on the previous
 * deployment with the previous variables. The aliases go first: they carry the traffic.
 */
export async function restore(aws: ShiftDeps['aws'], plan: Pick<ShiftPlan, 'functions' | 'restApiId' | 'stageName' | 'previousDeploymentId' | 'previousStageVariables'>): Promise<void> {
  await Promise.all(plan.functions.map((f) => aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.previousVersion, {})));
  if (plan.previousDeploymentId) await aws.apigateway.setStageDeployment(plan.restApiId, plan.stageName, plan.previousDeploymentId);
  if (plan.previousStageVariables) await aws.apigateway.setStageVariables(plan.restApiId, plan.stageName, plan.previousStageVariables);
}

/** What a function's alias serves once the shift has set `step` percent. */
function expectedAlias(f: FunctionShift, step: number): { functionVersion: string; additionalWeights: Record<string, number> } {
  if (step >= 100 || f.previousVersion === f.newVersion) return { functionVersion: f.newVersion, additionalWeights: {} };
  return { functionVersion: f.previousVersion, additionalWeights: { [f.newVersion]: step / 100 } };
}

type AliasView = { functionVersion: string; additionalWeights: Record<string, number> };

function sameAlias(a: AliasView, b: AliasView): boolean {
  const ka = Object.keys(a.additionalWeights).sort();
  const kb = Object.keys(b.additionalWeights).sort();
  return a.functionVersion === b.functionVersion && ka.join() === kb.join() && ka.every((k) => Math.abs(a.additionalWeights[k]! - b.additionalWeights[k]!) < 1e-9);
}

const describeAlias = (a: AliasView) =>
  `v${a.functionVersion}${Object.entries(a.additionalWeights)
    .map(([v, w]) => ` + v${v}@${Math.round(w * 1000) / 10}%`)
    .join('')}`;

export async function shiftTraffic(plan: ShiftPlan, deps: ShiftDeps): Promise<ShiftOutcome> {
  const { aws, signal } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? abortableSleep;
  const pollMs = Math.max(0, Math.min(plan.alarmPollSeconds, 15)) * 1000;

  const interrupted = async (step: number): Promise<never> => {
    reporter.report({ level: 'warn', topic: 'release', message: `interrupted at ${step}%: restoring the previous versions`, data: { step } });
    await restore(aws, plan);
    throw new InterruptedError(`release interrupted at ${step}%; aliases and stage restored to the previous release`);
  };
  // Metric windows are wall-clock time (CloudWatch's), whatever clock paces the bake.
  const shiftStart = new Date(Date.now() - 60_000);
  const versionErrors = async (): Promise<string[]> => {
    if (plan.errorRatePercent === undefined) return [];
    const bad: string[] = [];
    for (const f of plan.functions) {
      if (f.newVersion === f.previousVersion) continue;
      const m = await aws.cloudwatch.versionMetrics(f.functionName, LIVE_ALIAS, f.newVersion, shiftStart, new Date(Date.now() + 60_000));
      if (m.errors > 0 && m.errors * 100 > plan.errorRatePercent * Math.max(m.invocations, m.errors)) bad.push(`${f.functionName} v${f.newVersion} ${m.errors} errors in ${m.invocations} invocations`);
    }
    return bad;
  };
  // Someone else moving the aliases mid-shift (a rollback from another terminal, a console edit)
  // takes over: the shift stops without touching them, rather than pushing traffic back.
  const assertUntouched = async (step: number): Promise<void> => {
    const { aliases } = await readAliases(aws, plan.functions.map((f) => f.functionName));
    const moved = plan.functions.flatMap((f, i) => {
      const want = expectedAlias(f, step);
      const got = aliases[i]!;
      return sameAlias(want, got) ? [] : [`${f.functionName} is ${describeAlias(got)}, not ${describeAlias(want)}`];
    });
    if (moved.length) throw new DeployError(`release stopped at ${step}%: the live aliases were changed outside this release (${moved.join('; ')}); nothing was moved back`);
  };
  const firingAlarms = async (): Promise<string[]> => (plan.alarmNames.length ? (await aws.cloudwatch.alarmsInAlarm(plan.alarmNames)).firing : []);
  const check = async (step: number): Promise<ShiftOutcome | undefined> => {
    await assertUntouched(step);
    const firing = await firingAlarms();
    const errors = firing.length ? [] : await versionErrors();
    if (firing.length === 0 && errors.length === 0) return undefined;
    const reason = firing.length ? `alarm ${firing.join(', ')} in ALARM at ${step}%` : `new version errors above ${plan.errorRatePercent}% at ${step}%: ${errors.join('; ')}`;
    reporter.report({ level: 'warn', topic: 'release', message: `${reason}: rolling back`, data: { step, alarms: firing, errors } });
    await restore(aws, plan);
    return { kind: 'rolled-back', reason, alarms: firing, atStep: step };
  };

  if (signal?.aborted) await interrupted(0);
  // An alarm already firing stops the release before any traffic or the stage moves.
  const firingBefore = await firingAlarms();
  if (firingBefore.length) {
    const reason = `alarm ${firingBefore.join(', ')} in ALARM before any traffic moved`;
    reporter.report({ level: 'warn', topic: 'release', message: `${reason}: not shifting`, data: { step: 0, alarms: firingBefore } });
    await restore(aws, plan); // a resumed shift still has weights on the aliases
    return { kind: 'rolled-back', reason, alarms: firingBefore, atStep: 0 };
  }
  if (plan.newDeploymentId !== plan.previousDeploymentId) await aws.apigateway.setStageDeployment(plan.restApiId, plan.stageName, plan.newDeploymentId);
  if (plan.newStageVariables) await aws.apigateway.setStageVariables(plan.restApiId, plan.stageName, plan.newStageVariables);
  for (const step of plan.steps) {
    if (signal?.aborted) await interrupted(step);
    if (deps.gate) {
      const g = await deps.gate(step);
      if (!g.ok) {
        reporter.report({ level: 'warn', topic: 'release', message: `gate failed before ${step}%: ${g.reason}; rolling back`, data: { step } });
        await restore(aws, plan);
        return { kind: 'rolled-back', reason: `gate failed before ${step}%: ${g.reason}`, alarms: [], atStep: step };
      }
    }
    await Promise.all(
      plan.functions.map((f) =>
        step >= 100 || f.previousVersion === f.newVersion
          ? aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.newVersion, {})
          : aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.previousVersion, { [f.newVersion]: step / 100 }),
      ),
    );
    reporter.report({ level: 'step', topic: 'release', message: `${step}% of traffic on the new versions`, data: { step } });
    const rolled = await check(step);
    if (rolled) return rolled;
    if (step >= 100) break;
    const until = now() + plan.bakeSeconds * 1000;
    while (now() < until) {
      await sleep(Math.min(pollMs || 1000, until - now()), signal);
      if (signal?.aborted) await interrupted(step);
      const r = await check(step);
      if (r) return r;
    }
  }
  return { kind: 'promoted', steps: [...plan.steps] };
}
