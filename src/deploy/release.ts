/**
 * release / rollback / status. A release packages and uploads the code, deploys the stacks with it
 * (./stacks.ts), runs the migrations, then shifts traffic; targets come from the catalog-service and
 * catalog-observability stack Outputs, every release writes a manifest to S3 so rollback and status
 * work from any machine, and only the shift engine moves traffic: ./shift.ts in this process, or
 * the env's release state machine in AWS Step Functions (`on: 'aws'`, ./server-shift.ts), which
 * this process then follows and which rollback stops.
 */
import { randomBytes } from 'node:crypto';
import type { StackSummary } from '../aws/cloudformation.ts';
import type { MetricId } from '../aws/cloudwatch.ts';
import type { AwsApi } from '../aws/index.ts';
import type { FunctionSnapshot } from '../aws/lambda.ts';
import { createSfnApi, executionArnFor, type SfnApi } from '../aws/sfn.ts';
import { API_FUNCTIONS, STACK_NAMES, stackName, type EnvConfig } from '../config/types.ts';
import { DeployError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { pascal } from '../templates/cfn.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { CodeKeys } from './params.ts';
import { assertOwnStacks, deployStacks, recordLiveState, type StackDeps, type StackTemplates } from './stacks.ts';
import { AUTHORIZER_METRICS } from '../handlers/authorizer/metrics.ts';
import { checkHistoryBudget, executionInput, executionWhere, followExecution } from './server-shift.ts';
import { abortableSleep, checkShiftLock, DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS, flushAfterVariables, LIVE_ALIAS, readAliases, reportFlush, shiftTraffic, type FunctionShift, type ShiftDeps, type ShiftOutcome, type ShiftPlan } from './shift.ts';

export interface ReleaseTargets {
  /** Function name in AWS, by FunctionName<Pascal> output key. */
  functions: string[];
  restApiId: string;
  stageName: string;
  alarmNames: string[];
  /** The release state machine (`release --on aws`), when catalog-service has one. */
  releaseStateMachineArn?: string;
}

export interface ReleaseManifest {
  releaseId: string;
  env: string;
  outcome: 'in-progress' | 'promoted' | 'rolled-back' | 'interrupted';
  reason?: string;
  startedAt: string;
  finishedAt?: string;
  functions: { functionName: string; versionBefore: string; versionAfter: string }[];
  restApiId: string;
  stageName: string;
  deploymentBefore: string;
  deploymentAfter: string;
  artifactKeys: Record<string, string>;
  /** The stage variables the release applied, and those the stage had before it. */
  stageVariables: Record<string, string>;
  stageVariablesBefore: Record<string, string>;
  /** Set when `catalogctl rollback` later put back what served before this release. */
  rolledBackAt?: string;
  /** The Step Functions execution that runs the shift (`release --on aws`). */
  execution?: string;
}

export async function resolveTargets(aws: Pick<AwsApi, 'cloudformation'>, config: EnvConfig): Promise<ReleaseTargets> {
  return targetsFrom(config, await aws.cloudformation.describeStack(stackName(config, 'catalog-service')), await aws.cloudformation.describeStack(stackName(config, 'catalog-observability')));
}

/** The targets from the two stacks' Outputs (undefined: the stack does not exist). */
function targetsFrom(config: EnvConfig, svc: StackSummary | undefined, obs: StackSummary | undefined): ReleaseTargets {
  if (!svc) throw new DeployError(`--env ${config.name}: stack ${stackName(config, 'catalog-service')} does not exist; deploy it first`);
  if (!obs) throw new DeployError(`--env ${config.name}: stack ${stackName(config, 'catalog-observability')} does not exist; deploy it first`);
  const need = (stack: StackSummary, key: string) => {
    const v = stack.outputs[key];
    if (v === undefined) throw new DeployError(`stack ${stack.name} (${stack.status}) has no ${key} output`);
    return v;
  };
  return {
    functions: API_FUNCTIONS.map((fn) => need(svc, `FunctionName${pascal(fn)}`)),
    restApiId: need(svc, 'RestApiId'),
    stageName: need(svc, 'StageName'),
    alarmNames: need(obs, 'AlarmNames')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ...(svc.outputs.ReleaseStateMachineArn ? { releaseStateMachineArn: svc.outputs.ReleaseStateMachineArn } : {}),
  };
}

/** The Step Functions interface of `aws` (created once, on first use: only server-side releases need it). */
const sfnClients = new WeakMap<object, Promise<SfnApi>>();
export function sfnOf(aws: Pick<AwsApi, 'target'> & { sfn?: SfnApi }): Promise<SfnApi> {
  if (aws.sfn) return Promise.resolve(aws.sfn);
  let c = sfnClients.get(aws);
  if (!c) sfnClients.set(aws, (c = createSfnApi(aws.target)));
  return c;
}

/** A key under the env's artifact prefix. */
const artifactKey = (config: EnvConfig, rest: string) => `${config.artifacts.prefix.replace(/\/+$/, '')}/${rest}`;
const releasesPrefix = (config: EnvConfig) => artifactKey(config, 'releases/');

export async function writeManifest(aws: Pick<AwsApi, 's3'>, config: EnvConfig, m: ReleaseManifest): Promise<void> {
  const body = canonicalJson(m);
  await aws.s3.putObject(config.artifacts.bucket, `${releasesPrefix(config)}${m.releaseId}.json`, body, { contentType: 'application/json' });
  await aws.s3.putObject(config.artifacts.bucket, `${releasesPrefix(config)}latest.json`, body, { contentType: 'application/json' });
}

export async function readManifest(aws: Pick<AwsApi, 's3'>, config: EnvConfig, id = 'latest'): Promise<ReleaseManifest | undefined> {
  if (!/^[A-Za-z0-9-]+$/.test(id)) throw new UserInputError(`--to: "${id}" is not a release id`);
  const bytes = await aws.s3.getObject(config.artifacts.bucket, `${releasesPrefix(config)}${id}.json`);
  return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as ReleaseManifest) : undefined;
}

