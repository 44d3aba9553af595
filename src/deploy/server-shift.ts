/**
 * The traffic shift run by the env's release state machine (src/templates/release-state-machine.ts)
 * instead of this process: the plan as the execution's input, the execution's history read back as
 * the same progress the CLI's shift reports, and the bounds Step Functions puts on an execution.
 *
 * - executionInput: pure; everything the definition cannot compute itself — each step's alias
 *   updates (./shift.ts expectedAlias), the stage's PATCH operations both ways, the metric math for
 *   the per-version failure rates, the history budget;
 * - followExecution: polls GetExecutionHistory and reports each step, each gate check (worded by
 *   judgeGates from the readings the execution made) and the restore, until the execution ends or
 *   the signal detaches (the execution carries on).
 */
import type { ExecutionDescription, HistoryEvent, SfnApi } from '../aws/sfn.ts';
import { DeployError, InterruptedError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { RELEASE_ERRORS, RS } from '../templates/release-state-machine.ts';
import { abortableSleep, cacheFlushedMessage, cacheFlushFailedMessage, DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS, expectedAlias, judgeGates, lambdaMetric, type GateReadings, type GateVerdict, type ShiftOutcome, type ShiftPlan } from './shift.ts';
import type { AlarmStateValue } from '../aws/cloudwatch.ts';

/** A Standard workflow keeps at most this many history events; past it the execution fails. */
export const HISTORY_EVENT_LIMIT = 25_000;
/** DescribeAlarms takes at most 100 names; the definition reads one page. */
export const MAX_GATING_ALARMS = 100;

type PatchOperation = { Op: 'replace' | 'remove'; Path: string; Value?: string };
type AliasUpdate = { FunctionName: string; FunctionVersion: string; RoutingConfig: { AdditionalVersionWeights: Record<string, number> } };
type MetricDataQuery = {
  Id: string;
  ReturnData: boolean;
  Label?: string;
  Expression?: string;
  MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }; Period: number; Stat: 'Sum' };
};

export interface CheckedVersion {
  functionName: string;
  version: string;
  /** `<function> v<version>`, as reasons name it. */
  label: string;
  failuresLabel: string;
  /** Ids of its failures and invocations in gate.queries. */
  fId: string;
  nId: string;
  /** Its own failures, invocations and breach, for naming it in a reason. */
  queries: MetricDataQuery[];
}

export interface ExecutionInput {
  release: { id: string; env: string };
  /** The release record as written when the shift starts; the execution writes it back finished. */
  manifest: Record<string, unknown>;
  gate: {
    alarmNames: string[];
    alarmCount: number;
    notBlind: number[];
    pollSeconds: number;
    negPollSeconds: number;
    graceSeconds: number;
    emptyAlarms: { MetricAlarms: []; CompositeAlarms: [] };
    checkVersions: boolean;
    errorRatePercent: number | null;
    limitText: string;
    window: { start: string; end: string };
    queries: MetricDataQuery[];
    checked: CheckedVersion[];
    maxUnits: number;
    slowUnits: number;
  };
  steps: { percent: number; bakeSeconds: number; where: string; updates: AliasUpdate[] }[];
  restore: { updates: AliasUpdate[] };
  stage: {
    RestApiId: string;
    StageName: string;
    forward: PatchOperation[];
    restore: PatchOperation[];
    hasForward: boolean;
    hasRestore: boolean;
    movedAtStart: boolean;
    /** The stage has an API cache and the PATCH changes its variables: flush it right after (as flushAfterVariables). */
    flushForward: boolean;
    flushRestore: boolean;
    /** For the warning when a flush fails (0 without a cache). */
    cacheTtlSeconds: number;
  };
  /** Each live alias's RevisionId when the plan was made, in the order of the updates. */
  revisions: string[];
}

export interface InputContext {
  releaseId: string;
  env: string;
  manifest: object;
  /** What the stage serves when the plan is made. */
  stageNow: { deploymentId: string; variables: Record<string, string> };
  revisions: (string | undefined)[];
  /** When the shift starts: the per-version metrics count from a minute before, as the CLI's do. */
  startedAt: Date;
}

