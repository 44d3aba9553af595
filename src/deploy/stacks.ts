/**
 * diff and deploy: the five stacks in order network → storage → secrets → service → observability,
 * each fed the Outputs of those before it. A new stack is created with CreateStack; an existing one
 * is updated through a change set. Every step returns a tagged outcome; only unexpected failures throw.
 *
 * Why CreateStack for new stacks: a CREATE change set leaves a REVIEW_IN_PROGRESS stack behind when
 * it is only previewed, and the local emulator gives stacks created that way no Outputs.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AwsApi } from '../aws/index.ts';
import type { StackEvent, StackSummary, TemplateSource } from '../aws/cloudformation.ts';
import { API_FUNCTIONS, STACK_NAMES, type EnvConfig, type StackName } from '../config/types.ts';
import { CatalogError, DeployError, InterruptedError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { pascal } from '../templates/cfn.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { ownedValues, resolveParameters, type CodeKeys, type LiveState } from './params.ts';
import { buildStackPlan, parameterChanges, type StackPlan } from './plan.ts';

export type StackTemplates = Record<StackName, Record<string, unknown>>;

export interface StackDeps {
  aws: Pick<AwsApi, 'cloudformation' | 's3' | 'lambda' | 'apigateway'>;
  reporter?: Reporter;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Between polls of a stack or change set; CloudFormation changes state in seconds, not milliseconds. */
  pollMs?: number;
}

export interface StackRunOptions {
  config: EnvConfig;
  /** The rendered templates by stack (default: renderEnvironment(config)). */
  templates?: StackTemplates;
  /** Only these stacks (the others' Outputs are still read for wiring). */
  only?: StackName[];
  /** Code to deploy; without it an existing catalog-service keeps the code it has. */
  codeKeys?: CodeKeys;
  /**
   * Deploy even while a traffic shift is in progress. Only release sets it, for its own deploy
   * before it starts shifting; a change set would otherwise clear the alias's extra weights.
   */
  ignoreShiftLock?: boolean;
}

export type StackOutcome =
  | { stack: StackName; kind: 'created'; outputs: Record<string, string> }
  | { stack: StackName; kind: 'updated'; outputs: Record<string, string>; plan: StackPlan }
  | { stack: StackName; kind: 'no-changes'; outputs: Record<string, string> }
  | { stack: StackName; kind: 'failed'; status: string; failures: StackEvent[]; advice: string }
  | { stack: StackName; kind: 'blocked'; status: string; advice: string };

export interface DeployResult {
  stacks: StackOutcome[];
  /** The first stack that did not succeed; later stacks were not touched. */
  failed?: Extract<StackOutcome, { kind: 'failed' | 'blocked' }>;
}

/** CloudFormation's inline template limit; larger bodies go through S3. */
export const MAX_TEMPLATE_BODY = 51_200;

const NO_CHANGES = /didn't contain changes|No updates are to be performed/i;

export async function renderedTemplates(config: EnvConfig): Promise<StackTemplates> {
  const { renderEnvironment } = await import('../templates/index.ts');
  const r = renderEnvironment(config);
  return Object.fromEntries(STACK_NAMES.map((s) => [s, r[`${s}.json`] as Record<string, unknown>])) as StackTemplates;
}

/** Why a stack in `status` cannot be deployed now, and what to do; undefined when it can. */
export function blockedAdvice(stack: string, status: string): string | undefined {
  if (status === 'ROLLBACK_COMPLETE' || status === 'ROLLBACK_FAILED' || status === 'CREATE_FAILED')
    return `its creation failed and it cannot be updated: delete it (aws cloudformation delete-stack --stack-name ${stack}), fix the cause, and deploy again`;
  if (status === 'UPDATE_ROLLBACK_FAILED')
    return `its last update could not roll back: run aws cloudformation continue-update-rollback --stack-name ${stack} (skip resources that cannot roll back), then deploy again`;
  if (status === 'DELETE_FAILED') return `a deletion failed: finish deleting it (aws cloudformation delete-stack --stack-name ${stack}) and deploy again`;
  if (status === 'REVIEW_IN_PROGRESS')
    return `it holds only an unexecuted change set made by another tool: delete it (aws cloudformation delete-stack --stack-name ${stack}) and deploy again`;
  if (status.endsWith('_IN_PROGRESS')) return `another operation is running on it (${status}): wait for it to finish, then deploy again`;
  return undefined;
}