export async function listReleases(aws: Pick<AwsApi, 's3'>, config: EnvConfig): Promise<string[]> {
  const keys = await aws.s3.listKeys(config.artifacts.bucket, releasesPrefix(config));
  return keys
    .map((k) => k.slice(releasesPrefix(config).length).replace(/\.json$/, ''))
    .filter((id) => id !== 'latest')
    .sort();
}

export function newReleaseId(now: Date): string {
  return `r${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
}

export interface ReleaseOptions extends Omit<ShiftDeps, 'aws'> {
  bakeSeconds?: number;
  resume?: boolean;
  artifactKeys?: Record<string, string>;
  /** Called with the plan when the env requires approval; false stops before any traffic moves. */
  approve?: (plan: ShiftPlan) => Promise<boolean>;
  /**
   * Packages and uploads the code and returns its keys (the CLI wires src/package). When given,
   * release deploys the stacks with that code and runs the migrations before publishing versions;
   * without it, release shifts to new versions of what the stacks already run.
   */
  artifacts?: () => Promise<{ codeKeys: CodeKeys; artifactKeys: Record<string, string> }>;
  /** Templates to deploy (default: rendered from the env file). */
  templates?: StackTemplates;
  /** Between polls of a stack operation (default 5 s). */
  stackPollMs?: number;
  /** Skip invoking `migrate` (migrations run another way, e.g. `catalogctl db migrate`). */
  skipMigrations?: boolean;
  /** Who holds the release lock, as status shows it (default "catalogctl"). */
  lockHolder?: string;
  /** Break a release lock left by a run that is no longer running. */
  forceUnlock?: boolean;
  /**
   * Where the traffic shift runs: this process (`cli`, the default unless the env file's
   * release.shift says otherwise) or the env's release state machine (`aws`), which the release
   * then follows; aborting the signal detaches from it without stopping it.
   */
  on?: 'cli' | 'aws';
  /** Between polls of the execution's history (default 1 s). */
  followPollMs?: number;
  /** Said when detaching from an execution: how to follow it again and how to stop it. */
  detachHint?: string;
}

/**
 * Runs the schema migrations by invoking the `migrate` function (inside the VPC, on the code just
 * deployed, before any traffic moves). They must be backward compatible: the previous version keeps
 * serving during the shift, and after a rollback.
 */
export async function runMigrations(aws: Pick<AwsApi, 'lambda' | 'cloudformation'>, reporter: Reporter, config: EnvConfig): Promise<{ applied: number[]; current: number }> {
  const svc = await aws.cloudformation.describeStack(stackName(config, 'catalog-service'));
  const name = svc?.outputs.FunctionNameMigrate;
  if (!name) throw new DeployError(`release: stack ${stackName(config, 'catalog-service')} has no FunctionNameMigrate output; cannot run migrations`);
  reporter.report({ level: 'step', topic: 'release', message: `running migrations (${name})`, data: { functionName: name } });
  const out = await aws.lambda.invoke(name, {});
  if (out.functionError || out.statusCode !== 200) throw new DeployError(`release: migrations failed (${name}, ${out.functionError ?? `status ${out.statusCode}`}): ${out.payload.slice(0, 500)}; nothing was shifted`);
  let result: { applied: number[]; current: number };
  try {
    result = JSON.parse(out.payload) as { applied: number[]; current: number };
  } catch {
    throw new DeployError(`release: migrations returned something unexpected: ${out.payload.slice(0, 200)}`);
  }
  reporter.report({ level: 'ok', topic: 'release', message: result.applied.length ? `migrations applied: ${result.applied.join(', ')} (now at ${result.current})` : `schema up to date (${result.current})`, data: { ...result } });
  return result;
}

/** Package → deploy → migrate, the part of a release before versions are published. */
async function deployRelease(config: EnvConfig, aws: AwsApi, opts: ReleaseOptions, reporter: Reporter): Promise<Record<string, string>> {
  reporter.report({ level: 'step', topic: 'release', message: 'packaging and uploading the code' });
  const { codeKeys, artifactKeys } = await opts.artifacts!();
  reporter.report({ level: 'step', topic: 'release', message: 'deploying the stacks' });
  const result = await deployStacks({ config, templates: opts.templates, codeKeys }, { aws, reporter, signal: opts.signal, now: opts.now, sleep: opts.sleep, pollMs: opts.stackPollMs });
  const f = result.failed;
  if (f) {
    const events = f.kind === 'failed' ? f.failures.map((e) => `; ${e.logicalId} ${e.status}: ${e.reason ?? ''}`).join('') : '';
    throw new DeployError(`release: ${f.stack} ${f.kind === 'blocked' ? `cannot be deployed (${f.status})` : `failed (${f.status})`}: ${f.advice}${events}; nothing was shifted`);
  }
  if (opts.skipMigrations) reporter.report({ level: 'warn', topic: 'release', message: 'migrations skipped (--skip-migrations)' });
  else await runMigrations(aws, reporter, config);
  return artifactKeys;
}

export type ReleaseResult =
  | {
      kind: 'released';
      releaseId: string;
      outcome: ShiftOutcome;
      manifest: ReleaseManifest;
      /** Whether catalog-service's Live* parameters were brought to what serves afterwards. */
      recorded: RecordResult;
      /** The execution that ran the shift (`--on aws`). */
      execution?: string;
    }
  /** What serves already equals what would be released (see compareWithLive): nothing recorded, nothing moved. */
  | { kind: 'nothing-to-release'; unchanged: string[] };

export type RecordResult = Awaited<ReturnType<typeof recordLiveState>> | { kind: 'failed'; reason: string };

/**
 * After traffic moved: catalog-service's Live* parameters set to what serves now (see
 * recordLiveState). Traffic has already moved, so a failure here is a warning, not an error.
 */
async function recordLive(config: EnvConfig, deps: StackDeps, reporter: Reporter): Promise<RecordResult> {
  let r: RecordResult;
  try {
    r = await recordLiveState(config, { ...deps, reporter });
  } catch (err) {
    r = { kind: 'failed', reason: (err as Error).message };
  }
  if (r.kind === 'skipped' || r.kind === 'failed')
    reporter.report({ level: 'warn', topic: 'release', message: `could not record the live versions in catalog-service (${r.reason}); traffic is as reported, and diff shows the Live* parameters until the next deploy records them`, data: { ...r } });
  return r;
}

const lockKey = (config: EnvConfig) => artifactKey(config, 'release.lock');

export interface ReleaseLock {
  holder: string;
  acquiredAt: string;
  token: string;
  /** The Step Functions execution that holds the lock now: it removes the lock when it ends. */
  execution?: string;
}

/** The release lock as acquired: removing it, or handing it to the execution that runs the shift. */
export interface LockHandle {
  (): Promise<void>;
  /** The lock names `execution` from now on, and removing it is the execution's task. */
  handOver(execution: string): Promise<void>;
  /** The execution did not start after all: the lock is this process's again. */
  takeBack(): Promise<void>;
}

const parseLock = (bytes: Uint8Array | undefined): ReleaseLock | undefined => {
  if (!bytes) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as ReleaseLock;
  } catch {
    return undefined;
  }
};

/** The release lock of the env, when one is held. */
export async function readReleaseLock(aws: Pick<AwsApi, 's3'>, config: EnvConfig): Promise<ReleaseLock | undefined> {
  return parseLock(await aws.s3.getObject(config.artifacts.bucket, lockKey(config)));
}

/**
 * One release per env at a time, whatever machine runs it: `<prefix>/release.lock` in the artifact
 * bucket, created with a conditional write so two releases can never both hold it. Returns the
 * release function, which removes the lock only if it is still this one. A lock left by a run that
 * died (killed, machine lost) is broken with `force`.
 */
export async function acquireReleaseLock(aws: Pick<AwsApi, 's3' | 'target'> & { sfn?: SfnApi }, config: EnvConfig, opts: { holder?: string; force?: boolean; reporter?: Reporter } = {}): Promise<LockHandle> {
  const { bucket } = config.artifacts;
  const key = lockKey(config);
  const lock: ReleaseLock = { holder: opts.holder ?? 'catalogctl', acquiredAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const create = async () => {
    try {
      return await aws.s3.createObject(bucket, key, canonicalJson(lock), { contentType: 'application/json' });
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchBucket') throw new DeployError(`release: artifact bucket ${bucket} (artifacts.bucket of env ${config.name}) does not exist; create it first`);
      throw err;
    }
  };
  if (!(await create())) {
    const held = await readReleaseLock(aws, config);
    const who = held ? `${held.holder}, since ${held.acquiredAt}${held.execution ? `, execution ${held.execution}` : ''}` : 'holder unknown';
    // A lock naming an execution can be checked: only a running one still holds it.
    const run = held?.execution ? await (await sfnOf(aws)).describeExecution(held.execution) : undefined;
    if (run?.status === 'RUNNING' && !opts.force)
      throw new UserInputError(`release: release ${run.name} of ${config.name} is running in AWS (execution ${held!.execution}); follow it with \`catalogctl release --env ${config.name} --follow\` or stop it with \`catalogctl rollback --env ${config.name}\``);
    const stale = held?.execution !== undefined && run?.status !== 'RUNNING';
    if (!opts.force && !stale) throw new UserInputError(`release: another release of ${config.name} holds the lock (${who}); wait for it to finish, or, if it is no longer running, rerun with --force-unlock`);
    opts.reporter?.report({ level: 'warn', topic: 'release', message: stale ? `removing the release lock left by execution ${held!.execution} (${run?.status ?? 'no longer known'})` : `--force-unlock: removing the release lock held by ${who}` });
    await aws.s3.deleteObject(bucket, key);
    if (!(await create())) throw new UserInputError(`release: another release of ${config.name} took the lock as it was removed; check \`catalogctl status\``);
  }
  let handedOver = false;
  const handle = (async () => {
    if (!handedOver && (await readReleaseLock(aws, config))?.token === lock.token) await aws.s3.deleteObject(bucket, key);
  }) as LockHandle;
  handle.handOver = async (execution) => {
    await aws.s3.putObject(bucket, key, canonicalJson({ ...lock, execution }), { contentType: 'application/json' });
    handedOver = true;
  };
  handle.takeBack = async () => {
    handedOver = false;
    await aws.s3.putObject(bucket, key, canonicalJson(lock), { contentType: 'application/json' });
  };
  return handle;
}