const pollSecondsOf = (plan: Pick<ShiftPlan, 'alarmPollSeconds'>) => Math.max(0, Math.min(plan.alarmPollSeconds, 15)) || 1;
const graceOf = (plan: Pick<ShiftPlan, 'insufficientDataGraceSeconds'>) => Math.ceil(plan.insufficientDataGraceSeconds ?? DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS);

/** The stage's variables made exactly `want` from `have`, as setStageVariables does. */
function variableOps(have: Record<string, string>, want: Record<string, string>): PatchOperation[] {
  return [...new Set([...Object.keys(have), ...Object.keys(want)])].sort().flatMap((k): PatchOperation[] => {
    if (!(k in want)) return [{ Op: 'remove', Path: `/variables/${k}` }];
    return have[k] === want[k] ? [] : [{ Op: 'replace', Path: `/variables/${k}`, Value: want[k] }];
  });
}

function stagePlan(plan: ShiftPlan, now: InputContext['stageNow']): ExecutionInput['stage'] {
  const forward: PatchOperation[] = [];
  if (plan.newDeploymentId !== now.deploymentId) forward.push({ Op: 'replace', Path: '/deploymentId', Value: plan.newDeploymentId });
  if (plan.newStageVariables) forward.push(...variableOps(now.variables, plan.newStageVariables));
  // Restore starts from what the stage holds once moved forward.
  const after = { deploymentId: plan.newDeploymentId, variables: plan.newStageVariables ?? now.variables };
  const restore: PatchOperation[] = [];
  if (plan.previousDeploymentId && plan.previousDeploymentId !== after.deploymentId) restore.push({ Op: 'replace', Path: '/deploymentId', Value: plan.previousDeploymentId });
  if (plan.previousStageVariables) restore.push(...variableOps(after.variables, plan.previousStageVariables));
  const prevVars = plan.previousStageVariables ?? now.variables;
  const movedAtStart = now.deploymentId !== (plan.previousDeploymentId || now.deploymentId) || variableOps(now.variables, prevVars).length > 0;
  const changesVariables = (ops: PatchOperation[]) => !!plan.apiCache && ops.some((o) => o.Path.startsWith('/variables/'));
  return {
    RestApiId: plan.restApiId,
    StageName: plan.stageName,
    forward,
    restore,
    hasForward: forward.length > 0,
    hasRestore: restore.length > 0,
    movedAtStart,
    flushForward: changesVariables(forward),
    flushRestore: changesVariables(restore),
    cacheTtlSeconds: plan.apiCache?.ttlSeconds ?? 0,
  };
}

const aliasUpdate = (functionName: string, a: { functionVersion: string; additionalWeights: Record<string, number> }): AliasUpdate => ({
  FunctionName: functionName,
  FunctionVersion: a.functionVersion,
  RoutingConfig: { AdditionalVersionWeights: a.additionalWeights },
});

const metricStat = (id: string, label: string, m: { namespace: string; metricName: string; dimensions: Record<string, string> }, period: number): MetricDataQuery => ({
  Id: id,
  ReturnData: true,
  Label: label,
  MetricStat: { Metric: { Namespace: m.namespace, MetricName: m.metricName, Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })) }, Period: period, Stat: 'Sum' },
});

/**
 * judgeGates' per-version rule, `failures > 0 and failures × 100 > limit × max(invocations,
 * failures)`, as metric math (1 where it holds). A missing data point counts as 0 in CloudWatch's
 * arithmetic and comparisons, so no invocation data with failures reads as a breach, as there.
 * At a limit of 100 % nothing can exceed it.
 */
export const breachExpression = (f: string, n: string, limit: number): string => (limit >= 100 ? `0 * ${f}` : `IF(${f} > 0 AND 100 * ${f} > ${limit} * ${n}, 1, 0)`);

