/**
 * diff and deploy: the five stacks in order network → storage → secrets → service → observability,
 * each fed the Outputs of those before it, each addressed by this env's stack name
 * (`stackName(config, …)`) and tagged with its env (`catalog:env`, see ../aws/stack-guard.ts).
 *
 * Deploy plans every stack before anything executes: a change set per existing stack (kept, and
 * executed later if its parameters are still the same), the template for a new stack or for one
 * whose upstream Outputs do not exist yet. Then one approval for all of it, then execution in order.
 * Every step returns a tagged outcome; only unexpected failures throw.
 *
 * Why CreateStack for new stacks: a CREATE change set leaves a REVIEW_IN_PROGRESS stack behind when
 * it is only previewed, and the local emulator gives stacks created that way no Outputs.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AwsApi } from '../aws/index.ts';
import type { Capability, StackEvent, StackInput, StackParameter, StackSummary, TemplateSource } from '../aws/cloudformation.ts';
import { checkStackEnv, ENV_TAG, stackTags } from '../aws/stack-guard.ts';
import { API_FUNCTIONS, STACK_NAMES, stackName, type EnvConfig, type StackName } from '../config/types.ts';
import { CatalogError, DeployError, InterruptedError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { pascal } from '../templates/cfn.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { requiredCapabilities } from './capabilities.ts';
import { ownedValues, resolveParameters, type CodeKeys, type LiveState } from './params.ts';
import { buildStackPlan, exceedsPlan, parameterChanges, tagChanges, type StackPlan } from './plan.ts';

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

/** What deploy asks approval for: every stack's plan at once, or one stack re-planned at execution. */
export interface ApprovalRequest {
  plans: StackPlan[];
  /** Plans that widen IAM or security-group access, with why. */
  broadening: { stack: string; reasons: string[] }[];
  /** A stack planned from its template whose change set, made at execution, shows more than that plan. */
  replanned?: boolean;
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
  /**
   * Tag this env's stacks that have no env tag (created before stacks were tagged) instead of
   * refusing them. The tag goes on with the stack's next change set, shown in its plan.
   */
  adoptUntagged?: boolean;
  /**
   * Asked once with every plan before anything executes, and again for a stack whose change set
   * shows more than its template plan did; false stops with nothing (more) executed (exit 2).
   * Absent: nothing is asked (release asks before it moves traffic).
   */
  approve?: (request: ApprovalRequest) => Promise<boolean>;
  /** Parameter values set on purpose, per stack (`db restore`'s Restore* parameters of catalog-storage). */
  parameterOverrides?: Partial<Record<StackName, Record<string, string>>>;
  /**
   * Read-only checks (the CLI's preflight) run once the stacks are read and the env, tag and shift
   * guards have passed, before any change set is made; they throw to stop the deploy.
   */
  preflight?: () => Promise<void>;
}

export type StackOutcome =
  | { stack: string; kind: 'created'; outputs: Record<string, string> }
  | { stack: string; kind: 'updated'; outputs: Record<string, string>; plan: StackPlan }
  | { stack: string; kind: 'no-changes'; outputs: Record<string, string> }
  | { stack: string; kind: 'failed'; status: string; failures: StackEvent[]; advice: string }
  | { stack: string; kind: 'blocked'; status: string; advice: string };