/**
 * Package → deploy → migrate → publish → approval → shift → record, under the env's release lock
 * (see acquireReleaseLock), released however the release ends.
 */
export async function release(config: EnvConfig, aws: AwsApi, opts: ReleaseOptions = {}): Promise<ReleaseResult> {
  const reporter = opts.reporter ?? silentReporter;
  if ((opts.on ?? config.release.shift) === 'aws' && opts.gate) throw new UserInputError('release --verify gates each step from this process: it cannot gate a shift run in AWS (use --on cli)');
  await assertOwnStacks(config, aws.cloudformation);
  const unlock = await acquireReleaseLock(aws, config, { holder: opts.lockHolder, force: opts.forceUnlock, reporter });
  try {
    return await releaseLocked(config, aws, opts, reporter, unlock);
  } finally {
    await unlock().catch((err: unknown) =>
      reporter.report({ level: 'warn', topic: 'release', message: `could not remove the release lock s3://${config.artifacts.bucket}/${lockKey(config)}: ${(err as Error).message}; the next release needs --force-unlock` }),
    );
  }
}

async function releaseLocked(config: EnvConfig, aws: AwsApi, opts: ReleaseOptions, reporter: Reporter, lock: LockHandle): Promise<ReleaseResult> {
  let artifactKeys = opts.artifactKeys ?? {};
  if (opts.artifacts && !opts.resume) {
    // The lock first: nothing is packaged or deployed while another shift is in progress.
    const before = await resolveTargets(aws, config).catch((err: unknown) => {
      if (err instanceof DeployError) return undefined; // first release: the stacks come with the deploy
      throw err;
    });
    if (before) await checkShiftLock(aws, before.functions, false);
    artifactKeys = await deployRelease(config, aws, opts, reporter);
  }
  const t = await resolveTargets(aws, config);
  const resumed = await checkShiftLock(aws, t.functions, opts.resume ?? false);
  const { aliases } = await readAliases(aws, t.functions);
  const stage = await aws.apigateway.getStage(t.restApiId, t.stageName);
  const releaseId = newReleaseId(new Date());
  let functions: FunctionShift[];
  let newDeploymentId: string;
  // On resume the stage already serves the interrupted shift's deployment; its predecessor is in that release's manifest.
  const last = resumed ? await readManifest(aws, config) : undefined;
  if (resumed) {
    functions = aliases.map((a) => ({ functionName: a.functionName, previousVersion: resumed.get(a.functionName)?.previous ?? a.functionVersion, newVersion: resumed.get(a.functionName)?.next ?? a.functionVersion }));
    newDeploymentId = last ? last.deploymentAfter : stage.deploymentId;
  } else {
    const live = await compareWithLive(aws, config, t, aliases, stage);
    if (live.functions.every((f) => f.same) && live.api.same && live.stageVariablesSame) {
      const unchanged = [...live.functions.map((f) => `${f.functionName} v${f.liveVersion}`), `stage ${t.stageName} deployment ${stage.deploymentId} and variables`];
      reporter.report({ level: 'ok', topic: 'release', message: `nothing to release: code, configuration, API and stage variables equal what serves (${unchanged.join(', ')})`, data: { unchanged } });
      return { kind: 'nothing-to-release', unchanged };
    }
    functions = [];
    for (const f of live.functions) {
      // Published from exactly the revision compared; Lambda returns the existing version when nothing changed since the last one.
      const v = f.same ? f.liveVersion : await aws.lambda.publishVersion(f.functionName, f.latest.revisionId);
      functions.push({ functionName: f.functionName, previousVersion: f.liveVersion, newVersion: v });
    }
    newDeploymentId = live.api.same ? stage.deploymentId : await aws.apigateway.createDeployment(t.restApiId, `catalogctl release ${releaseId} ${API_FINGERPRINT_TAG}${live.api.fingerprint}`);
  }
  const authorizer = t.functions[API_FUNCTIONS.indexOf('authorizer')];
  for (const f of functions) if (f.functionName === authorizer) f.failureMetric = authorizerFailureMetric(f.functionName, f.newVersion);
  const previousDeploymentId = last?.deploymentBefore ?? stage.deploymentId;
  const previousStageVariables = last?.stageVariablesBefore ?? stage.variables;
  const plan: ShiftPlan = {
    functions,
    restApiId: t.restApiId,
    stageName: t.stageName,
    previousDeploymentId,
    newDeploymentId,
    previousStageVariables,
    newStageVariables: { ...config.api.stageVariables },
    alarmNames: t.alarmNames,
    steps: config.release.trafficSteps,
    bakeSeconds: opts.bakeSeconds ?? config.release.bakeSeconds,
    alarmPollSeconds: config.release.alarmPollSeconds,
    errorRatePercent: config.alarms.api5xxRatePercent,
    insufficientDataGraceSeconds: DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS,
    ...apiCacheOf(config),
  };
  const onAws = (opts.on ?? config.release.shift ?? 'cli') === 'aws';
  if (onAws) {
    if (!t.releaseStateMachineArn) throw new DeployError(`release --on aws: stack ${stackName(config, 'catalog-service')} has no ReleaseStateMachineArn output; deploy catalog-service with the release state machine first`);
    const problem = checkHistoryBudget(plan);
    if (problem) throw new UserInputError(`release --on aws: ${problem}`);
  }
  if (config.release.requireApproval) {
    if (!opts.approve || !(await opts.approve(plan))) throw new UserInputError(`release: not approved; nothing was shifted (release ${releaseId})`);
  }
  const manifest: ReleaseManifest = {
    releaseId,
    env: config.name,
    outcome: 'in-progress',
    startedAt: new Date().toISOString(),
    functions: functions.map((f) => ({ functionName: f.functionName, versionBefore: f.previousVersion, versionAfter: f.newVersion })),
    restApiId: t.restApiId,
    stageName: t.stageName,
    deploymentBefore: previousDeploymentId,
    deploymentAfter: newDeploymentId,
    artifactKeys,
    // Applied by the shift with the stage's deployment (after approval: they take effect at once).
    stageVariables: { ...config.api.stageVariables },
    stageVariablesBefore: previousStageVariables,
  };
  const execution = onAws ? executionArnFor(t.releaseStateMachineArn!, releaseId) : undefined;
  if (execution) manifest.execution = execution;
  await writeManifest(aws, config, manifest);
  const moving = functions.filter((f) => f.newVersion !== f.previousVersion).length;
  const what = moving === functions.length ? `${moving} functions` : `${moving} of ${functions.length} functions (the others unchanged)`;
  reporter.report({ level: 'step', topic: 'release', message: `release ${releaseId}: shifting ${what} through ${plan.steps.join('/')}%`, data: { releaseId } });
  if (onAws) return serverShift(config, aws, opts, reporter, { plan, manifest, stage, machine: t.releaseStateMachineArn!, execution: execution!, lock });
  let outcome: ShiftOutcome;
  try {
    outcome = await shiftTraffic(plan, { ...opts, aws });
  } catch (err) {
    await writeManifest(aws, config, { ...manifest, outcome: 'interrupted', reason: (err as Error).message, finishedAt: new Date().toISOString() });
    throw err;
  }
  const final: ReleaseManifest = {
    ...manifest,
    outcome: outcome.kind,
    ...(outcome.kind === 'rolled-back' ? { reason: outcome.reason } : {}),
    finishedAt: new Date().toISOString(),
  };
  await writeManifest(aws, config, final);
  const recorded = await recordLive(config, { aws, now: opts.now, sleep: opts.sleep, pollMs: opts.stackPollMs }, reporter);
  return { kind: 'released', releaseId, outcome, manifest: final, recorded };
}