export function executionInput(plan: ShiftPlan, ctx: InputContext): ExecutionInput {
  const alarmNames = [...new Set(plan.alarmNames)];
  if (alarmNames.length > MAX_GATING_ALARMS) throw new DeployError(`release --on aws: ${alarmNames.length} gating alarms; the release state machine reads at most ${MAX_GATING_ALARMS} (one DescribeAlarms page)`);
  const revisions = ctx.revisions.map((r, i) => {
    if (!r) throw new DeployError(`release --on aws: Lambda gave no RevisionId for ${plan.functions[i]?.functionName}:live`);
    return r;
  });
  const pollSeconds = pollSecondsOf(plan);
  const graceSeconds = graceOf(plan);
  const budget = historyBudget({ alarms: alarmNames.length, functions: plan.functions.length, steps: plan.steps.length });
  // One period from a minute before the shift to past the longest the execution may run, so each
  // metric is a single sum.
  const startMs = Math.floor((ctx.startedAt.getTime() - 60_000) / 60_000) * 60_000;
  const horizon = Math.ceil((budget.maxUnits * pollSeconds + plan.steps.length * plan.bakeSeconds + 3600) / 60) * 60;
  const limit = plan.errorRatePercent;
  const moving = plan.functions.filter((f) => f.newVersion !== f.previousVersion);
  const checked: CheckedVersion[] = limit === undefined ? [] : moving.map((f, i) => {
    const failure = f.failureMetric ?? lambdaMetric(f.functionName, f.newVersion, 'Errors');
    const failuresLabel = failure.namespace === 'AWS/Lambda' && failure.metricName === 'Errors' ? 'errors' : failure.metricName;
    const label = `${f.functionName} v${f.newVersion}`;
    const invocations = lambdaMetric(f.functionName, f.newVersion, 'Invocations');
    return {
      functionName: f.functionName,
      version: f.newVersion,
      label,
      failuresLabel,
      fId: `f${i}`,
      nId: `n${i}`,
      queries: [metricStat('f', `${label} ${failuresLabel}`, failure, horizon), metricStat('n', `${label} invocations`, invocations, horizon), { Id: 'b', ReturnData: true, Expression: breachExpression('f', 'n', limit) }],
    };
  });
  const queries: MetricDataQuery[] = checked.flatMap((c, i): MetricDataQuery[] => [
    { ...c.queries[0]!, Id: c.fId },
    { ...c.queries[1]!, Id: c.nId },
    { Id: `b${i}`, ReturnData: false, Expression: breachExpression(c.fId, c.nId, limit!) },
  ]);
  if (checked.length) queries.push({ Id: 'breach', ReturnData: true, Label: 'a new version over the error rate', Expression: `MAX([${checked.map((_, i) => `b${i}`).join(', ')}])` });
  return {
    release: { id: ctx.releaseId, env: ctx.env },
    manifest: { ...(ctx.manifest as Record<string, unknown>) },
    gate: {
      alarmNames,
      alarmCount: alarmNames.length,
      notBlind: alarmNames.map(() => -1),
      pollSeconds,
      negPollSeconds: -pollSeconds,
      graceSeconds,
      emptyAlarms: { MetricAlarms: [], CompositeAlarms: [] },
      checkVersions: checked.length > 0,
      errorRatePercent: limit ?? null,
      limitText: limit === undefined ? '' : String(limit),
      window: { start: new Date(startMs).toISOString(), end: new Date(startMs + horizon * 1000).toISOString() },
      queries,
      checked,
      maxUnits: budget.maxUnits,
      slowUnits: budget.slowUnits,
    },
    steps: plan.steps.map((percent) => ({
      percent,
      bakeSeconds: percent >= 100 ? 0 : plan.bakeSeconds,
      where: `at ${percent}%`,
      updates: plan.functions.map((f) => aliasUpdate(f.functionName, expectedAlias(f, percent))),
    })),
    restore: { updates: plan.functions.map((f) => aliasUpdate(f.functionName, { functionVersion: f.previousVersion, additionalWeights: {} })) },
    stage: stagePlan(plan, ctx.stageNow),
    revisions,
  };
}

// ---- Step Functions' history limit ----

/**
 * History events per unit of the definition, counted as Standard workflows record them: a Pass,
 * Choice or Wait state 2 (entered, exited), an SDK Task 5 (entered, scheduled, started, succeeded,
 * exited), a Map 4 plus 2 per iteration plus what each iteration runs. A check of the common case
 * is one unit; one through the per-alarm Map costs `slowUnits`. The execution counts the units it
 * spends and restores before it could run out (Fail.Budget).
 */