export interface DeployResult {
  stacks: StackOutcome[];
  /** The first stack that did not succeed; later stacks were not touched. */
  failed?: Extract<StackOutcome, { kind: 'failed' | 'blocked' }>;
  /** The plans shown (and approved) before anything executed. */
  plans: StackPlan[];
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
        if (isAwsError(err) || isThrottle(err)) throw new DeployError(`${stack}: ${op}: ${oneLine((err as Error).message)}`);
        throw err;
      }
    }
  }

  /** A call that passes capabilities: CloudFormation's refusal names what the template needed. */
  async callWithCapabilities<T>(stack: string, op: string, capabilities: Capability[], fn: () => Promise<T>): Promise<T> {
    try {
      return await this.call(stack, op, fn);
    } catch (err) {
      if (err instanceof DeployError && /InsufficientCapabilities|Requires capabilities/i.test(err.message))
        throw new DeployError(`${err.message} (acknowledged: ${capabilities.join(', ') || 'none'}, as derived from the template)`);
      throw err;
    }
  }

  /** Sleeps one poll interval, first saying what is awaited and for how long (progress on every wait). */
  async pause(stack: string, what: string, since: number): Promise<void> {
    const seconds = Math.round((this.now() - since) / 1000);
    this.reporter.report({ level: 'progress', topic: 'deploy', message: `${stack}: ${what}, ${seconds}s`, data: { stack, waiting: what, elapsedSeconds: seconds } });
    await this.sleep(this.pollMs, this.deps.signal);
  }

  checkAbort(what: string): void {
    if (this.deps.signal?.aborted) throw new InterruptedError(what);
  }
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/**
 * Every stack of the env, by logical name (absent: undefined). A stack tagged for another env is
 * refused here too, whatever interface the caller passed in.
 */
async function describeAll(r: Runner, config: EnvConfig): Promise<Map<StackName, StackSummary | undefined>> {
  const m = new Map<StackName, StackSummary | undefined>();
  for (const s of STACK_NAMES) {
    const name = stackName(config, s);
    const summary = await r.call(name, 'DescribeStacks', () => r.cfn.describeStack(name));
    if (summary) checkStackEnv(summary, config.name);
    m.set(s, summary);
  }
  return m;
}

/**
 * The env guard for commands that act on what a release manifest names (release, rollback) rather
 * than on stacks: reads the env's stacks first, so a stack tagged for another env stops the command
 * (exit 2) before it takes a lock or moves an alias.
 */