interface ServerShift {
  plan: ShiftPlan;
  manifest: ReleaseManifest;
  /** What the stage serves as the plan is made. */
  stage: { deploymentId: string; variables: Record<string, string> };
  machine: string;
  execution: string;
  lock: LockHandle;
}

/** How to follow an execution again and how to stop it, said when detaching. */
export const detachHint = (env: string) => `follow it with \`catalogctl release --env ${env} --follow\`; stop it and restore the previous release with \`catalogctl rollback --env ${env}\``;

/**
 * The shift run by the env's release state machine: the lock handed to the execution (it names the
 * execution and the execution removes it), the execution started with the plan, then followed to
 * its end. Aborting the signal detaches: the execution carries on (exit 130 says how to follow it).
 */
async function serverShift(config: EnvConfig, aws: AwsApi, opts: ReleaseOptions, reporter: Reporter, s: ServerShift): Promise<ReleaseResult> {
  const sfn = await sfnOf(aws);
  const revisions = await Promise.all(s.plan.functions.map((f) => aws.lambda.aliasRevisionId(f.functionName, LIVE_ALIAS)));
  const input = executionInput(s.plan, { releaseId: s.manifest.releaseId, env: config.name, manifest: s.manifest, stageNow: s.stage, revisions, startedAt: new Date() });
  // The lock names the execution before it exists, so it can never outlive a lock it removed.
  await s.lock.handOver(s.execution);
  try {
    await sfn.startExecution(s.machine, s.manifest.releaseId, JSON.stringify(input));
  } catch (err) {
    await s.lock.takeBack();
    await writeManifest(aws, config, { ...s.manifest, outcome: 'interrupted', reason: `the release state machine did not start: ${(err as Error).message}`, finishedAt: new Date().toISOString() });
    throw new DeployError(`release ${s.manifest.releaseId}: StartExecution on ${s.machine}: ${(err as Error).message}; nothing was shifted`);
  }
  reporter.report({ level: 'step', topic: 'release', message: `the shift runs in AWS Step Functions: execution ${s.execution}`, data: { execution: s.execution } });
  return awaitExecution(config, aws, sfn, s.execution, s.manifest, opts, reporter, false);
}