/** What to do after a stack operation ended in `status` (a failure). */
export function failureAdvice(stack: string, status: string): string {
  if (status === 'UPDATE_ROLLBACK_COMPLETE') return 'the update failed and CloudFormation put the stack back as it was; fix the cause above and deploy again';
  return blockedAdvice(stack, status) ?? `the stack ended in ${status}; see the events above`;
}

const isThrottle = (err: unknown): boolean => {
  const e = err as { name?: string; message?: string };
  return /Throttl|TooManyRequests|RequestLimitExceeded/.test(e.name ?? '') || /Rate exceeded/i.test(e.message ?? '');
};

function isAwsError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && '$metadata' in err;
}

class Runner {
  readonly reporter: Reporter;
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly pollMs: number;
  constructor(readonly deps: StackDeps) {
    this.reporter = deps.reporter ?? silentReporter;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms, signal) => new Promise((res) => {
      const t = setTimeout(res, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
    }));
    this.pollMs = deps.pollMs ?? 5000;
  }

  get cfn() {
    return this.deps.aws.cloudformation;
  }

  /**
   * One AWS call: throttling is waited out with backoff (long deploys poll a lot), any other AWS
   * error becomes a DeployError naming the stack and the operation (exit 3).
   */
  async call<T>(stack: string, op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof CatalogError) throw err;
        if (isThrottle(err) && attempt < 8) {
          const ms = Math.min(1000 * 2 ** attempt, 20_000);
          this.reporter.report({ level: 'progress', topic: 'deploy', message: `${stack}: ${op} throttled; retrying in ${ms / 1000}s`, data: { stack, op, attempt } });
          await this.sleep(ms, this.deps.signal);
          continue;
        }
        if (isAwsError(err) || isThrottle(err)) throw new DeployError(`${stack}: ${op}: ${(err as Error).message}`);
        throw err;
      }
    }
  }

  checkAbort(what: string): void {
    if (this.deps.signal?.aborted) throw new InterruptedError(what);
  }
}

/** Outputs of every deployed stack, by stack (absent stacks map to undefined). */
async function describeAll(r: Runner): Promise<Map<StackName, StackSummary | undefined>> {
  const m = new Map<StackName, StackSummary | undefined>();
  for (const s of STACK_NAMES) m.set(s, await r.call(s, 'DescribeStacks', () => r.cfn.describeStack(s)));
  return m;
}

const notFound = (err: unknown) => /NotFound|does not exist|Invalid Stage/i.test(`${(err as Error).name} ${(err as Error).message}`);

/**
 * What serves traffic now, read from AWS through the catalog-service Outputs, and which aliases are
 * mid-shift (extra weights). A function without a `live` alias yet reads as ''.
 */