export async function assertOwnStacks(config: EnvConfig, cfn: Pick<AwsApi['cloudformation'], 'describeStack'>): Promise<void> {
  for (const s of STACK_NAMES) {
    const summary = await cfn.describeStack(stackName(config, s));
    if (summary) checkStackEnv(summary, config.name);
  }
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
async function templateSource(r: Runner, config: EnvConfig, stack: string, template: Record<string, unknown>): Promise<TemplateSource> {
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

function missingMessage(stack: string, missing: string[], config: EnvConfig): string {
  const code = missing.filter((m) => m.startsWith('CodeKey') || m === 'LayerKeyPg');
  if (code.length)
    return `${stack}: no code to deploy for ${code.join(', ')}: run \`catalogctl release --env ${config.name}\` (packages and uploads), or \`catalogctl package --env ${config.name} --upload\` then deploy with --artifacts .build/${config.name}/manifest.json`;
  return `${stack}: parameters without a value: ${missing.join(', ')} (no default, and no upstream stack has an Output of that name; deploy the stacks before it first)`;
}

const changeSetName = (now: number) => `catalogctl-${new Date(now).toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;

type ChangeSetResult = { kind: 'no-changes'; created: boolean } | { kind: 'failed'; reason: string } | { kind: 'ready'; raw: Record<string, unknown> & { Changes?: unknown[] } };

type ChangeSetInput = StackInput & { changeSetName: string; description?: string };

async function createAndWaitChangeSet(r: Runner, input: ChangeSetInput): Promise<ChangeSetResult> {
  const { stackName: stack, changeSetName: name } = input;
  try {
    await r.callWithCapabilities(stack, 'CreateChangeSet', input.capabilities, () => r.cfn.createChangeSet(input));
  } catch (err) {
    // The emulator (and older CloudFormation behaviour) refuses an identical update outright.
    if (NO_CHANGES.test((err as Error).message)) return { kind: 'no-changes', created: false };
    throw err;
  }
  const since = r.now();
  for (;;) {
    const cs = await r.call(stack, 'DescribeChangeSet', () => r.cfn.describeChangeSet(stack, name));
    if (cs.status === 'CREATE_COMPLETE') return { kind: 'ready', raw: cs.raw };
    if (cs.status === 'FAILED') return NO_CHANGES.test(cs.statusReason ?? '') ? { kind: 'no-changes', created: true } : { kind: 'failed', reason: cs.statusReason ?? 'no reason given' };
    if (!/PENDING|IN_PROGRESS/.test(cs.status)) return { kind: 'failed', reason: `change set ${cs.status}` };
    r.checkAbort(`interrupted while CloudFormation was creating change set ${name} on ${stack}; nothing was executed`);
    await r.pause(stack, `change set ${cs.status}`, since);
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
async function waitForStack(r: Runner, stack: string, marker: string | undefined): Promise<{ status: string; failures: StackEvent[]; outputs: Record<string, string> }> {
  const failures: StackEvent[] = [];
  let last = marker;
  const since = r.now();
  for (;;) {
    const events = (await r.call(stack, 'DescribeStackEvents', () => r.cfn.describeStackEvents(stack, last))).reverse();
    for (const e of events) {
      const failed = e.status.endsWith('_FAILED');
      if (failed && e.reason && !/cancelled/i.test(e.reason)) failures.push(e);
      r.reporter.report({
        level: failed ? 'warn' : 'info',
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
    await r.pause(stack, s.status, since);
  }
}

async function newestEventId(r: Runner, stack: string): Promise<string | undefined> {
  const events = await r.call(stack, 'DescribeStackEvents', () => r.cfn.describeStackEvents(stack));
  return events[0]?.eventId;
}

type ChangeSetRun = { kind: 'no-changes' } | { kind: 'failed'; reason: string } | { kind: 'executed'; status: string; failures: StackEvent[]; outputs: Record<string, string> };

/** Executes a change set that is ready and waits for the stack, its events reported as they arrive. */
async function executeChangeSet(r: Runner, stack: string, name: string): Promise<Extract<ChangeSetRun, { kind: 'executed' }>> {
  const marker = await newestEventId(r, stack);
  r.reporter.report({ level: 'step', topic: 'deploy', message: `${stack}: executing ${name}`, data: { stack, changeSet: name } });
  await r.call(stack, 'ExecuteChangeSet', () => r.cfn.executeChangeSet(stack, name));
  return { kind: 'executed', ...(await waitForStack(r, stack, marker)) };
}

/** A change set created, waited for and executed, or deleted when it has no changes or failed. */
async function applyChangeSet(r: Runner, input: ChangeSetInput): Promise<ChangeSetRun> {
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
  return executeChangeSet(r, stack, name);
}

export type RecordOutcome = { kind: 'recorded'; changes: string[] } | { kind: 'up-to-date' } | { kind: 'skipped'; reason: string };

/**
 * Brings catalog-service's LiveVersion* and LiveDeploymentId parameters to what serves now, after
 * release or rollback moved traffic: a change set of those parameter values only, on the stack's
 * current template (UsePreviousTemplate), every other parameter and the stack's tags kept. The
 * aliases and the stage already serve these values, so executing it moves nothing; it keeps the
 * stack's record true, so `diff` afterwards has nothing to change on them and a stack update never
 * has a stale version to apply. Never throws for a stack problem: traffic has already moved, so
 * the caller only warns.
 */
export async function recordLiveState(config: EnvConfig, deps: StackDeps): Promise<RecordOutcome> {
  const r = new Runner(deps);
  const stack = stackName(config, 'catalog-service');
  const current = await r.call(stack, 'DescribeStacks', () => r.cfn.describeStack(stack));
  if (!current) return { kind: 'skipped', reason: `${stack} does not exist` };
  checkStackEnv(current, config.name);
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
  // The previous template is the one to acknowledge: it is what the change set applies.
  const capabilities = requiredCapabilities(await r.call(stack, 'GetTemplate', () => r.cfn.getTemplate(stack))).capabilities;
  const name = changeSetName(r.now());
  r.reporter.report({ level: 'step', topic: 'deploy', message: `${stack}: recording what serves now (${changes.join(', ')})`, data: { stack, changeSet: name } });
  const run = await applyChangeSet(r, { stackName: stack, changeSetName: name, template: { previous: true }, parameters, tags: current.tags, capabilities, description: `catalogctl: record the live versions of ${config.name}` });
  if (run.kind === 'no-changes') return { kind: 'up-to-date' };
  if (run.kind === 'failed') return { kind: 'skipped', reason: `change set failed: ${run.reason}` };
  if (run.status !== 'UPDATE_COMPLETE') return { kind: 'skipped', reason: `${stack} ended in ${run.status}: ${failureAdvice(stack, run.status)}` };
  r.reporter.report({ level: 'ok', topic: 'deploy', message: `${stack}: recorded what serves now`, data: { stack } });
  return { kind: 'recorded', changes };
}

function selected(opts: StackRunOptions): StackName[] {
  return STACK_NAMES.filter((s) => !opts.only || opts.only.includes(s));
}

/** One selected stack as planned: what deploy shows, and what it needs to execute it later. */
interface Planned {
  logical: StackName;
  name: string;
  template: Record<string, unknown>;
  current: StackSummary | undefined;
  capabilities: Capability[];
  plan: StackPlan;
  /** A change set made while planning, kept for execution while its parameters still hold. */
  changeSet?: { name: string; parameters: StackParameter[] };
  /** The change set made while planning failed (deploy stops before anything executes). */
  failedReason?: string;
}

interface PlanContext {
  mode: 'diff' | 'deploy';
  current: Map<StackName, StackSummary | undefined>;
  live: LiveState | undefined;
  templates: StackTemplates;
}

/**
 * Plans the selected stacks in order without changing any. `diff` deletes each change set as soon
 * as it is described; `deploy` keeps them (the caller executes or deletes them). A parameter that
 * is missing now but will be an Output of a stack planned before it (a new stack, or one that
 * changes) defers that stack's change set: its plan comes from the template.
 */
async function planStacks(r: Runner, opts: StackRunOptions, ctx: PlanContext, planned: Planned[] = []): Promise<Planned[]> {
  const { config } = opts;
  const tags = stackTags(config);
  const upstream: Record<string, string> = {};
  /** Output name → the stack planned before that will (re)produce it in this run. */
  const forthcoming = new Map<string, string>();
  for (const logical of STACK_NAMES) {
    const current = ctx.current.get(logical);
    const upstreamOutputs = { ...upstream };
    Object.assign(upstream, current?.outputs ?? {});
    if (!selected(opts).includes(logical)) continue;
    r.checkAbort(`${ctx.mode} interrupted before ${stackName(config, logical)}; nothing was changed`);
    const name = stackName(config, logical);
    const template = ctx.templates[logical];
    const capabilities = requiredCapabilities(template).capabilities;
    const live = logical === 'catalog-service' ? ctx.live : undefined;
    const { parameters, origins, missing } = resolveParameters(template as never, { config, upstreamOutputs, codeKeys: opts.codeKeys, live, previous: current?.parameters, overrides: opts.parameterOverrides?.[logical] });
    // Outputs a stack before it will produce in this run, which it would otherwise lack or take from its last deploy.
    const later = [...missing, ...Object.keys(origins).filter((k) => origins[k] === 'previous')].filter((k) => forthcoming.has(k));
    const never = missing.filter((k) => !forthcoming.has(k));
    const entry: Planned = { logical, name, template, current, capabilities, plan: { stack: name, kind: 'no-changes' } };
    planned.push(entry);
    if (!current) {
      // A deploy must be able to finish before it starts; a diff only previews a new stack.
      if (ctx.mode === 'deploy' && never.length) throw new UserInputError(missingMessage(name, never, config));
      entry.plan = await buildStackPlan(name, undefined, template, undefined, origins, [], { capabilities });
    } else if (blockedAdvice(name, current.status)) {
      entry.plan = { stack: name, kind: 'blocked', status: current.status, advice: blockedAdvice(name, current.status)! };
      if (ctx.mode === 'deploy') break;
      continue;
    } else if (never.length) {
      throw new UserInputError(missingMessage(name, never, config));
    } else if (later.length) {
      const deployed = await r.call(name, 'GetTemplate', () => r.cfn.getTemplate(name));
      const known = parameters.filter((p) => !later.includes(p.key));
      // Their values are not known yet: shown as pending, so the plan can never read as "no changes".
      const pending = later.map((key) => ({ key, ...(key in current.parameters ? { before: current.parameters[key] } : {}), after: `<${key} of ${forthcoming.get(key)}, once deployed>`, origin: 'upstream' as const }));
      const changes = [...parameterChanges(current.parameters, known, origins), ...pending].sort((a, b) => (a.key < b.key ? -1 : 1));
      entry.plan = await buildStackPlan(name, deployed, template, undefined, origins, changes, { capabilities, tagChanges: tagChanges(current.tags, tags) });
    } else {
      const csName = changeSetName(r.now());
      r.reporter.report({ level: 'progress', topic: ctx.mode, message: `${name}: creating change set ${csName}`, data: { stack: name, changeSet: csName } });
      const source = await templateSource(r, config, name, template);
      let cs: ChangeSetResult | undefined;
      try {
        cs = await createAndWaitChangeSet(r, { stackName: name, changeSetName: csName, template: source, parameters, tags, capabilities, description: `catalogctl ${ctx.mode} --env ${config.name}` });
      } finally {
        // Only a ready change set of a deploy is kept; a diff leaves nothing behind, even when waiting failed.
        const keep = ctx.mode === 'deploy' && cs?.kind === 'ready';
        if (!keep && !(cs?.kind === 'no-changes' && !cs.created)) await deleteChangeSet(r, name, csName);
      }
      if (cs.kind === 'failed') {
        if (ctx.mode === 'diff') throw new DeployError(`${name}: change set failed: ${cs.reason}`);
        entry.failedReason = cs.reason;
        break;
      }
      if (cs.kind === 'ready') {
        entry.changeSet = { name: csName, parameters };
        const deployed = await r.call(name, 'GetTemplate', () => r.cfn.getTemplate(name));
        entry.plan = await buildStackPlan(name, deployed, template, cs.raw, origins, parameterChanges(current.parameters, parameters, origins), { capabilities, tagChanges: tagChanges(current.tags, tags) });
      }
    }
    if (entry.plan.kind === 'create' || entry.plan.kind === 'update') for (const k of Object.keys((template.Outputs as Record<string, unknown> | undefined) ?? {})) forthcoming.set(k, name);
  }
  return planned;
}

const broadeningOf = (plans: StackPlan[]) =>
  plans.flatMap((p) => ((p.kind === 'create' || p.kind === 'update') && p.broadening.length ? [{ stack: p.stack, reasons: p.broadening }] : []));

const sameParameters = (a: StackParameter[], b: StackParameter[]) => canonicalJson(a) === canonicalJson(b);

/** Runs one planned stack: CreateStack, the kept change set, or a change set made now. */
async function executeOne(r: Runner, opts: StackRunOptions, p: Planned, upstreamOutputs: Record<string, string>, live: LiveState | undefined): Promise<StackOutcome> {
  const { config } = opts;
  const { name, current, template, capabilities } = p;
  if (p.plan.kind === 'no-changes') return { stack: name, kind: 'no-changes', outputs: current?.outputs ?? {} };
  const { parameters, origins, missing } = resolveParameters(template as never, { config, upstreamOutputs, codeKeys: opts.codeKeys, live, previous: current?.parameters, overrides: opts.parameterOverrides?.[p.logical] });
  if (missing.length) throw new UserInputError(missingMessage(name, missing, config));
  const tags = stackTags(config);

  if (!current) {
    const source = await templateSource(r, config, name, template);
    r.reporter.report({ level: 'step', topic: 'deploy', message: `${name}: creating`, data: { stack: name } });
    await r.callWithCapabilities(name, 'CreateStack', capabilities, () => r.cfn.createStack({ stackName: name, template: source, parameters, tags, capabilities }));
    const done = await waitForStack(r, name, undefined);
    if (done.status !== 'CREATE_COMPLETE') return { stack: name, kind: 'failed', status: done.status, failures: done.failures, advice: failureAdvice(name, done.status) };
    r.reporter.report({ level: 'ok', topic: 'deploy', message: `${name}: created`, data: { stack: name } });
    return { stack: name, kind: 'created', outputs: done.outputs };
  }

  let plan: StackPlan = p.plan;
  let csName: string;
  if (p.changeSet && sameParameters(p.changeSet.parameters, parameters)) csName = p.changeSet.name;
  else {
    // Planned from the template, or an upstream stack's Outputs changed since: a change set now.
    if (p.changeSet) await deleteChangeSet(r, name, p.changeSet.name);
    p.changeSet = undefined;
    csName = changeSetName(r.now());
    r.reporter.report({ level: 'progress', topic: 'deploy', message: `${name}: creating change set ${csName}`, data: { stack: name, changeSet: csName } });
    const source = await templateSource(r, config, name, template);
    const cs = await createAndWaitChangeSet(r, { stackName: name, changeSetName: csName, template: source, parameters, tags, capabilities, description: `catalogctl deploy --env ${config.name}` });
    if (cs.kind !== 'ready') {
      if (cs.kind === 'failed' || cs.created) await deleteChangeSet(r, name, csName);
      if (cs.kind === 'failed') return { stack: name, kind: 'failed', status: 'CHANGE_SET_FAILED', failures: [], advice: `change set failed: ${cs.reason}` };
      r.reporter.report({ level: 'ok', topic: 'deploy', message: `${name}: no changes`, data: { stack: name } });
      return { stack: name, kind: 'no-changes', outputs: current.outputs };
    }
    p.changeSet = { name: csName, parameters };
    const deployed = await r.call(name, 'GetTemplate', () => r.cfn.getTemplate(name));
    plan = await buildStackPlan(name, deployed, template, cs.raw, origins, parameterChanges(current.parameters, parameters, origins), { capabilities, tagChanges: tagChanges(current.tags, tags) });
    const more = exceedsPlan(plan, p.plan);
    r.reporter.report({ level: 'info', topic: 'deploy', message: `${name}: change set ${csName}${more ? ' does more than the plan shown before' : ''}`, data: { stack: name, plan, replanned: true } });
    if (more && opts.approve && !(await opts.approve({ plans: [plan], broadening: broadeningOf([plan]), replanned: true })))
      throw new UserInputError(`deploy: ${name} not approved; the stacks before it are deployed, ${name} and those after it are unchanged`);
  }
  r.checkAbort(`interrupted before executing change set ${csName} on ${name}; nothing was changed on it`);
  const run = await executeChangeSet(r, name, csName);
  p.changeSet = undefined;
  if (run.status !== 'UPDATE_COMPLETE') return { stack: name, kind: 'failed', status: run.status, failures: run.failures, advice: failureAdvice(name, run.status) };
  r.reporter.report({ level: 'ok', topic: 'deploy', message: `${name}: updated`, data: { stack: name } });
  return { stack: name, kind: 'updated', outputs: run.outputs, plan };
}

/**
 * Deploys the stacks: every plan shown (reported with `data.plan`) and approved before anything
 * executes, then each stack in order. Stops at the first failed or blocked stack (reported in
 * `failed`). Refuses (exit 2) before touching anything while a traffic shift is in progress unless
 * `ignoreShiftLock`, and for this env's stacks without an env tag unless `adoptUntagged`.
 * Change sets made for the plan and not executed are deleted however it ends.
 */
export async function deployStacks(opts: StackRunOptions, deps: StackDeps): Promise<DeployResult> {
  const r = new Runner(deps);
  const { config } = opts;
  const templates = opts.templates ?? (await renderedTemplates(config));
  const current = await describeAll(r, config);
  const wanted = selected(opts);
  const untagged = wanted.map((s) => current.get(s)).filter((s): s is StackSummary => !!s && s.tags[ENV_TAG] === undefined);
  if (untagged.length && !opts.adoptUntagged)
    throw new UserInputError(
      `deploy: ${untagged.map((s) => s.name).join(', ')} ${untagged.length === 1 ? 'has' : 'have'} no ${ENV_TAG} tag (created before stacks were tagged); if ${untagged.length === 1 ? 'it is' : 'they are'} env ${config.name}'s, run \`catalogctl deploy --env ${config.name} --adopt-untagged\` once to tag ${untagged.length === 1 ? 'it' : 'them'}; nothing was changed`,
    );
  // The shift lock is checked before any stack is touched.
  let live: LiveState | undefined;
  if (wanted.includes('catalog-service')) {
    const svc = stackName(config, 'catalog-service');
    const state = await r.call(svc, 'read live state', () => readLiveState(deps.aws, current.get('catalog-service')?.outputs ?? {}));
    if (state.shifting.length && !opts.ignoreShiftLock)
      throw new UserInputError(`deploy: a traffic shift is in progress on ${state.shifting.join(', ')}; finish it (release --resume) or run rollback first`);
    live = state.live;
  }
  await opts.preflight?.();
  const planned: Planned[] = [];
  try {
    // Filled as it goes, so the change sets of a planning that fails half-way are deleted too.
    await planStacks(r, opts, { mode: 'deploy', current, live, templates }, planned);
    const plans = planned.map((p) => p.plan);
    for (const p of plans) r.reporter.report({ level: 'info', topic: 'deploy', message: `${p.stack}: plan`, data: { stack: p.stack, plan: p } });
    const stopped = planned.find((p) => p.plan.kind === 'blocked' || p.failedReason !== undefined);
    if (stopped) {
      const failed: DeployResult['failed'] =
        stopped.plan.kind === 'blocked'
          ? { stack: stopped.name, kind: 'blocked', status: stopped.plan.status, advice: stopped.plan.advice }
          : { stack: stopped.name, kind: 'failed', status: 'CHANGE_SET_FAILED', failures: [], advice: `change set failed: ${stopped.failedReason}` };
      return { stacks: [failed], failed, plans };
    }
    if (plans.every((p) => p.kind === 'no-changes')) return { stacks: planned.map((p) => ({ stack: p.name, kind: 'no-changes', outputs: p.current?.outputs ?? {} })), plans };
    if (opts.approve && !(await opts.approve({ plans, broadening: broadeningOf(plans) }))) throw new UserInputError(`deploy: not approved; nothing was changed`);

    const result: DeployResult = { stacks: [], plans };
    const byLogical = new Map(planned.map((p) => [p.logical, p]));
    const upstream: Record<string, string> = {};
    for (const logical of STACK_NAMES) {
      const p = byLogical.get(logical);
      if (!p) {
        Object.assign(upstream, current.get(logical)?.outputs ?? {});
        continue;
      }
      r.checkAbort(`interrupted before ${p.name}; the stacks before it are deployed`);
      const outcome = await executeOne(r, opts, p, { ...upstream }, logical === 'catalog-service' ? live : undefined);
      result.stacks.push(outcome);
      if (outcome.kind === 'failed' || outcome.kind === 'blocked') {
        result.failed = outcome;
        return result;
      }
      Object.assign(upstream, outcome.outputs);
    }
    return result;
  } finally {
    for (const p of planned) if (p.changeSet) await deleteChangeSet(r, p.name, p.changeSet.name);
  }
}

/**
 * The plan for each stack: a change set per existing stack (deleted afterwards), the template's
 * resources for a stack that does not exist yet. Changes nothing.
 */
export async function diffStacks(opts: StackRunOptions, deps: StackDeps): Promise<{ plans: StackPlan[]; shifting: string[] }> {
  const r = new Runner(deps);
  const { config } = opts;
  const templates = opts.templates ?? (await renderedTemplates(config));
  const current = await describeAll(r, config);
  let live: LiveState | undefined;
  let shifting: string[] = [];
  if (selected(opts).includes('catalog-service')) {
    const state = await r.call(stackName(config, 'catalog-service'), 'read live state', () => readLiveState(deps.aws, current.get('catalog-service')?.outputs ?? {}));
    live = state.live;
    shifting = state.shifting;
  }
  const planned = await planStacks(r, opts, { mode: 'diff', current, live, templates });
  return { plans: planned.map((p) => p.plan), shifting };
}