/** Follows an execution to its end, then records what serves as a CLI release does. */
async function awaitExecution(config: EnvConfig, aws: AwsApi, sfn: SfnApi, execution: string, manifest: ReleaseManifest, opts: ReleaseOptions, reporter: Reporter, catchUp: boolean): Promise<ReleaseResult> {
  const follower = await followExecution(sfn, execution, { reporter, signal: opts.signal, pollMs: opts.followPollMs, detachHint: opts.detachHint ?? detachHint(config.name), catchUp });
  const outcome = follower.outcome(execution);
  // The execution wrote the record; read back, or (when it could not) what it would say.
  const written = await readManifest(aws, config, manifest.releaseId);
  const final: ReleaseManifest =
    written && written.outcome !== 'in-progress'
      ? written
      : { ...manifest, outcome: outcome.kind, ...(outcome.kind === 'rolled-back' ? { reason: outcome.reason } : {}), finishedAt: new Date().toISOString() };
  if (written?.outcome === 'in-progress') {
    reporter.report({ level: 'warn', topic: 'release', message: 'the execution could not write its release record; writing it from here' });
    await writeManifest(aws, config, final);
  }
  const recorded = await recordLive(config, { aws, now: opts.now, sleep: opts.sleep, pollMs: opts.stackPollMs }, reporter);
  return { kind: 'released', releaseId: manifest.releaseId, outcome, manifest: final, recorded, execution };
}