export function historyBudget(n: { alarms: number; functions: number; steps: number }) {
  const common = 2 * 18 + 5 * 2; // Bake.After? … Gate.After, with DescribeAlarms and GetMetricData
  const slow = common + 16 + 16 * n.alarms; // + NormM, NormC, PerAlarm (≤ 5 states an alarm), Slow.*
  const aliasMap = 4 + n.functions * 7;
  // The API cache flushed after the stage's variables change: a Choice, the Task with its
  // retries failing, a Pass (envs without a cache have none of it; counted anyway).
  const flush = 2 + 5 + 3 * 3 + 2;
  const fixed = 2 + 2 + 2 + 5 + 2 + flush + n.steps * (aliasMap + 2 * 5) + 2 + 4 + 5 * 3 + 2 * 2;
  // The longest way out once a gate fails: naming the failures, the restore, the record.
  const reserve = 4 + n.functions * 33 + 8 + Math.max(n.alarms, n.functions) * 8 + 8 + aliasMap + 2 * 4 + 5 + flush + 30;
  const maxUnits = Math.floor((HISTORY_EVENT_LIMIT - fixed - 2 * reserve) / common);
  return { common, slow, fixed, reserve, maxUnits, slowUnits: Math.ceil(slow / common) };
}

/**
 * The units a release through `plan` spends when nothing goes wrong, with room for a few checks
 * through the per-alarm Map. A long INSUFFICIENT_DATA episode at a short poll can spend more: the
 * execution then restores (Fail.Budget) rather than outgrow its history.
 */
export function unitsNeeded(plan: Pick<ShiftPlan, 'steps' | 'bakeSeconds' | 'alarmPollSeconds'>, slowUnits: number): number {
  const poll = pollSecondsOf(plan);
  const checks = 1 + plan.steps.reduce((n, s) => n + (s >= 100 ? 0 : Math.ceil(plan.bakeSeconds / poll)) + 1, 0);
  return checks + slowUnits * 3;
}

/** Refuses a plan whose execution could outgrow its history (exit 2: the env's settings). */
export function checkHistoryBudget(plan: ShiftPlan): string | undefined {
  const b = historyBudget({ alarms: new Set(plan.alarmNames).size, functions: plan.functions.length, steps: plan.steps.length });
  const need = unitsNeeded(plan, b.slowUnits);
  if (need <= b.maxUnits) return undefined;
  return `${plan.steps.length} steps with ${plan.bakeSeconds} s bakes polled every ${pollSecondsOf(plan)} s need about ${need * b.common} history events; a Standard Step Functions execution keeps ${HISTORY_EVENT_LIMIT}: shorten the bakes, poll less often (release.alarmPollSeconds), or shift from the CLI (--on cli)`;
}

// ---- following an execution ----

interface StateData {
  stage?: { StageName?: string; cacheTtlSeconds?: number };
  flushError?: { Cause?: string };
  s?: { pos?: { phase?: string; percent?: number; where?: string }; clock?: { left?: number }; track?: { blindFor?: number[] } };
  r?: { norm?: { a?: { MetricAlarms?: { AlarmName?: string; StateValue?: string }[]; CompositeAlarms?: { AlarmName?: string; StateValue?: string }[] } }; metrics?: { results?: { Id?: string; Values?: number[] }[] } };
  fail?: { reason?: string; kind?: string; atStep?: number };
  p?: { missing?: string[]; firing?: string[]; expiredNames?: string[] };
}

const parse = (text: string | undefined): StateData => {
  try {
    return text ? (JSON.parse(text) as StateData) : {};
  } catch {
    return {};
  }
};

/** The gate's readings as the execution made them, for judgeGates to word as the CLI's shift does. */
export function readingsOf(input: ExecutionInput, data: StateData, bake: boolean): GateReadings {
  const states: Record<string, AlarmStateValue> = {};
  for (const a of [...(data.r?.norm?.a?.MetricAlarms ?? []), ...(data.r?.norm?.a?.CompositeAlarms ?? [])]) if (a.AlarmName && a.StateValue) states[a.AlarmName] = a.StateValue as AlarmStateValue;
  const sums = new Map((data.r?.metrics?.results ?? []).map((r) => [r.Id, (r.Values ?? []).reduce((n, v) => n + v, 0)]));
  const versions = bake && input.gate.errorRatePercent !== null
    ? input.gate.checked.map((c) => ({ functionName: c.functionName, version: c.version, failuresLabel: c.failuresLabel, failures: sums.get(c.fId) ?? 0, invocations: sums.get(c.nId) ?? 0 }))
    : [];
  return { alarms: { states, missing: input.gate.alarmNames.filter((n) => !(n in states)) }, versions };
}