export async function readLiveState(aws: StackDeps['aws'], serviceOutputs: Record<string, string>): Promise<{ live: LiveState; shifting: string[] }> {
  const live: LiveState = { versions: {} };
  const shifting: string[] = [];
  for (const fn of API_FUNCTIONS) {
    const name = serviceOutputs[`FunctionName${pascal(fn)}`];
    if (!name) continue;
    try {
      const a = await aws.lambda.getAlias(name, 'live');
      live.versions[fn] = a.functionVersion;
      if (Object.keys(a.additionalWeights).length) shifting.push(name);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
  const restApiId = serviceOutputs.RestApiId;
  const stageName = serviceOutputs.StageName;
  if (restApiId && stageName) {
    try {
      live.deploymentId = (await aws.apigateway.getStage(restApiId, stageName)).deploymentId;
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
  return { live, shifting };
}

/** Inline when small enough, else stored in the artifact bucket under its content hash. */
async function templateSource(r: Runner, config: EnvConfig, stack: StackName, template: Record<string, unknown>): Promise<TemplateSource> {
  const body = canonicalJson(template);
  if (Buffer.byteLength(body) <= MAX_TEMPLATE_BODY) return { body };
  const digest = createHash('sha256').update(body).digest();
  const { bucket, prefix } = config.artifacts;
  const key = `${prefix.replace(/\/+$/, '')}/templates/${stack}/${digest.toString('hex')}.json`;
  const s3 = r.deps.aws.s3;
  const head = await r.call(stack, 'HeadObject (template)', () => s3.headObject(bucket, key));
  if (!head.exists) await r.call(stack, 'PutObject (template)', () => s3.putObject(bucket, key, body, { sha256Base64: digest.toString('base64'), contentType: 'application/json' }));
  return { url: `https://${bucket}.s3.${config.account.region}.amazonaws.com/${key}` };
}

interface StackContext {
  stack: StackName;
  template: Record<string, unknown>;
  current: StackSummary | undefined;
  upstreamOutputs: Record<string, string>;
}

async function prepare(r: Runner, opts: StackRunOptions, ctx: StackContext, live: LiveState | undefined) {
  const { parameters, origins, missing } = resolveParameters(ctx.template as never, {
    config: opts.config,
    upstreamOutputs: ctx.upstreamOutputs,
    codeKeys: opts.codeKeys,
    live,
    previous: ctx.current?.parameters,
  });
  return { parameters, origins, missing };
}

function missingMessage(stack: string, missing: string[], config: EnvConfig): string {
  const code = missing.filter((m) => m.startsWith('CodeKey') || m === 'LayerKeyPg');
  if (code.length)
    return `${stack}: no code to deploy for ${code.join(', ')}: run \`catalogctl release --env ${config.name}\` (packages and uploads), or \`catalogctl package --env ${config.name} --upload\` then deploy with --artifacts .build/${config.name}/manifest.json`;
  return `${stack}: parameters without a value: ${missing.join(', ')} (no default, and no upstream stack has an Output of that name; deploy the stacks before it first)`;
}

const changeSetName = (now: number) => `catalogctl-${new Date(now).toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;

type ChangeSetResult = { kind: 'no-changes'; created: boolean } | { kind: 'failed'; reason: string } | { kind: 'ready'; raw: Record<string, unknown> & { Changes?: unknown[] } };

async function createAndWaitChangeSet(r: Runner, input: Parameters<StackDeps['aws']['cloudformation']['createChangeSet']>[0]): Promise<ChangeSetResult> {
  const { stackName: stack, changeSetName: name } = input;
  try {
    await r.call(stack, 'CreateChangeSet', () => r.cfn.createChangeSet(input));
  } catch (err) {
    // The emulator (and older CloudFormation behaviour) refuses an identical update outright.
    if (NO_CHANGES.test((err as Error).message)) return { kind: 'no-changes', created: false };
    throw err;
  }
  for (;;) {
    const cs = await r.call(stack, 'DescribeChangeSet', () => r.cfn.describeChangeSet(stack, name));
    if (cs.status === 'CREATE_COMPLETE') return { kind: 'ready', raw: cs.raw };
    if (cs.status === 'FAILED') return NO_CHANGES.test(cs.statusReason ?? '') ? { kind: 'no-changes', created: true } : { kind: 'failed', reason: cs.statusReason ?? 'no reason given' };
    if (!/PENDING|IN_PROGRESS/.test(cs.status)) return { kind: 'failed', reason: `change set ${cs.status}` };
    r.checkAbort(`interrupted while CloudFormation was creating change set ${name} on ${stack}; nothing was executed`);
    await r.sleep(r.pollMs, r.deps.signal);
  }
}

async function deleteChangeSet(r: Runner, stack: string, name: string): Promise<void> {
  try {
    await r.call(stack, 'DeleteChangeSet', () => r.cfn.deleteChangeSet(stack, name));
  } catch (err) {
    r.reporter.report({ level: 'warn', topic: 'deploy', message: `${stack}: could not delete change set ${name}: ${(err as Error).message}` });
  }
}

/** Waits for the stack to leave *_IN_PROGRESS, reporting each new event; returns the final status and failures. */
async function waitForStack(r: Runner, stack: StackName, marker: string | undefined): Promise<{ status: string; failures: StackEvent[]; outputs: Record<string, string> }> {
  const failures: StackEvent[] = [];
  let last = marker;
  for (;;) {
    const events = (await r.call(stack, 'DescribeStackEvents', () => r.cfn.describeStackEvents(stack, last))).reverse();
    for (const e of events) {
      const failed = e.status.endsWith('_FAILED');
      if (failed && e.reason && !/cancelled/i.test(e.reason)) failures.push(e);
      r.reporter.report({
        level: failed ? 'warn' : 'progress',
        topic: 'deploy',
        message: `${stack}  ${e.logicalId}  ${e.status}${e.reason ? `  ${e.reason}` : ''}`,
        data: { stack, event: e },
      });
    }
    if (events.length) last = events[events.length - 1]!.eventId;
    const s = await r.call(stack, 'DescribeStacks', () => r.cfn.describeStack(stack));
    if (!s) throw new DeployError(`${stack}: the stack disappeared while deploying`);
    if (!s.status.endsWith('_IN_PROGRESS')) return { status: s.status, failures, outputs: s.outputs };
    if (r.deps.signal?.aborted)
      throw new InterruptedError(`interrupted while ${stack} is ${s.status}; CloudFormation carries on without catalogctl: watch it with \`catalogctl status\``);
    await r.sleep(r.pollMs, r.deps.signal);
  }
}

async function newestEventId(r: Runner, stack: StackName): Promise<string | undefined> {
  const events = await r.call(stack, 'DescribeStackEvents', () => r.cfn.describeStackEvents(stack));
  return events[0]?.eventId;
}

async function deployOne(r: Runner, opts: StackRunOptions, ctx: StackContext, live: LiveState | undefined): Promise<StackOutcome> {
  const { stack, current } = ctx;
  if (current) {
    const advice = blockedAdvice(stack, current.status);
    if (advice) return { stack, kind: 'blocked', status: current.status, advice };
    if (current.status === 'UPDATE_ROLLBACK_COMPLETE') r.reporter.report({ level: 'warn', topic: 'deploy', message: `${stack}: its last update rolled back; deploying again` });
  }
  const { parameters, origins, missing } = await prepare(r, opts, ctx, live);
  if (missing.length) throw new UserInputError(missingMessage(stack, missing, opts.config));
  const template = await templateSource(r, opts.config, stack, ctx.template);

  if (!current) {
    r.reporter.report({ level: 'step', topic: 'deploy', message: `${stack}: creating`, data: { stack } });
    await r.call(stack, 'CreateStack', () => r.cfn.createStack({ stackName: stack, template, parameters, tags: opts.config.tags }));
    const done = await waitForStack(r, stack, undefined);
    if (done.status !== 'CREATE_COMPLETE') return { stack, kind: 'failed', status: done.status, failures: done.failures, advice: failureAdvice(stack, done.status) };
    r.reporter.report({ level: 'ok', topic: 'deploy', message: `${stack}: created`, data: { stack } });
    return { stack, kind: 'created', outputs: done.outputs };
  }

  const name = changeSetName(r.now());
  r.reporter.report({ level: 'step', topic: 'deploy', message: `${stack}: creating change set ${name}`, data: { stack, changeSet: name } });
  let plan: StackPlan | undefined;
  const run = await applyChangeSet(r, { stackName: stack, changeSetName: name, template, parameters, tags: opts.config.tags, description: `catalogctl deploy --env ${opts.config.name}` }, async (raw) => {
    const deployed = await r.call(stack, 'GetTemplate', () => r.cfn.getTemplate(stack));
    plan = await buildStackPlan(stack, deployed, ctx.template, raw, origins, parameterChanges(current.parameters, parameters, origins));
    r.reporter.report({ level: 'info', topic: 'deploy', message: `${stack}: executing ${name}`, data: { stack, plan } });
    r.checkAbort(`interrupted before executing change set ${name} on ${stack}; nothing was changed`);
  });
  if (run.kind === 'no-changes') {
    r.reporter.report({ level: 'ok', topic: 'deploy', message: `${stack}: no changes`, data: { stack } });
    return { stack, kind: 'no-changes', outputs: current.outputs };
  }
  if (run.kind === 'failed') return { stack, kind: 'failed', status: 'CHANGE_SET_FAILED', failures: [], advice: `change set failed: ${run.reason}` };
  if (run.status !== 'UPDATE_COMPLETE') return { stack, kind: 'failed', status: run.status, failures: run.failures, advice: failureAdvice(stack, run.status) };
  r.reporter.report({ level: 'ok', topic: 'deploy', message: `${stack}: updated`, data: { stack } });
  return { stack, kind: 'updated', outputs: run.outputs, plan: plan! };
}

type ChangeSetRun = { kind: 'no-changes' } | { kind: 'failed'; reason: string } | { kind: 'executed'; status: string; failures: StackEvent[]; outputs: Record<string, string> };

/**
 * An update through a change set: created and waited for; deleted when it has no changes or
 * failed; otherwise `beforeExecute` sees it (plan, last abort check), then it is executed and the
 * stack waited for, its events reported as they arrive.
 */
async function applyChangeSet(r: Runner, input: Parameters<StackDeps['aws']['cloudformation']['createChangeSet']>[0] & { stackName: StackName }, beforeExecute?: (raw: Record<string, unknown> & { Changes?: unknown[] }) => Promise<void>): Promise<ChangeSetRun> {
  const { stackName: stack, changeSetName: name } = input;
  const cs = await createAndWaitChangeSet(r, input);
  if (cs.kind === 'no-changes') {
    if (cs.created) await deleteChangeSet(r, stack, name);
    return { kind: 'no-changes' };
  }
  if (cs.kind === 'failed') {
    await deleteChangeSet(r, stack, name);
    return { kind: 'failed', reason: cs.reason };
  }
  await beforeExecute?.(cs.raw);
  const marker = await newestEventId(r, stack);
  await r.call(stack, 'ExecuteChangeSet', () => r.cfn.executeChangeSet(stack, name));
  return { kind: 'executed', ...(await waitForStack(r, stack, marker)) };
}

export type RecordOutcome = { kind: 'recorded'; changes: string[] } | { kind: 'up-to-date' } | { kind: 'skipped'; reason: string };

/**
 * Brings catalog-service's LiveVersion* and LiveDeploymentId parameters to what serves now, after
 * release or rollback moved traffic: a change set of those parameter values only, on the stack's
 * current template (UsePreviousTemplate), every other parameter kept. The aliases and the stage
 * already serve these values, so executing it moves nothing; it keeps the stack's record true, so
 * `diff` afterwards has nothing to change on them and a stack update never has a stale version to
 * apply. Never throws for a stack problem: traffic has already moved, so the caller only warns.
 */
export async function recordLiveState(config: EnvConfig, deps: StackDeps): Promise<RecordOutcome> {
  const r = new Runner(deps);
  const stack: StackName = 'catalog-service';
  const current = await r.call(stack, 'DescribeStacks', () => r.cfn.describeStack(stack));
  if (!current) return { kind: 'skipped', reason: `${stack} does not exist` };
  const advice = blockedAdvice(stack, current.status);
  if (advice) return { kind: 'skipped', reason: `${stack} is ${current.status}: ${advice}` };
  const { live, shifting } = await r.call(stack, 'read live state', () => readLiveState(deps.aws, current.outputs));
  if (shifting.length) return { kind: 'skipped', reason: `a traffic shift is in progress on ${shifting.join(', ')}` };
  const owned = ownedValues({ config, live });
  const changes: string[] = [];
  const parameters = Object.keys(current.parameters)
    .sort()
    .map((key) => {
      const mine = owned.get(key);
      if (!mine || mine.origin !== 'live' || mine.value === current.parameters[key]) return { key, usePrevious: true };
      changes.push(`${key} ${JSON.stringify(current.parameters[key])} → ${JSON.stringify(mine.value)}`);
      return { key, value: mine.value };
    });
  if (changes.length === 0) return { kind: 'up-to-date' };
  const name = changeSetName(r.now());
  r.reporter.report({ level: 'step', topic: 'deploy', message: `${stack}: recording what serves now (${changes.join(', ')})`, data: { stack, changeSet: name } });
  const run = await applyChangeSet(r, { stackName: stack, changeSetName: name, template: { previous: true }, parameters, tags: config.tags, description: `catalogctl: record the live versions of ${config.name}` });
  if (run.kind === 'no-changes') return { kind: 'up-to-date' };
  if (run.kind === 'failed') return { kind: 'skipped', reason: `change set failed: ${run.reason}` };
  if (run.status !== 'UPDATE_COMPLETE') return { kind: 'skipped', reason: `${stack} ended in ${run.status}: ${failureAdvice(stack, run.status)}` };
  r.reporter.report({ level: 'ok', topic: 'deploy', message: `${stack}: recorded what serves now`, data: { stack } });
  return { kind: 'recorded', changes };
}

function selected(opts: StackRunOptions): StackName[] {
  return STACK_NAMES.filter((s) => !opts.only || opts.only.includes(s));
}

/**
 * Deploys the stacks in order. Stops at the first failed or blocked stack (reported in `failed`);
 * refuses (exit 2) while a traffic shift is in progress unless `ignoreShiftLock`.
 */
export async function deployStacks(opts: StackRunOptions, deps: StackDeps): Promise<DeployResult> {
  const r = new Runner(deps);
  const templates = opts.templates ?? (await renderedTemplates(opts.config));
  const current = await describeAll(r);
  const upstream: Record<string, string> = {};
  const result: DeployResult = { stacks: [] };
  const wanted = selected(opts);
  // The shift lock is checked before any stack is touched.
  let live: LiveState | undefined;
  if (wanted.includes('catalog-service')) {
    const state = await r.call('catalog-service', 'read live state', () => readLiveState(deps.aws, current.get('catalog-service')?.outputs ?? {}));
    if (state.shifting.length && !opts.ignoreShiftLock)
      throw new UserInputError(`deploy: a traffic shift is in progress on ${state.shifting.join(', ')}; finish it (release --resume) or run rollback first`);
    live = state.live;
  }
  for (const stack of STACK_NAMES) {
    const summary = current.get(stack);
    if (!wanted.includes(stack)) {
      Object.assign(upstream, summary?.outputs ?? {});
      continue;
    }
    r.checkAbort(`interrupted before ${stack}; the stacks before it are deployed`);
    const outcome = await deployOne(r, opts, { stack, template: templates[stack], current: summary, upstreamOutputs: { ...upstream } }, stack === 'catalog-service' ? live : undefined);
    result.stacks.push(outcome);
    if (outcome.kind === 'failed' || outcome.kind === 'blocked') {
      result.failed = outcome;
      return result;
    }
    Object.assign(upstream, outcome.outputs);
  }
  return result;
}

/**
 * The plan for each stack: a change set per existing stack (deleted afterwards), the template's
 * resources for a stack that does not exist yet. Changes nothing.
 */
export async function diffStacks(opts: StackRunOptions, deps: StackDeps): Promise<{ plans: StackPlan[]; shifting: string[] }> {
  const r = new Runner(deps);
  const templates = opts.templates ?? (await renderedTemplates(opts.config));
  const current = await describeAll(r);
  const upstream: Record<string, string> = {};
  const plans: StackPlan[] = [];
  let shifting: string[] = [];
  for (const stack of STACK_NAMES) {
    const summary = current.get(stack);
    const upstreamOutputs = { ...upstream };
    Object.assign(upstream, summary?.outputs ?? {});
    if (!selected(opts).includes(stack)) continue;
    r.checkAbort(`diff interrupted before ${stack}`);
    const template = templates[stack];
    let live: LiveState | undefined;
    if (stack === 'catalog-service') {
      const state = await r.call(stack, 'read live state', () => readLiveState(deps.aws, summary?.outputs ?? {}));
      live = state.live;
      shifting = state.shifting;
    }
    const { parameters, origins, missing } = await prepare(r, opts, { stack, template, current: summary, upstreamOutputs }, live);
    if (!summary) {
      plans.push(await buildStackPlan(stack, undefined, template, undefined, origins));
      continue;
    }
    const advice = blockedAdvice(stack, summary.status);
    if (advice) {
      plans.push({ stack, kind: 'blocked', status: summary.status, advice });
      continue;
    }
    if (missing.length) throw new UserInputError(missingMessage(stack, missing, opts.config));
    const name = changeSetName(r.now());
    r.reporter.report({ level: 'progress', topic: 'diff', message: `${stack}: creating change set ${name}`, data: { stack } });
    const source = await templateSource(r, opts.config, stack, template);
    let cs: ChangeSetResult | undefined;
    try {
      cs = await createAndWaitChangeSet(r, { stackName: stack, changeSetName: name, template: source, parameters, tags: opts.config.tags, description: `catalogctl diff --env ${opts.config.name}` });
    } finally {
      // A diff leaves nothing behind: the change set goes even when waiting for it failed.
      if (!(cs?.kind === 'no-changes' && !cs.created)) await deleteChangeSet(r, stack, name);
    }
    if (cs.kind === 'no-changes') plans.push({ stack, kind: 'no-changes' });
    else if (cs.kind === 'failed') throw new DeployError(`${stack}: change set failed: ${cs.reason}`);
    else {
      const deployed = await r.call(stack, 'GetTemplate', () => r.cfn.getTemplate(stack));
      plans.push(await buildStackPlan(stack, deployed, template, cs.raw, origins, parameterChanges(summary.parameters, parameters, origins)));
    }
  }
  return { plans, shifting };
}