/** The execution running this env's release, if any: the one the lock names, else one the state machine runs. */
export async function runningExecution(aws: AwsApi, config: EnvConfig): Promise<{ executionArn: string; name: string; startDate: Date } | undefined> {
  const sfn = await sfnOf(aws);
  const lock = await readReleaseLock(aws, config).catch(() => undefined);
  if (lock?.execution) {
    const d = await sfn.describeExecution(lock.execution);
    if (d?.status === 'RUNNING') return { executionArn: d.executionArn, name: d.name, startDate: d.startDate };
  }
  const t = await resolveTargets(aws, config).catch(() => undefined);
  if (!t?.releaseStateMachineArn) return undefined;
  return (await sfn.runningExecutions(t.releaseStateMachineArn))[0];
}

export type FollowResult = ReleaseResult | { kind: 'nothing-to-follow' };

/** `release --follow`: attaches to the release running in AWS and follows it to its end. */
export async function followRelease(config: EnvConfig, aws: AwsApi, opts: ReleaseOptions = {}): Promise<FollowResult> {
  const reporter = opts.reporter ?? silentReporter;
  await assertOwnStacks(config, aws.cloudformation);
  const run = await runningExecution(aws, config);
  if (!run) return { kind: 'nothing-to-follow' };
  const manifest = await readManifest(aws, config, run.name);
  if (!manifest) throw new DeployError(`release --follow: execution ${run.executionArn} runs, but s3://${config.artifacts.bucket}/${releasesPrefix(config)}${run.name}.json does not exist`);
  if (manifest.env !== config.name) throw new UserInputError(`release --follow: release ${manifest.releaseId} is env ${manifest.env}'s, not env ${config.name}'s`);
  const where = await executionWhere(await sfnOf(aws), run.executionArn);
  reporter.report({ level: 'step', topic: 'release', message: `following release ${run.name} (execution ${run.executionArn}, started ${run.startDate.toISOString()}): ${where}`, data: { releaseId: run.name, execution: run.executionArn } });
  return awaitExecution(config, aws, await sfnOf(aws), run.executionArn, manifest, opts, reporter, true);
}

/**
 * Stops the release execution `execution` names, if it runs, and waits until Step Functions says
 * it stopped; true when it was running.
 */
async function stopExecution(aws: AwsApi, execution: string, reporter?: Reporter): Promise<boolean> {
  const sfn = await sfnOf(aws);
  const d = await sfn.describeExecution(execution);
  if (d?.status !== 'RUNNING') return false;
  await sfn.stopExecution(execution, 'catalogctl.Rollback', 'stopped by catalogctl rollback');
  for (let i = 0; i < 60; i++) {
    if ((await sfn.describeExecution(execution))?.status !== 'RUNNING') break;
    await abortableSleep(500);
  }
  reporter?.report({ level: 'ok', topic: 'rollback', message: `stopped release execution ${execution}` });
  return true;
}

/**
 * The authorizer's per-version failures: its own AuthorizerFailures (src/handlers/authorizer/metrics.ts),
 * since Lambda counts every rejected token in Errors.
 */
export function authorizerFailureMetric(functionName: string, version: string): MetricId {
  return { namespace: AUTHORIZER_METRICS.namespace, metricName: AUTHORIZER_METRICS.failures, dimensions: { FunctionName: functionName, Version: version } };
}

/** The stage's API cache as a shift plan carries it: present only when the env turns the cache on. */
export const apiCacheOf = (config: EnvConfig): Pick<ShiftPlan, 'apiCache'> => (config.api.cache.enabled ? { apiCache: { ttlSeconds: config.api.cache.ttlSeconds } } : {});

/** Marks a deployment's description with the fingerprint of the API it snapshots. */
export const API_FINGERPRINT_TAG = 'api-sha256=';

export interface LiveComparison {
  functions: { functionName: string; liveVersion: string; latest: FunctionSnapshot; same: boolean; differs: string[] }[];
  api: { fingerprint: string; same: boolean };
  stageVariablesSame: boolean;
}

/**
 * What a release would change, compared with what serves. Equal means, all together:
 * - for every API function, $LATEST (what the stacks deployed) has the live version's code
 *   (CodeSha256) and configuration (every field but identity and state, see snapshotOf);
 * - the REST API's definition has the fingerprint recorded on the deployment the stage serves
 *   (a deployment made by an earlier release; any other deployment counts as different);
 * - the stage's variables are exactly the env's api.stageVariables.
 */
export async function compareWithLive(
  aws: Pick<AwsApi, 'lambda' | 'apigateway'>,
  config: EnvConfig,
  t: Pick<ReleaseTargets, 'restApiId'>,
  aliases: { functionName: string; functionVersion: string }[],
  stage: { deploymentId: string; variables: Record<string, string> },
): Promise<LiveComparison> {
  const functions = await Promise.all(
    aliases.map(async (a) => {
      const [latest, live] = await Promise.all([aws.lambda.snapshot(a.functionName, '$LATEST'), aws.lambda.snapshot(a.functionName, a.functionVersion)]);
      const differs = snapshotDifferences(latest, live);
      return { functionName: a.functionName, liveVersion: a.functionVersion, latest, same: differs.length === 0, differs };
    }),
  );
  const [fingerprint, description] = await Promise.all([aws.apigateway.definitionFingerprint(t.restApiId), stage.deploymentId ? aws.apigateway.deploymentDescription(t.restApiId, stage.deploymentId) : Promise.resolve('')]);
  const served = new RegExp(`${API_FINGERPRINT_TAG}([0-9a-f]{64})`).exec(description)?.[1];
  return { functions, api: { fingerprint, same: served === fingerprint }, stageVariablesSame: sameVariables(stage.variables, config.api.stageVariables) };
}