function wordCheck(input: ExecutionInput, data: StateData): GateVerdict {
  const bake = data.s?.pos?.phase === 'bake';
  const blindSince = new Map<string, number>();
  (data.s?.track?.blindFor ?? []).forEach((secs, i) => secs >= 0 && blindSince.set(input.gate.alarmNames[i]!, -secs * 1000));
  const plan = { alarmNames: input.gate.alarmNames, errorRatePercent: input.gate.errorRatePercent ?? undefined, insufficientDataGraceSeconds: input.gate.graceSeconds };
  return judgeGates(plan, readingsOf(input, data, bake), blindSince, 0, data.s?.pos?.where ?? '');
}

export type ExecutionEnd = { status: ExecutionDescription['status']; error?: string; cause?: string };

/** Turns history events into the shift's progress events, in order; keeps what the end needs. */
export class ExecutionFollower {
  input?: ExecutionInput;
  steps: number[] = [];
  failure?: { reason: string; atStep: number; alarms: string[] };
  end?: ExecutionEnd;
  private preStart?: number;

  constructor(
    private readonly reporter: Reporter,
    /** Report only these while catching up with an execution that ran before we attached. */
    private quietUntil = 0,
  ) {}

  handle(e: HistoryEvent): void {
    const quiet = e.id <= this.quietUntil;
    const report: Reporter['report'] = (ev) => {
      if (!quiet || ev.level === 'step' || ev.level === 'warn') this.reporter.report(ev);
    };
    if (e.type === 'ExecutionStarted' && e.started?.input !== undefined) this.input = JSON.parse(e.started.input) as ExecutionInput;
    if (e.end && e.type.startsWith('Execution')) {
      const status = e.type === 'ExecutionSucceeded' ? 'SUCCEEDED' : e.type === 'ExecutionFailed' ? 'FAILED' : e.type === 'ExecutionAborted' ? 'ABORTED' : e.type === 'ExecutionTimedOut' ? 'TIMED_OUT' : undefined;
      if (status) this.end = { status, ...(e.end.error ? { error: e.end.error } : {}), ...(e.end.cause ? { cause: e.end.cause } : {}) };
      return;
    }
    if (!e.state || !e.type.endsWith('StateExited') || !this.input) return;
    const data = parse(e.state.output);
    const pos = data.s?.pos;
    switch (e.state.name) {
      case RS.stepMoved: {
        const step = pos?.percent ?? 0;
        this.steps.push(step);
        report({ level: 'step', topic: 'release', message: `${step}% of traffic on the new versions`, data: { step } });
        break;
      }
      case RS.verdictPass:
      case RS.verdictWait: {
        const v = wordCheck(this.input, data);
        const state = v.kind === 'fail' ? v.reason : v.summary;
        if (pos?.phase === 'pre') {
          this.preStart ??= e.timestamp.getTime();
          if (e.state.name === RS.verdictWait)
            report({ level: 'progress', topic: 'release', message: `before shifting · gates: ${state}`, data: { step: 0, waitedSeconds: Math.round((e.timestamp.getTime() - this.preStart) / 1000), gate: 'wait' } });
          break;
        }
        const step = pos?.percent ?? 0;
        const left = data.s?.clock?.left ?? 0;
        const bake = left > 0 ? `baking, ${left} s left` : 'bake done';
        report({ level: 'progress', topic: 'release', message: `${step}%: ${bake} · gates: ${state}`, data: { step, remainingSeconds: Math.max(0, left), gate: e.state.name === RS.verdictWait ? 'wait' : 'pass' } });
        break;
      }
      case RS.stageFlushed:
      case RS.restoreFlushed:
        report({ level: 'ok', topic: 'release', message: cacheFlushedMessage(data.stage?.StageName ?? ''), data: { cacheFlush: 'flushed' } });
        break;
      case RS.stageFlushFailed:
      case RS.restoreFlushFailed:
        report({ level: 'warn', topic: 'release', message: cacheFlushFailedMessage(data.stage?.StageName ?? '', data.stage?.cacheTtlSeconds ?? 0, data.flushError?.Cause ?? 'unknown error'), data: { cacheFlush: 'failed' } });
        break;
      case RS.restoreBegin: {
        const f = data.fail ?? {};
        const atStep = f.atStep ?? 0;
        const names = f.kind === 'missing' ? data.p?.missing : f.kind === 'firing' ? data.p?.firing : f.kind === 'expired' ? data.p?.expiredNames : [];
        this.failure = { reason: f.reason ?? 'a gate failed', atStep, alarms: (names ?? []).filter(Boolean) };
        report({ level: 'warn', topic: 'release', message: `${this.failure.reason}: ${atStep === 0 ? 'not shifting' : 'rolling back'}`, data: { step: atStep, alarms: this.failure.alarms } });
        break;
      }
    }
  }

