/**
 * The alias shift engine: moves the `live` alias of each function from its previous version to the
 * new one through the env's traffic steps, baking after each step while polling the gates. Any gate
 * failing, or an abort (SIGINT/SIGTERM), restores every alias and the API stage to what served
 * before the shift. Clock and sleep are injectable so tests bake in milliseconds.
 *
 * The gates are two reads and one pure judgement, kept apart so the same loop can run elsewhere
 * (a state machine: Wait → DescribeAlarms + GetMetricData → Choice):
 * - readGates: the gating alarms' states (DescribeAlarms) and each new version's own failures and
 *   invocations (GetMetricData);
 * - judgeGates: pass, wait (a gating alarm not evaluated yet) or fail, with the reason.
 */
import type { AlarmStates, AlarmStateValue, MetricId } from '../aws/cloudwatch.ts';
import type { AwsApi } from '../aws/index.ts';
import { DeployError, InterruptedError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';

export const LIVE_ALIAS = 'live';

/** How long a gating alarm may stay INSUFFICIENT_DATA (not evaluated) before the gate fails. */
export const DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS = 180;

export interface FunctionShift {
  functionName: string;
  previousVersion: string;
  newVersion: string;
  /**
   * The metric that counts the new version's own failures, for the per-version check (default:
   * Lambda's Errors through the alias, lambdaMetric(…, 'Errors')). The authorizer's is its
   * AuthorizerFailures: Lambda counts every rejected token as an error.
   */
  failureMetric?: MetricId;
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
  /**
   * The stage's API cache (the env's api.cache), when it has one: whenever the shift or its restore
   * changes the stage's variables, the cache is flushed right after (flushAfterVariables).
   */
  apiCache?: { ttlSeconds: number };
  alarmNames: string[];
  /** Percent on the new version per step; strictly increasing, ends at 100. */
  steps: number[];
  bakeSeconds: number;
  alarmPollSeconds: number;
  /**
   * The new versions' own failure rate, in percent of their invocations, above which the shift
   * rolls back; no per-version check when absent.
   */
  errorRatePercent?: number;
  /** See DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS. */
  insufficientDataGraceSeconds?: number;
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

export type CacheFlush = { kind: 'none' } | { kind: 'flushed'; message: string } | { kind: 'failed'; message: string };

/** What a flush after a variables change reports (the CLI's shift, rollback, and the state machine's follower alike). */
export const cacheFlushedMessage = (stageName: string): string => `stage ${stageName}: API cache flushed (its variables changed)`;
export const cacheFlushFailedMessage = (stageName: string, ttlSeconds: number, cause: string): string =>
  `stage ${stageName}: could not flush the API cache after its variables changed (${cause}); responses cached before may be served for up to ${ttlSeconds} s`;

/**
 * Right after the stage's variables changed (`changed`: the keys), on a stage with an API cache:
 * FlushStageCache, so a response cached under the old flag values is not served until its TTL
 * runs out. Nothing when no variable changed or the stage has no cache. Never throws: a failed
 * flush is a warning wherever it happens, since the variables and the traffic are already where
 * they must be — throwing would leave a shift half-done or cut a restore short — and what it costs
 * is stale responses for at most the cache's TTL, as before there was a flush.
 */
export async function flushAfterVariables(aws: Pick<AwsApi, 'apigateway'>, plan: Pick<ShiftPlan, 'restApiId' | 'stageName' | 'apiCache'>, changed: string[]): Promise<CacheFlush> {
  if (!plan.apiCache || changed.length === 0) return { kind: 'none' };
  try {
    await aws.apigateway.flushStageCache(plan.restApiId, plan.stageName);
    return { kind: 'flushed', message: cacheFlushedMessage(plan.stageName) };
  } catch (err) {
    return { kind: 'failed', message: cacheFlushFailedMessage(plan.stageName, plan.apiCache.ttlSeconds, (err as Error).message) };
  }
}

/** A flush's outcome as an event: ok, or a warning. */
export function reportFlush(reporter: Reporter, flush: CacheFlush, topic = 'release'): void {
  if (flush.kind === 'none') return;
  reporter.report({ level: flush.kind === 'flushed' ? 'ok' : 'warn', topic, message: flush.message, data: { cacheFlush: flush.kind } });
}

/**
 * Every alias back on its previous version with no extra weights, and the stage on the previous
 * deployment with the previous variables (its cache flushed when they changed). The aliases go
 * first: they carry the traffic.
 */
export async function restore(
  aws: ShiftDeps['aws'],
  plan: Pick<ShiftPlan, 'functions' | 'restApiId' | 'stageName' | 'previousDeploymentId' | 'previousStageVariables' | 'apiCache'>,
  reporter: Reporter = silentReporter,
): Promise<void> {
  await Promise.all(plan.functions.map((f) => aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.previousVersion, {})));
  if (plan.previousDeploymentId) await aws.apigateway.setStageDeployment(plan.restApiId, plan.stageName, plan.previousDeploymentId);
  if (plan.previousStageVariables) reportFlush(reporter, await flushAfterVariables(aws, plan, await aws.apigateway.setStageVariables(plan.restApiId, plan.stageName, plan.previousStageVariables)));
}

/** What a function's alias serves once the shift has set `step` percent. */
export function expectedAlias(f: FunctionShift, step: number): { functionVersion: string; additionalWeights: Record<string, number> } {
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

/** Lambda's metric of one version reached through an alias (it publishes these by FunctionName + Resource + ExecutedVersion). */
export function lambdaMetric(functionName: string, version: string, metricName: 'Errors' | 'Invocations'): MetricId {
  return { namespace: 'AWS/Lambda', metricName, dimensions: { FunctionName: functionName, Resource: `${functionName}:${LIVE_ALIAS}`, ExecutedVersion: version } };
}

// ---- the gates: read, then judge ----

export interface VersionReading {
  functionName: string;
  version: string;
  /** What the failures are, for the reason: `errors` (Lambda's) or the metric's name (`AuthorizerFailures`). */
  failuresLabel: string;
  failures: number;
  invocations: number;
}

export interface GateReadings {
  alarms: AlarmStates;
  /** Only functions that get a new version, and only when the plan has an error rate. */
  versions: VersionReading[];
}

/**
 * The two reads of one gate check: every gating alarm's state and, when `window` is given, each new
 * version's failures and invocations over it (none before traffic moves).
 */
export async function readGates(aws: Pick<AwsApi, 'cloudwatch'>, plan: Pick<ShiftPlan, 'functions' | 'alarmNames' | 'errorRatePercent'>, window?: { since: Date; until: Date }): Promise<GateReadings> {
  const checked = plan.errorRatePercent === undefined || !window ? [] : plan.functions.filter((f) => f.newVersion !== f.previousVersion);
  const metrics = checked.flatMap((f) => [f.failureMetric ?? lambdaMetric(f.functionName, f.newVersion, 'Errors'), lambdaMetric(f.functionName, f.newVersion, 'Invocations')]);
  const [alarms, sums] = await Promise.all([aws.cloudwatch.alarmStates(plan.alarmNames), metrics.length ? aws.cloudwatch.metricSums(metrics, window!.since, window!.until) : Promise.resolve([])]);
  const versions = checked.map((f, i) => {
    const m = metrics[2 * i]!;
    const failuresLabel = m.namespace === 'AWS/Lambda' && m.metricName === 'Errors' ? 'errors' : m.metricName;
    return { functionName: f.functionName, version: f.newVersion, failuresLabel, failures: sums[2 * i]!, invocations: sums[2 * i + 1]! };
  });
  return { alarms, versions };
}

export type GateVerdict =
  | { kind: 'pass'; summary: string }
  /** A gating alarm not evaluated yet (INSUFFICIENT_DATA) within the grace: no verdict, no promotion. */
  | { kind: 'wait'; summary: string; blind: string[] }
  | { kind: 'fail'; reason: string; alarms: string[] };

/**
 * Pure: the verdict on one reading. `blindSince` holds, per alarm, when (in the shift's clock) it
 * was first seen INSUFFICIENT_DATA; the caller keeps it across polls. `where` names the moment for
 * the reason ("at 10%", "before any traffic moved").
 */
export function judgeGates(plan: Pick<ShiftPlan, 'alarmNames' | 'errorRatePercent' | 'insufficientDataGraceSeconds'>, r: GateReadings, blindSince: Map<string, number>, nowMs: number, where: string): GateVerdict {
  if (plan.alarmNames.length === 0) return { kind: 'fail', reason: `no gating alarms (the AlarmNames output of catalog-observability is empty) ${where}`, alarms: [] };
  if (r.alarms.missing.length) {
    const s = r.alarms.missing.length > 1 ? 's' : '';
    return { kind: 'fail', reason: `gating alarm${s} ${r.alarms.missing.join(', ')} ${s ? 'do' : 'does'} not exist (AlarmNames of catalog-observability) ${where}`, alarms: r.alarms.missing };
  }
  const inState = (s: AlarmStateValue) => plan.alarmNames.filter((n) => r.alarms.states[n] === s);
  const firing = inState('ALARM');
  if (firing.length) return { kind: 'fail', reason: `alarm ${firing.join(', ')} in ALARM ${where}`, alarms: firing };
  if (plan.errorRatePercent !== undefined) {
    const limit = plan.errorRatePercent;
    const bad = r.versions.filter((v) => v.failures > 0 && v.failures * 100 > limit * Math.max(v.invocations, v.failures));
    if (bad.length) return { kind: 'fail', reason: `new version errors above ${limit}% ${where}: ${bad.map((v) => `${v.functionName} v${v.version} ${v.failures} ${v.failuresLabel} in ${v.invocations} invocations`).join('; ')}`, alarms: [] };
  }
  const blind = inState('INSUFFICIENT_DATA');
  for (const n of [...blindSince.keys()]) if (!blind.includes(n)) blindSince.delete(n);
  for (const n of blind) if (!blindSince.has(n)) blindSince.set(n, nowMs);
  const graceMs = (plan.insufficientDataGraceSeconds ?? DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS) * 1000;
  const expired = blind.filter((n) => nowMs - blindSince.get(n)! >= graceMs);
  if (expired.length) return { kind: 'fail', reason: `alarm ${expired.join(', ')} INSUFFICIENT_DATA for ${Math.round(graceMs / 1000)} s ${where}: the gate cannot be evaluated`, alarms: expired };
  const failures = r.versions.reduce((n, v) => n + v.failures, 0);
  const invocations = r.versions.reduce((n, v) => n + v.invocations, 0);
  const versions = plan.errorRatePercent === undefined || r.versions.length === 0 ? '' : `; new versions: ${failures} failures in ${invocations} invocations`;
  if (blind.length) {
    const waited = blind.map((n) => `${n} ${Math.round((nowMs - blindSince.get(n)!) / 1000)}/${Math.round(graceMs / 1000)} s`);
    return { kind: 'wait', summary: `waiting for INSUFFICIENT_DATA alarm ${waited.join(', ')}${versions}`, blind };
  }
  return { kind: 'pass', summary: `${plan.alarmNames.length} alarm${plan.alarmNames.length > 1 ? 's' : ''} OK${versions}` };
}

// ---- the shift ----

export async function shiftTraffic(plan: ShiftPlan, deps: ShiftDeps): Promise<ShiftOutcome> {
  const { aws, signal } = deps;
  const reporter = deps.reporter ?? silentReporter;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? abortableSleep;
  const pollMs = Math.max(0, Math.min(plan.alarmPollSeconds, 15)) * 1000 || 1000;
  const blindSince = new Map<string, number>();

  const interrupted = async (step: number): Promise<never> => {
    reporter.report({ level: 'warn', topic: 'release', message: `interrupted at ${step}%: restoring the previous versions`, data: { step } });
    await restore(aws, plan, reporter);
    throw new InterruptedError(`release interrupted at ${step}%; aliases and stage restored to the previous release`);
  };
  const rollBack = async (step: number, reason: string, alarms: string[], note: string): Promise<ShiftOutcome> => {
    reporter.report({ level: 'warn', topic: 'release', message: `${reason}: ${note}`, data: { step, alarms } });
    await restore(aws, plan, reporter); // a resumed shift still has weights on the aliases even at step 0
    return { kind: 'rolled-back', reason, alarms, atStep: step };
  };
  // Metric windows are wall-clock time (CloudWatch's), whatever clock paces the bake.
  const shiftStart = new Date(Date.now() - 60_000);
  const judge = async (where: string, versions: boolean): Promise<GateVerdict> =>
    judgeGates(plan, await readGates(aws, plan, versions ? { since: shiftStart, until: new Date(Date.now() + 60_000) } : undefined), blindSince, now(), where);
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
  const progress = (step: number, verdict: GateVerdict, leftMs: number): void => {
    const state = verdict.kind === 'fail' ? verdict.reason : verdict.summary;
    const bake = leftMs > 0 ? `baking, ${Math.ceil(leftMs / 1000)} s left` : 'bake done';
    reporter.report({ level: 'progress', topic: 'release', message: `${step}%: ${bake} · gates: ${state}`, data: { step, remainingSeconds: Math.max(0, Math.ceil(leftMs / 1000)), gate: verdict.kind } });
  };

  if (signal?.aborted) await interrupted(0);
  // Before any traffic or the stage moves: every gating alarm must exist and have been evaluated
  // OK; one not evaluated yet (e.g. just created by this release's deploy) is waited for.
  const waitStart = now();
  for (;;) {
    const v = await judge('before any traffic moved', false);
    if (v.kind === 'fail') return rollBack(0, v.reason, v.alarms, 'not shifting');
    if (v.kind === 'pass') break;
    reporter.report({ level: 'progress', topic: 'release', message: `before shifting · gates: ${v.summary}`, data: { step: 0, waitedSeconds: Math.round((now() - waitStart) / 1000), gate: v.kind } });
    await sleep(pollMs, signal);
    if (signal?.aborted) await interrupted(0);
  }
  if (plan.newDeploymentId !== plan.previousDeploymentId) await aws.apigateway.setStageDeployment(plan.restApiId, plan.stageName, plan.newDeploymentId);
  if (plan.newStageVariables) reportFlush(reporter, await flushAfterVariables(aws, plan, await aws.apigateway.setStageVariables(plan.restApiId, plan.stageName, plan.newStageVariables)));
  for (const step of plan.steps) {
    if (signal?.aborted) await interrupted(step);
    if (deps.gate) {
      const g = await deps.gate(step);
      if (!g.ok) return rollBack(step, `gate failed before ${step}%: ${g.reason}`, [], 'rolling back');
    }
    await Promise.all(
      plan.functions.map((f) =>
        step >= 100 || f.previousVersion === f.newVersion
          ? aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.newVersion, {})
          : aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, f.previousVersion, { [f.newVersion]: step / 100 }),
      ),
    );
    reporter.report({ level: 'step', topic: 'release', message: `${step}% of traffic on the new versions`, data: { step } });
    // Right after the step, every poll of the bake, and past its end while a gate has no verdict:
    // a step is followed by the next only once the gates pass.
    const until = now() + (step >= 100 ? 0 : plan.bakeSeconds * 1000);
    for (;;) {
      await assertUntouched(step);
      const v = await judge(`at ${step}%`, true);
      if (v.kind === 'fail') return rollBack(step, v.reason, v.alarms, 'rolling back');
      const left = until - now();
      progress(step, v, left);
      if (left <= 0 && v.kind === 'pass') break;
      await sleep(left > 0 ? Math.min(pollMs, left) : pollMs, signal);
      if (signal?.aborted) await interrupted(step);
    }
  }
  return { kind: 'promoted', steps: [...plan.steps] };
}