/** The fields in which two snapshots differ (CodeSha256 and configuration keys), none when equal. */
export function snapshotDifferences(a: FunctionSnapshot, b: FunctionSnapshot): string[] {
  const out = a.codeSha256 === b.codeSha256 ? [] : ['CodeSha256'];
  for (const k of [...new Set([...Object.keys(a.config), ...Object.keys(b.config)])].sort()) {
    if (k !== 'CodeSha256' && canonicalJson(a.config[k] ?? null) !== canonicalJson(b.config[k] ?? null)) out.push(k);
  }
  return out;
}

function sameVariables(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  return ka.join('\0') === Object.keys(b).sort().join('\0') && ka.every((k) => a[k] === b[k]);
}

export interface RollbackResult {
  releaseId: string;
  changed: string[];
  /** Absent when nothing changed. */
  recorded?: RecordResult;
}

/**
 * Without `to`: back to what served before the latest release (aliases, stage deployment, stage
 * variables), recorded in that release's manifest. With `to`: onto what release `to` promoted. Only
 * what differs is changed, so a second run changes nothing.
 */
export async function rollback(config: EnvConfig, aws: AwsApi, opts: { to?: string; reporter?: Reporter; stackPollMs?: number } = {}): Promise<RollbackResult> {
  await assertOwnStacks(config, aws.cloudformation);
  const m = await readManifest(aws, config, opts.to ?? 'latest');
  if (!m) throw new UserInputError(opts.to ? `--to: no release ${opts.to} in s3://${config.artifacts.bucket}/${releasesPrefix(config)}` : `rollback: no release recorded for env ${config.name}`);
  if (m.env !== config.name) throw new UserInputError(`rollback: release ${m.releaseId} in s3://${config.artifacts.bucket}/${releasesPrefix(config)} is env ${m.env}'s, not env ${config.name}'s; give env ${config.name} its own artifacts.prefix`);
  // A release that was promoted and later rolled back by hand can be gone back to; one stopped mid-shift cannot.
  if (opts.to && m.outcome !== 'promoted' && !m.rolledBackAt) throw new UserInputError(`--to: release ${m.releaseId} was ${m.outcome}${m.reason ? ` (${m.reason})` : ''}, never promoted; pick a promoted release (catalogctl status lists them)`);
  const changed: string[] = [];
  // A release running in AWS is stopped first, so it moves nothing after this.
  const latest = opts.to ? await readManifest(aws, config) : m;
  const lock = await readReleaseLock(aws, config);
  let stopped: string | undefined;
  for (const execution of new Set([latest?.execution, lock?.execution].filter((x): x is string => !!x))) {
    try {
      if (await stopExecution(aws, execution, opts.reporter)) {
        stopped = execution;
        changed.push(`release execution ${execution.split(':').at(-1)} stopped`);
      }
    } catch (err) {
      // Rollback is the way out, so it restores anyway: the execution's next alias update carries
      // the revision it last saw, Lambda refuses it once rollback moved the alias, and it stops.
      opts.reporter?.report({ level: 'warn', topic: 'rollback', message: `could not stop release execution ${execution} (${(err as Error).message}); restoring anyway: its next move will find the aliases changed and stop` });
    }
  }
  // The aliases first: they carry the traffic.
  for (const f of m.functions) {
    const want = opts.to ? f.versionAfter : f.versionBefore;
    const cur = await aws.lambda.getAlias(f.functionName, LIVE_ALIAS);
    if (cur.functionVersion !== want || Object.keys(cur.additionalWeights).length) {
      await aws.lambda.updateAlias(f.functionName, LIVE_ALIAS, want, {});
      changed.push(`${f.functionName}:${LIVE_ALIAS} → ${want}`);
    }
  }
  const wantDep = opts.to ? m.deploymentAfter : m.deploymentBefore;
  const stage = await aws.apigateway.getStage(m.restApiId, m.stageName);
  if (stage.deploymentId !== wantDep) {
    await aws.apigateway.setStageDeployment(m.restApiId, m.stageName, wantDep);
    changed.push(`stage ${m.stageName} → deployment ${wantDep}`);
  }
  // Manifests written before stageVariablesBefore was recorded leave the variables alone.
  const wantVars = opts.to ? m.stageVariables : m.stageVariablesBefore;
  if (wantVars) {
    const keys = await aws.apigateway.setStageVariables(m.restApiId, m.stageName, wantVars);
    if (keys.length) changed.push(`stage ${m.stageName} variables → ${keys.map((k) => (k in wantVars ? `${k}=${wantVars[k]}` : `${k} removed`)).join(', ')}`);
    // A failed flush is a warning: the aliases, stage and variables are already back, and the
    // manifest and the Live* record still have to follow (see flushAfterVariables).
    const flush = await flushAfterVariables(aws, { restApiId: m.restApiId, stageName: m.stageName, ...apiCacheOf(config) }, keys);
    if (flush.kind === 'flushed') changed.push(flush.message);
    else reportFlush(opts.reporter ?? silentReporter, flush, 'rollback');
  }
  for (const c of changed) opts.reporter?.report({ level: 'ok', topic: 'rollback', message: c });
  if (stopped && latest?.execution === stopped) {
    // The stopped execution wrote no record of its end: this is it.
    const now = new Date().toISOString();
    await writeManifest(aws, config, { ...latest, outcome: 'rolled-back', reason: 'release execution stopped by catalogctl rollback', finishedAt: now, rolledBackAt: now });
  } else if (!opts.to && changed.length && m.outcome === 'promoted') {
    // Recorded so status, and anyone reading the manifest, sees the release no longer serves.
    const now = new Date().toISOString();
    await writeManifest(aws, config, { ...m, outcome: 'rolled-back', reason: 'catalogctl rollback', rolledBackAt: now });
  }
  // The lock the stopped execution held (it would have removed it at its end).
  if (stopped && lock?.execution === stopped) await aws.s3.deleteObject(config.artifacts.bucket, lockKey(config));
  if (changed.length === 0) return { releaseId: m.releaseId, changed };
  const recorded = await recordLive(config, { aws, pollMs: opts.stackPollMs }, opts.reporter ?? silentReporter);
  return { releaseId: m.releaseId, changed, recorded };
}

