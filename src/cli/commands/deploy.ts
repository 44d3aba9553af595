import type { Command } from 'commander';
import { DeployError, UserInputError } from '../../errors.ts';
import type { Reporter } from '../../reporter.ts';
import type { VerifyOptions } from '../../verify/index.ts';
import { addAwsFlags } from '../aws-flags.ts';

export interface AwsFlags {
  env: string;
  envDir: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

export function awsOptions(cmd: Command): Command {
  return addAwsFlags(cmd.requiredOption('--env <name>', 'environment (envs/<name>.yaml)').option('--env-dir <dir>', 'where env files live', 'envs'));
}

/**
 * Loads the env and builds the AWS interface after the account guard (exit 2 on a mismatch), with
 * the env guard on stacks (a stack tagged for another env is exit 2); a stack without the env tag
 * is read as this env's, with a warning.
 */
export async function connect(flags: AwsFlags) {
  const { loadEnv } = await import('../../config/load.ts');
  const { createGuardedAwsApi } = await import('../../aws/index.ts');
  const { ENV_TAG } = await import('../../aws/stack-guard.ts');
  const { cliReporter } = await import('../output.ts');
  const config = await loadEnv(flags.env, { envDir: flags.envDir });
  const warn = cliReporter();
  const onUntagged = (stack: string) =>
    warn.report({ level: 'warn', topic: 'stacks', message: `${stack} has no ${ENV_TAG} tag (created before stacks were tagged); read as env ${config.name}'s: \`catalogctl deploy --env ${config.name} --adopt-untagged\` tags it` });
  const aws = await createGuardedAwsApi({ region: flags.region ?? config.account.region, profile: flags.profile, endpoint: flags.endpointUrl }, config, { onUntagged });
  return { config, aws };
}

/**
 * The seed's deployment verification against the stage, as a gate before each traffic step: the
 * API, the audit bus through its log group (catalog-service's AuditLogGroupName), and the database
 * only when $DATABASE_URL is set.
 */
async function verifyGate(aws: Awaited<ReturnType<typeof connect>>['aws'], config: Awaited<ReturnType<typeof connect>>['config'], requests: number, reporter: Reporter) {
  const { stackName } = await import('../../config/types.ts');
  const name = stackName(config, 'catalog-service');
  const stack = await aws.cloudformation.describeStack(name);
  const baseUrl = stack?.outputs.ApiUrl;
  if (!baseUrl) throw new DeployError(`--verify: stack ${name} of ${config.name} has no ApiUrl output`);
  const logGroup = stack?.outputs.AuditLogGroupName;
  const { verify, failingChecks } = await import('../../verify/index.ts');
  const { auditFromLogs, auditUnavailable } = await import('../../verify/audit-logs.ts');
  let auditEmitted: VerifyOptions['auditEmitted'] = auditUnavailable(`stack ${name} of ${config.name} has no AuditLogGroupName output (the audit bus's log group)`);
  if (logGroup) {
    const { createLogsApi } = await import('../../aws/logs.ts');
    auditEmitted = auditFromLogs(await createLogsApi(aws.target), logGroup);
  }
  // verify's own steps (the probes, waiting for the audit event) shown as progress of the release.
  const progress: Reporter = { report: (e) => reporter.report({ ...e, level: 'progress' }) };
  return async (step: number) => {
    reporter.report({ level: 'step', topic: 'release', message: `verifying ${baseUrl} before ${step}%`, data: { step } });
    const report = await verify({ baseUrl, token: process.env.CATALOGCTL_TOKEN || undefined, requests, databaseUrl: process.env.DATABASE_URL || undefined, auditEmitted, mode: 'aws', reporter: progress });
    return report.ok ? ({ ok: true } as const) : ({ ok: false, reason: `verify failed ${failingChecks(report).join(', ')}` } as const);
  };
}

/**
 * Where release and rollback speak: human progress on stderr and a summary line on stdout, or with
 * --json one JSON event per line on stdout and a summary object last (also when the command fails,
 * with the exit code it ends with).
 */
async function commandOutput(json: boolean | undefined, command: string, env: string, printPlans: boolean) {
  const { jsonLinesReporter } = await import('../output.ts');
  if (json) {
    const out = jsonLinesReporter(process.stdout);
    return {
      reporter: out,
      done: (summary: Record<string, unknown>, _human: string) => out.summary({ command, env, ...summary }),
      async failed(err: unknown, extra: Record<string, unknown> = {}) {
        const { exitCodeFor } = await import('../main.ts');
        const { code, message } = exitCodeFor(err);
        out.summary({ command, env, outcome: 'failed', ...extra, error: message ?? String(err), exitCode: code });
      },
    };
  }
  return {
    reporter: printPlans ? await deployReporter() : (await import('../output.ts')).cliReporter(),
    done: (_summary: Record<string, unknown>, human: string) => void process.stdout.write(human),
    failed: async (_err: unknown, _extra?: Record<string, unknown>) => undefined,
  };
}

interface StackFlags extends AwsFlags {
  stack?: string[];
  templatesDir?: string;
  artifacts?: string;
  json?: boolean;
}

interface DeployFlags extends StackFlags {
  approve?: boolean;
  requireApproval: string;
  adoptUntagged?: boolean;
  skipPreflight?: boolean;
}

/** The five `<stack>.json` files of a directory such as templates-out/<env>. */
async function readTemplatesDir(dir: string) {
  const { STACK_NAMES } = await import('../../config/types.ts');
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const templates = {} as Record<(typeof STACK_NAMES)[number], Record<string, unknown>>;
  for (const s of STACK_NAMES) {
    const file = join(dir, `${s}.json`);
    try {
      templates[s] = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UserInputError(`--templates-dir: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  return templates;
}

/**
 * The CLI reporter, which prints each stack's plan (all of them before anything executes, and a
 * stack's again when its change set, made later, shows more) in place of the plan event's line.
 */
async function deployReporter() {
  const { formatStackPlan } = await import('../../deploy/print-plan.ts');
  const { cliReporter, writeErr } = await import('../output.ts');
  // The plans go to stderr with the progress, so their colour follows stderr.
  const style = await planStyle(process.stderr);
  const printer = cliReporter();
  return {
    report: (e: Parameters<typeof printer.report>[0]) => {
      const plan = e.data?.plan as Parameters<typeof formatStackPlan>[0] | undefined;
      if (!plan || e.data?.replanned) printer.report(e);
      // writeErr erases a live progress line first (without escapes under NO_COLOR or TERM=dumb).
      if (plan) writeErr(formatStackPlan(plan, style));
    },
  };
}

/**
 * --stack (repeatable): one of the five stacks, by its seed name (catalog-network, …) or by this
 * env's stack name (<stackPrefix>-network, …); --artifacts read as a package manifest.
 */
async function stackOptions(flags: StackFlags, config: { stackPrefix: string }) {
  const { STACK_NAMES, stackName } = await import('../../config/types.ts');
  const only = (flags.stack ?? []).map((s) => {
    const logical = STACK_NAMES.find((l) => l === s || stackName(config, l) === s);
    if (!logical) throw new UserInputError(`--stack: "${s}" is not one of ${STACK_NAMES.map((l) => (stackName(config, l) === l ? l : `${l} (${stackName(config, l)})`)).join(', ')}`);
    return logical;
  });
  let codeKeys;
  if (flags.artifacts) {
    const { readFile } = await import('node:fs/promises');
    const { codeKeysFromManifest } = await import('../../deploy/params.ts');
    let manifest;
    try {
      manifest = JSON.parse(await readFile(flags.artifacts, 'utf8'));
    } catch (err) {
      throw new UserInputError(`--artifacts: cannot read ${flags.artifacts}: ${(err as Error).message}`);
    }
    if (typeof manifest?.functions !== 'object') throw new UserInputError(`--artifacts: ${flags.artifacts} is not a package manifest (no "functions")`);
    codeKeys = codeKeysFromManifest(manifest);
  }
  const templates = flags.templatesDir ? await readTemplatesDir(flags.templatesDir) : undefined;
  return { only: only.length ? only : undefined, codeKeys, templates };
}

async function planStyle(stream: NodeJS.WriteStream = process.stdout) {
  const { plainPlanStyle } = await import('../../deploy/print-plan.ts');
  const { chalkFor, colorEnabled } = await import('../output.ts');
  if (!colorEnabled(stream)) return plainPlanStyle;
  const chalk = await chalkFor(stream);
  return { add: chalk.green, remove: chalk.red, modify: chalk.yellow, warn: chalk.magenta, dim: chalk.dim, bold: chalk.bold };
}

/** diff and deploy: change sets over the five stacks. */
function registerStackCommands(program: Command): void {
  const stackOption = (cmd: Command) =>
    cmd
      .option('--stack <name>', "only this stack (repeatable), e.g. catalog-service; the others' Outputs are still read", (v: string, acc: string[] = []) => [...acc, v])
      .option('--artifacts <manifest.json>', 'code to deploy: a `catalogctl package` manifest (default: keep the deployed code)')
      .option('--templates-dir <dir>', 'deploy the <stack>.json files in this directory, e.g. the reviewed templates-out/<env> (default: render from the env file)');

  stackOption(awsOptions(program.command('diff').description('Show what a deploy would change, per stack, from one change set each (deleted afterwards)')))
    .option('--json', 'print the plans as JSON')
    .option('--fail', 'exit 4 when any stack would change (0 when none would)')
    .addHelpText(
      'after',
      `
Examples:
  $ catalogctl diff --env dev
  $ catalogctl diff --env prod --stack catalog-service --artifacts .build/prod/manifest.json
  $ catalogctl diff --env staging --fail >/dev/null || echo "staging drifts from the env file"
  $ catalogctl diff --env dev --json | jq '.plans[] | {stack, kind}'

Exit codes: 0 plan shown (with --fail: nothing would change), 2 bad input / account mismatch /
a stack tagged for another env, 3 AWS failure, 4 with --fail: something would change.`,
    )
    .action(async (flags: StackFlags & { fail?: boolean }) => {
      const { config, aws } = await connect(flags);
      const { only, codeKeys, templates } = await stackOptions(flags, config);
      const { diffStacks } = await import('../../deploy/stacks.ts');
      const { formatPlans } = await import('../../deploy/print-plan.ts');
      const { cliReporter } = await import('../output.ts');
      const { plans, shifting } = await diffStacks({ config, only, codeKeys, templates }, { aws, reporter: cliReporter() });
      if (flags.json) {
        const { canonicalJson } = await import('../../util/canonical-json.ts');
        process.stdout.write(canonicalJson({ env: config.name, plans, shiftInProgress: shifting }));
      } else {
        process.stdout.write(formatPlans(plans, await planStyle()));
        if (shifting.length) process.stdout.write(`\nnote: a traffic shift is in progress on ${shifting.join(', ')}; deploy refuses until it is finished or rolled back\n`);
      }
      const changing = plans.filter((p) => p.kind !== 'no-changes');
      if (flags.fail && changing.length) {
        const { CheckFailedError } = await import('../../errors.ts');
        throw new CheckFailedError(`diff: ${changing.length} stack(s) would change: ${changing.map((p) => p.stack).join(', ')}`);
      }
    });

  stackOption(awsOptions(program.command('deploy').description('Create or update the stacks in order network → storage → secrets → service → observability, after showing every plan')))
    .option('--approve', 'deploy without asking (needed without a terminal)')
    .option('--require-approval <when>', 'when to ask: any-change, or broadening (only IAM or security-group broadening asks)', 'any-change')
    .option('--adopt-untagged', 'tag this env\'s stacks that were created before stacks were tagged (catalog:env), instead of refusing them')
    .option('--skip-preflight', 'do not run the preflight checks first (e.g. against an emulator that cannot answer them)')
    .option('--json', 'one JSON event per line on stdout, then a summary object')
    .addHelpText(
      'after',
      `
First the preflight checks (see \`catalogctl preflight\`), then every stack's plan — new stacks
from their template, existing ones from a change set — before anything executes. On a terminal
deploy asks; without one it needs --approve. IAM or security-group broadening is called out, and
asks even with --require-approval broadening. New stacks are created directly; existing ones are
updated through the change set shown. The live aliases and the API stage keep serving what they
serve: only release and rollback move traffic.

Examples:
  $ catalogctl deploy --env dev
  $ catalogctl deploy --env prod --artifacts .build/prod/manifest.json --approve
  $ catalogctl deploy --env staging --stack catalog-observability --require-approval broadening
  $ catalogctl deploy --env dev --templates-dir templates-out/dev --approve --json | jq -c 'select(.type == "summary")'

Exit codes: 0 deployed or nothing to change, 2 bad input / account mismatch / a stack tagged for
another env / untagged stacks without --adopt-untagged / not approved (or no terminal and no
--approve) / shift in progress, 3 a preflight check or a stack failed, or a stack is in a state
that needs a hand (the message says what to do), 130 interrupted.`,
    )
    .action(async (flags: DeployFlags) => {
      if (flags.requireApproval !== 'any-change' && flags.requireApproval !== 'broadening')
        throw new UserInputError(`--require-approval: must be any-change or broadening, got "${flags.requireApproval}"`);
      const { config, aws } = await connect(flags);
      const { only, codeKeys, templates } = await stackOptions(flags, config);
      const { deployStacks, renderedTemplates } = await import('../../deploy/stacks.ts');
      const { jsonLinesReporter } = await import('../output.ts');
      const json = flags.json ? jsonLinesReporter() : undefined;
      const reporter = json ?? (await deployReporter());
      const stackTemplates = templates ?? (await renderedTemplates(config));
      const preflight = async () => {
        if (flags.skipPreflight) reporter.report({ level: 'warn', topic: 'preflight', message: 'preflight checks skipped (--skip-preflight)' });
        else await preflightOrStop(config, aws, stackTemplates, flags.region ?? config.account.region, reporter, !json);
      };
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      let summarized = false;
      try {
        const result = await deployStacks(
          { config, only, codeKeys, templates: stackTemplates, adoptUntagged: flags.adoptUntagged, preflight, approve: (req) => approveDeploy(config.name, flags, req) },
          { aws, reporter, signal: abort.signal },
        );
        const f = result.failed;
        if (json) {
          json.summary({ env: config.name, outcome: f ? f.kind : result.stacks.every((s) => s.kind === 'no-changes') ? 'no-changes' : 'deployed', stacks: result.stacks.map(({ stack, kind }) => ({ stack, kind })) });
          summarized = true;
        } else for (const s of result.stacks) process.stdout.write(`${s.stack}: ${s.kind}\n`);
        if (f) {
          const events = f.kind === 'failed' ? f.failures.map((e) => `\n  ${e.logicalId} ${e.status}: ${e.reason ?? ''}`).join('') : '';
          throw new DeployError(`deploy: ${f.stack} ${f.kind === 'blocked' ? `cannot be deployed (${f.status})` : `failed (${f.status})`}: ${f.advice}${events}`);
        }
      } catch (err) {
        // --json always ends with a summary, also when deploy stops before or during the stacks.
        if (json && !summarized) {
          const { CatalogError } = await import('../../errors.ts');
          json.summary({ env: config.name, outcome: 'stopped', exitCode: err instanceof CatalogError ? err.exitCode : 1, error: (err as Error).message });
        }
        throw err;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}

/**
 * The approval deploy asks for before anything executes (and again for a stack whose change set
 * shows more than its plan did): --approve answers yes; --require-approval broadening lets changes
 * that widen nothing through; otherwise a terminal is asked, and without one it is exit 2.
 */
async function approveDeploy(env: string, flags: DeployFlags, req: import('../../deploy/stacks.ts').ApprovalRequest): Promise<boolean> {
  if (flags.approve) return true;
  if (flags.requireApproval === 'broadening' && req.broadening.length === 0) return true;
  const changing = req.plans.filter((p) => p.kind === 'create' || p.kind === 'update').map((p) => p.stack);
  const broadens = req.broadening.map((b) => `${b.stack} ${b.reasons.join(' and ')}`).join('; ');
  const what = `${req.replanned ? 'the change set of ' : ''}${changing.join(', ')}${broadens ? ` (broadens access: ${broadens})` : ''}`;
  if (!process.stdin.isTTY) throw new UserInputError(`deploy: ${what} needs approval and there is no terminal to ask: pass --approve; nothing was changed`);
  const { confirm } = await import('../prompt.ts');
  return confirm(`${broadens ? `These changes broaden access: ${broadens}.\n` : ''}Deploy ${changing.length} stack(s) to ${env}? [y/N] `);
}

/** Preflight first thing in deploy: the table, and exit 3 before anything changes when a check fails. */
async function preflightOrStop(
  config: Awaited<ReturnType<typeof connect>>['config'],
  aws: Awaited<ReturnType<typeof connect>>['aws'],
  templates: import('../../deploy/stacks.ts').StackTemplates,
  region: string,
  reporter: { report: (e: import('../../reporter.ts').ReportEvent) => void },
  table: boolean,
): Promise<void> {
  const { createPreflightApis, formatPreflight, runPreflight } = await import('../../deploy/preflight.ts');
  reporter.report({ level: 'step', topic: 'preflight', message: 'preflight checks' });
  const rows = await runPreflight(config, await createPreflightApis(aws), { region, templates });
  const failed = rows.filter((r) => !r.ok);
  reporter.report({ level: failed.length ? 'warn' : 'ok', topic: 'preflight', message: failed.length ? `${failed.length} preflight check(s) failed` : 'preflight checks passed', data: { checks: rows } });
  if (table) process.stderr.write(formatPreflight(rows));
  if (failed.length) throw new DeployError(`deploy: preflight failed (${failed.map((r) => r.check).join(', ')}); nothing was changed`);
}

/** Who runs this release, as the release lock records it: user@host, pid, and the CI job when there is one. */
async function lockHolder(): Promise<string> {
  const os = await import('node:os');
  let user = process.env.USER ?? 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  const ci = process.env.GITHUB_RUN_ID ? ` (GitHub run ${process.env.GITHUB_RUN_ID})` : process.env.CI_JOB_ID ? ` (CI job ${process.env.CI_JOB_ID})` : '';
  return `${user}@${os.hostname()} pid ${process.pid}${ci}`;
}

const pct = (w: number) => `${Math.round(w * 1000) / 10}%`;

type CommandOutput = Awaited<ReturnType<typeof commandOutput>>;

/** The end of a release that shifted traffic, here or in AWS: the summary, or exit 3 with the reason. */
async function releaseEnded(r: Extract<import('../../deploy/release.ts').ReleaseResult, { kind: 'released' }>, out: CommandOutput): Promise<void> {
  const summary = {
    releaseId: r.releaseId,
    functions: r.manifest.functions,
    deploymentBefore: r.manifest.deploymentBefore,
    deploymentAfter: r.manifest.deploymentAfter,
    recorded: r.recorded.kind,
    ...(r.execution ? { execution: r.execution } : {}),
  };
  if (r.outcome.kind === 'rolled-back') {
    const o = r.outcome;
    const err = new DeployError(`release ${r.releaseId} ${o.atStep === 0 ? 'not shifted' : 'rolled back'}: ${o.reason}`);
    await out.failed(err, { ...summary, outcome: o.atStep === 0 ? 'not-shifted' : 'rolled-back', reason: o.reason, atStep: o.atStep, alarms: o.alarms });
    throw err;
  }
  const versions = r.manifest.functions.map((f) => `${f.functionName} v${f.versionAfter}${f.versionBefore === f.versionAfter ? ' (unchanged)' : ''}`);
  out.done({ ...summary, outcome: 'promoted' }, `release ${r.releaseId}: promoted (${versions.join(', ')})\n`);
}

/** `release --follow`: attach to the release running in AWS; Ctrl-C detaches again. */
async function followCommand(flags: AwsFlags & { json?: boolean }): Promise<void> {
  const out = await commandOutput(flags.json, 'release', flags.env, false);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    const { config, aws } = await connect(flags);
    const { followRelease } = await import('../../deploy/release.ts');
    const r = await followRelease(config, aws, { reporter: out.reporter, signal: abort.signal });
    if (r.kind === 'nothing-to-follow') {
      out.done({ outcome: 'nothing-to-follow' }, `release: no release of ${config.name} is running in AWS; nothing to follow\n`);
      return;
    }
    if (r.kind === 'released') await releaseEnded(r, out);
  } catch (err) {
    if (!(err instanceof DeployError && /^release \S+ (not shifted|rolled back):/.test(err.message))) await out.failed(err);
    throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

export function registerDeployCommands(program: Command): void {
  registerStackCommands(program);

  awsOptions(program.command('release').description('Package and upload, deploy the stacks, run migrations, publish versions and shift the live aliases behind the alarms'))
    .option('--bake <seconds>', "bake time after each traffic step (default: the env file's)")
    .option('--skip-deploy', 'only publish and shift new versions of what the stacks already run (no package, deploy or migrations)')
    .option('--skip-migrations', 'do not invoke the migrate function (migrations run another way, e.g. `catalogctl db migrate`)')
    .option('--templates-dir <dir>', 'deploy the <stack>.json files in this directory, e.g. the reviewed templates-out/<env> (default: render from the env file)')
    .option('--approve', 'approve the shift without an interactive confirmation')
    .option('--resume', 'continue a shift left in progress instead of refusing')
    .option('--force-unlock', 'remove a release lock left by a run that is no longer running (status shows who holds it)')
    .option('--verify', "gate every traffic step on `catalogctl verify` against the stage's ApiUrl (token: $CATALOGCTL_TOKEN)")
    .option('--verify-requests <n>', 'health probe requests per gate', '20')
    .option('--on <where>', "where the traffic shift runs: cli (this process) or aws (the env's release state machine; default: the env file's release.shift, else cli)")
    .option('--follow', 'attach to the release running in AWS Step Functions and follow it to its end (nothing else is done)')
    .option('--json', 'one JSON event per line on stdout, then a summary object')
    .addHelpText(
      'after',
      `
Gates (docs/deploy.md): every alarm named in catalog-observability's AlarmNames must exist and be
OK before traffic moves and at every poll of each bake; each new version's own failures (the
authorizer's AuthorizerFailures metric, Lambda Errors for the others) must stay within the env's
error rate. Code, configuration, API and stage variables equal to what serves: nothing to release.

With --on aws the shift runs in the env's release state machine (catalog-service deploys it):
everything up to the shift runs here, then the execution is started with the plan and followed
with the same progress. Ctrl-C detaches without stopping it; \`release --follow\` attaches again,
\`status\` shows where it is, \`rollback\` stops it and restores.

Examples:
  $ catalogctl release --env dev                         # package, deploy, migrate, shift 10/50/100
  $ catalogctl release --env prod --approve --verify     # CI: approved, verify gating every step
  $ catalogctl release --env prod --approve --on aws     # the shift runs in AWS Step Functions
  $ catalogctl release --env prod --follow               # attach to the release running in AWS
  $ catalogctl release --env dev --skip-deploy --bake 0  # shift new versions of what the stacks run
  $ catalogctl release --env dev --resume                # finish a shift left in progress
  $ catalogctl release --env dev --json | jq -c 'select(.type == "summary")'

Exit codes: 0 promoted, nothing to release or nothing to follow, 2 bad input / not approved /
shift in progress / another release holds the lock, 3 AWS failure, a missing gating alarm or a
gate rollback, 130 interrupted (previous release restored; with --on aws: detached, the release
carries on in AWS).`,
    )
    .action(async (flags: AwsFlags & { bake?: string; approve?: boolean; resume?: boolean; forceUnlock?: boolean; verify?: boolean; verifyRequests: string; skipDeploy?: boolean; skipMigrations?: boolean; templatesDir?: string; on?: string; follow?: boolean; json?: boolean }) => {
      if (flags.bake !== undefined && !/^\d{1,5}$/.test(flags.bake)) throw new UserInputError(`--bake: must be whole seconds, got "${flags.bake}"`);
      if (!/^[1-9]\d{0,3}$/.test(flags.verifyRequests)) throw new UserInputError(`--verify-requests: must be a whole number from 1 to 9999, got "${flags.verifyRequests}"`);
      if (flags.on !== undefined && flags.on !== 'cli' && flags.on !== 'aws') throw new UserInputError(`--on: must be cli or aws, got "${flags.on}"`);
      if (flags.on === 'aws' && flags.verify) throw new UserInputError('--verify gates each step from this process: it cannot gate a shift run in AWS (--on cli)');
      if (flags.follow) {
        const other = (['bake', 'skipDeploy', 'skipMigrations', 'templatesDir', 'approve', 'resume', 'forceUnlock', 'verify', 'on'] as const).find((k) => flags[k] !== undefined && flags[k] !== false);
        if (other) throw new UserInputError(`--follow attaches to a release already running: it takes no --${other.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        return followCommand(flags);
      }
      const out = await commandOutput(flags.json, 'release', flags.env, true);
      const abort = new AbortController();
      // Kept for the whole release so a second Ctrl-C cannot kill the restore half-way.
      const onSignal = (): void => abort.abort();
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      try {
        const { config, aws } = await connect(flags);
        const gate = flags.verify ? await verifyGate(aws, config, Number(flags.verifyRequests), out.reporter) : undefined;
        const { release } = await import('../../deploy/release.ts');
        const templates = flags.templatesDir ? await readTemplatesDir(flags.templatesDir) : undefined;
        const reporter = out.reporter;
        const artifacts = async () => {
          const { readFile } = await import('node:fs/promises');
          const { allArtifacts, packageArtifacts, uploadArtifacts } = await import('../../package/index.ts');
          const { codeKeysFromManifest } = await import('../../deploy/params.ts');
          const manifest = await packageArtifacts({ config, rootDir: process.cwd(), outDir: `.build/${config.name}`, reporter });
          try {
            await uploadArtifacts(aws.s3, manifest, reporter, (p) => readFile(p));
          } catch (err) {
            throw new DeployError(`release: upload failed: ${(err as Error).message}`);
          }
          return { codeKeys: codeKeysFromManifest(manifest), artifactKeys: Object.fromEntries(allArtifacts(manifest).map(([n, a]) => [n, a.key])) };
        };
        const r = await release(config, aws, {
          bakeSeconds: flags.bake === undefined ? undefined : Number(flags.bake),
          resume: flags.resume,
          forceUnlock: flags.forceUnlock,
          lockHolder: await lockHolder(),
          signal: abort.signal,
          gate,
          reporter,
          templates,
          artifacts: flags.skipDeploy ? undefined : artifacts,
          skipMigrations: flags.skipMigrations,
          on: flags.on as 'cli' | 'aws' | undefined,
          approve: async (plan) => {
            if (flags.approve) return true;
            if (!process.stdin.isTTY) throw new UserInputError(`release: env ${config.name} requires approval; pass --approve or run on a terminal`);
            const lines = plan.functions.map((f) => `  ${f.functionName}: ${f.previousVersion} → ${f.newVersion}${f.previousVersion === f.newVersion ? ' (unchanged)' : ''}`);
            const before = plan.previousStageVariables ?? {};
            const after = plan.newStageVariables ?? before;
            const varChanges = [...new Set([...Object.keys(before), ...Object.keys(after)])]
              .sort()
              .filter((k) => before[k] !== after[k])
              .map((k) => `  stage variable ${k}: ${before[k] ?? '(unset)'} → ${after[k] ?? '(removed)'}`);
            process.stderr.write(
              `Release plan for ${config.name}:\n${[...lines, `  stage ${plan.stageName}: ${plan.previousDeploymentId} → ${plan.newDeploymentId}`, ...varChanges, `  steps ${plan.steps.join('/')}% with ${plan.bakeSeconds}s bakes`].join('\n')}\n`,
            );
            const rl = (await import('node:readline/promises')).createInterface({ input: process.stdin, output: process.stderr });
            try {
              return /^y(es)?$/i.test((await rl.question('Shift traffic? [y/N] ')).trim());
            } finally {
              rl.close();
            }
          },
        });
        if (r.kind === 'nothing-to-release') {
          out.done({ outcome: 'nothing-to-release', unchanged: r.unchanged }, `release: nothing to release for ${config.name} (${r.unchanged.join(', ')})\n`);
          return;
        }
        await releaseEnded(r, out);
      } catch (err) {
        if (!(err instanceof DeployError && /^release \S+ (not shifted|rolled back):/.test(err.message))) await out.failed(err);
        throw err;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });

  awsOptions(program.command('rollback').description('Put the live aliases and the API stage (deployment and variables) back on what served before the latest release'))
    .option('--to <release-id>', 'put back what this (promoted) release promoted instead')
    .option('--json', 'one JSON event per line on stdout, then a summary object')
    .addHelpText(
      'after',
      `
A release running in AWS Step Functions (release --on aws) is stopped first (StopExecution), so it
moves nothing afterwards. Traffic moves first (aliases, then the stage); then catalog-service's
LiveVersion*/LiveDeploymentId parameters are set to what now serves, so diff has nothing to change
on them. A second run changes nothing. Rollback never waits for the release lock: it is the way out
of a release that misbehaves.

Examples:
  $ catalogctl rollback --env prod                                # back to what served before the latest release
  $ catalogctl rollback --env prod --to r20261122T181153Z-1fb1    # onto what that release promoted
  $ catalogctl status --env prod                                  # lists the releases --to accepts
  $ catalogctl rollback --env dev --json

Exit codes: 0 rolled back or nothing to do, 2 bad input / account mismatch / unknown or
never-promoted --to, 3 AWS failure.`,
    )
    .action(async (flags: AwsFlags & { to?: string; json?: boolean }) => {
      const out = await commandOutput(flags.json, 'rollback', flags.env, false);
      try {
        const { config, aws } = await connect(flags);
        const { rollback } = await import('../../deploy/release.ts');
        // The changes themselves are printed at the end, on stdout; the reporter shows the stack record and warnings.
        const reporter = flags.json ? out.reporter : { report: (e: Parameters<typeof out.reporter.report>[0]) => (e.topic !== 'rollback' || e.level === 'warn') && out.reporter.report(e) };
        const r = await rollback(config, aws, { to: flags.to, reporter });
        const summary = { outcome: r.changed.length ? 'rolled-back' : 'already-in-place', releaseId: r.releaseId, to: flags.to ?? null, changed: r.changed, ...(r.recorded ? { recorded: r.recorded.kind } : {}) };
        out.done(
          summary,
          r.changed.length === 0 ? `rollback (release ${r.releaseId}): already in place, nothing changed\n` : `rollback (release ${r.releaseId}):\n${r.changed.map((c) => `  ${c}`).join('\n')}\n`,
        );
      } catch (err) {
        await out.failed(err);
        throw err;
      }
    });

  awsOptions(program.command('status').description('Show the stack states, what each alias serves, the stage deployment and variables, any shift in progress and the last releases'))
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `
Shows a release running in AWS Step Functions (release --on aws) and where it is. Also warns
about operator-set secrets that still hold the placeholder CloudFormation generated
(set them with \`catalogctl secrets set\`), and about secrets older than they should be: the
poller's token beyond the env's rotation period (database.secretRotationDays), a rotated secret
beyond its own schedule (its rotation is failing).

Examples:
  $ catalogctl status --env dev
  $ catalogctl status --env prod --json | jq '.aliases'

Exit codes: 0 status shown, 2 bad input / account mismatch / a stack tagged for another env,
3 AWS failure.`,
    )
    .action(async (flags: AwsFlags & { json?: boolean }) => {
      const { config, aws } = await connect(flags);
      const { status } = await import('../../deploy/release.ts');
      const { placeholderSecrets } = await import('../../deploy/secrets.ts');
      const { createSecretsManagerApi } = await import('../../aws/secretsmanager.ts');
      const { canonicalJson } = await import('../../util/canonical-json.ts');
      const s = await status(config, aws);
      const secrets = await placeholderSecrets(config, { cloudformation: aws.cloudformation, secrets: await createSecretsManagerApi(aws.target) });
      const { secretAges, secretAgeWarnings } = await import('../../ops/secret-age.ts');
      const { createSecretsInspectApi } = await import('../../aws/secretsmanager.ts');
      const ages = await secretAges(config, { cloudformation: aws.cloudformation, secrets: await createSecretsInspectApi(aws.target) });
      if (flags.json) {
        process.stdout.write(`${canonicalJson({ ...s, ...(secrets.length ? { secrets } : {}), ...(ages.length ? { secretAges: ages } : {}) })}\n`);
        return;
      }
      const out = [`env ${s.env}${s.shiftInProgress ? '  (shift in progress)' : ''}`, 'stacks:'];
      const w = Math.max(...s.stacks.map((x) => x.stack.length));
      for (const x of s.stacks) out.push(`  ${x.stack.padEnd(w)}  ${x.status}${x.statusReason ? `  (${x.statusReason})` : ''}`);
      for (const f of secrets)
        out.push(
          f.state === 'placeholder'
            ? `warning: secret ${f.secret} still holds its generated placeholder: set it with \`catalogctl secrets set --env ${config.name} ${f.secret}\``
            : `warning: cannot read secret ${f.secret} to check it was set (${f.reason})`,
        );
      out.push(...secretAgeWarnings(ages));
      if (s.note) out.push(`note: ${s.note}`);
      if (s.aliases.length) out.push('aliases (live):');
      for (const a of s.aliases) {
        const extra = Object.entries(a.weights);
        const main = 1 - extra.reduce((n, [, wt]) => n + wt, 0);
        out.push(`  ${a.functionName}  v${a.version} ${pct(main)}${extra.map(([v, wt]) => `, v${v} ${pct(wt)}`).join('')}`);
      }
      if (s.stage) {
        const vars = Object.entries(s.stage.variables).sort(([a], [b]) => (a < b ? -1 : 1));
        out.push(`stage ${s.stage.stageName} (${s.stage.restApiId}): deployment ${s.stage.deploymentId}`);
        out.push(`  variables: ${vars.length ? vars.map(([k, v]) => `${k}=${v}`).join(', ') : 'none'}`);
      }
      if (s.execution) out.push(`release running in AWS: ${s.execution.name} (execution ${s.execution.executionArn}) since ${s.execution.startedAt}: ${s.execution.where}`);
      if (s.lock) out.push(`release lock: held by ${s.lock.holder} since ${s.lock.acquiredAt}${s.lock.execution ? ` (execution ${s.lock.execution})` : ''}`);
      out.push('releases:');
      for (const r of s.releases) out.push(`  ${r.releaseId}  ${r.outcome}  ${r.startedAt}${r.reason ? `  (${r.reason})` : ''}`);
      if (s.releases.length === 0) out.push('  none recorded');
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