  /** The end as the CLI's shift would have returned it; an end that is no gate's verdict throws. */
  outcome(executionArn: string): ShiftOutcome {
    const end = this.end;
    if (!end) throw new Error('outcome before the execution ended');
    if (end.status === 'SUCCEEDED') return { kind: 'promoted', steps: [...this.steps] };
    if (end.status === 'FAILED' && (end.error === RELEASE_ERRORS.rolledBack || end.error === RELEASE_ERRORS.notShifted)) {
      const reason = end.cause ?? this.failure?.reason ?? 'a gate failed';
      return { kind: 'rolled-back', reason, alarms: this.failure?.alarms ?? [], atStep: this.failure?.atStep ?? (end.error === RELEASE_ERRORS.notShifted ? 0 : -1) };
    }
    if (end.status === 'ABORTED') throw new DeployError(`release execution ${executionArn} was stopped${end.cause ? ` (${end.cause})` : ''}; see \`catalogctl status\``);
    throw new DeployError(`release execution ${executionArn} ${end.status === 'TIMED_OUT' ? 'timed out' : 'failed'}: ${end.error ?? ''}${end.cause ? `: ${end.cause}` : ''}`);
  }
}

export interface FollowOptions {
  reporter?: Reporter;
  /** Aborting detaches: the execution carries on in AWS. */
  signal?: AbortSignal;
  pollMs?: number;
  /** What to say when detaching: how to follow again and how to stop it. */
  detachHint?: string;
  /** Attaching to an execution already under way: its earlier checks are not repeated. */
  catchUp?: boolean;
}

/** Follows an execution to its end, reporting as the CLI's shift does. */
export async function followExecution(sfn: SfnApi, executionArn: string, opts: FollowOptions = {}): Promise<ExecutionFollower> {
  const reporter = opts.reporter ?? silentReporter;
  let lastId = 0;
  let follower: ExecutionFollower | undefined;
  for (;;) {
    if (opts.signal?.aborted) throw new InterruptedError(`detached from release execution ${executionArn}: it carries on in AWS${opts.detachHint ? `; ${opts.detachHint}` : ''}`);
    const fresh = await sfn.eventsAfter(executionArn, lastId);
    follower ??= new ExecutionFollower(reporter, opts.catchUp ? (fresh.at(-1)?.id ?? 0) : 0);
    for (const e of fresh) {
      follower.handle(e);
      lastId = e.id;
    }
    if (follower.end) return follower;
    await abortableSleep(opts.pollMs ?? 1000, opts.signal);
  }
}

/** Where a running execution is, for status: its last step, check or restore. */
export async function executionWhere(sfn: SfnApi, executionArn: string): Promise<string> {
  const events = await sfn.latestEvents(executionArn, 60);
  for (const e of events) {
    if (!e.state) continue;
    const data = parse(e.state.input ?? e.state.output);
    const pos = data.s?.pos;
    if (e.state.name.startsWith('Restore.') || e.state.name.startsWith('Fail.') || e.state.name.startsWith('Reason.')) return 'restoring the previous release';
    if (e.state.name.startsWith('Record.') || e.state.name === 'Unlock' || e.state.name.startsWith('Done.')) return 'recording the release';
    if (!pos) continue;
    if (pos.phase === 'pre') return 'checking the gates before shifting';
    const left = data.s?.clock?.left ?? 0;
    return `at ${pos.percent}% (${left > 0 ? `baking, ${left} s left` : 'bake done'})`;
  }
  return 'starting';
}