export interface StackState {
  stack: string;
  /** CloudFormation's stack status, or NOT_DEPLOYED. */
  status: string;
  statusReason?: string;
}

export interface StatusReport {
  env: string;
  stacks: StackState[];
  /** Empty when catalog-service or catalog-observability is not deployed. */
  aliases: { functionName: string; version: string; weights: Record<string, number> }[];
  stage?: { restApiId: string; stageName: string; deploymentId: string; variables: Record<string, string> };
  shiftInProgress: boolean;
  releases: { releaseId: string; outcome: string; reason?: string; startedAt: string; finishedAt?: string; rolledBackAt?: string }[];
  /** Why aliases and stage are missing, when they are. */
  note?: string;
  /** The release lock, when a release holds it (or a dead one left it), and the execution it names. */
  lock?: { holder: string; acquiredAt: string; execution?: string };
  /** A release running in AWS Step Functions, and where it is. */
  execution?: { executionArn: string; name: string; status: string; startedAt: string; where: string };
}

export async function status(config: EnvConfig, aws: AwsApi, last = 5): Promise<StatusReport> {
  const summaries = new Map<string, StackSummary | undefined>();
  for (const logical of STACK_NAMES) summaries.set(logical, await aws.cloudformation.describeStack(stackName(config, logical)));
  const stacks: StackState[] = STACK_NAMES.map((logical) => {
    const s = summaries.get(logical);
    const name = stackName(config, logical);
    return s ? { stack: name, status: s.status, ...(s.statusReason ? { statusReason: s.statusReason } : {}) } : { stack: name, status: 'NOT_DEPLOYED' };
  });
  let aliases: StatusReport['aliases'] = [];
  let stage: StatusReport['stage'];
  let shiftInProgress = false;
  let note: string | undefined;
  let t: ReleaseTargets | undefined;
  const svc = summaries.get('catalog-service');
  const obs = summaries.get('catalog-observability');
  if (!svc || !obs) note = `${stackName(config, 'catalog-service')} and ${stackName(config, 'catalog-observability')} are not both deployed: no aliases or stage to show`;
  else {
    try {
      t = targetsFrom(config, svc, obs);
    } catch (err) {
      if (!(err instanceof DeployError)) throw err;
      note = err.message; // e.g. a stack whose creation failed has no Outputs
    }
  }
  if (t) {
    const read = await readAliases(aws, t.functions);
    aliases = read.aliases.map((a) => ({ functionName: a.functionName, version: a.functionVersion, weights: a.additionalWeights }));
    shiftInProgress = read.inProgress.length > 0;
    const st = await aws.apigateway.getStage(t.restApiId, t.stageName);
    stage = { restApiId: t.restApiId, stageName: t.stageName, deploymentId: st.deploymentId, variables: st.variables };
  }
  let ids: string[] = [];
  let bucketMissing = false;
  try {
    ids = (await listReleases(aws, config)).slice(-last).reverse();
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchBucket') throw err;
    bucketMissing = true;
    const msg = `artifact bucket ${config.artifacts.bucket} does not exist yet: no releases recorded`;
    note = note ? `${note}; ${msg}` : msg;
  }
  const held = bucketMissing ? undefined : await readReleaseLock(aws, config);
  const releases = [];
  for (const id of ids) {
    const m = await readManifest(aws, config, id);
    if (m) releases.push({ releaseId: m.releaseId, outcome: m.outcome, startedAt: m.startedAt, ...(m.reason ? { reason: m.reason } : {}), ...(m.finishedAt ? { finishedAt: m.finishedAt } : {}), ...(m.rolledBackAt ? { rolledBackAt: m.rolledBackAt } : {}) });
  }
  let execution: StatusReport['execution'];
  if (held?.execution) {
    try {
      const sfn = await sfnOf(aws);
      const d = await sfn.describeExecution(held.execution);
      if (d?.status === 'RUNNING') execution = { executionArn: d.executionArn, name: d.name, status: d.status, startedAt: d.startDate.toISOString(), where: await executionWhere(sfn, d.executionArn) };
    } catch (err) {
      const msg = `cannot read release execution ${held.execution}: ${(err as Error).message}`;
      note = note ? `${note}; ${msg}` : msg;
    }
  }
  const lock = held ? { holder: held.holder, acquiredAt: held.acquiredAt, ...(held.execution ? { execution: held.execution } : {}) } : undefined;
  return { env: config.name, stacks, aliases, ...(stage ? { stage } : {}), shiftInProgress, releases, ...(note ? { note } : {}), ...(lock ? { lock } : {}), ...(execution ? { execution } : {}) };
}
