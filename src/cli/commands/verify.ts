import type { Command } from 'commander';
import { DeployError, InterruptedError, UserInputError } from '../../errors.ts';
import type { VerifyOptions } from '../../verify/index.ts';
import { addAwsFlags, type AwsFlagValues } from '../aws-flags.ts';
import { httpUrl, wholeNumber } from '../flag-checks.ts';

interface VerifyFlags extends AwsFlagValues {
  env?: string;
  envDir: string;
  url?: string;
  token?: string;
  requests: string;
  json?: boolean;
  databaseUrl?: string;
  dataset?: string;
  auditLogGroup?: string;
  healthP99Ms?: string;
  dbP95Ms?: string;
}

/**
 * The env's API base URL and audit log group, from the ApiUrl and AuditLogGroupName outputs of its
 * catalog-service stack.
 */
async function stackTargetOf(flags: VerifyFlags): Promise<{ url: string; auditLogGroup?: string; region: string }> {
  const { loadEnv } = await import('../../config/load.ts');
  const { assertAccount } = await import('../../aws/sts.ts');
  const { createCloudFormationApi } = await import('../../aws/cloudformation.ts');
  const { guardStacks } = await import('../../aws/stack-guard.ts');
  const { stackName } = await import('../../config/types.ts');
  const config = await loadEnv(flags.env!, { envDir: flags.envDir });
  const target = { region: flags.region ?? config.account.region, profile: flags.profile, endpoint: flags.endpointUrl };
  await assertAccount(target, config);
  const name = stackName(config, 'catalog-service');
  const stack = await guardStacks(await createCloudFormationApi(target), config.name).describeStack(name);
  if (!stack) throw new DeployError(`--env ${config.name}: stack ${name} does not exist in ${target.region}; deploy it first`);
  const url = stack.outputs.ApiUrl;
  if (!url) throw new DeployError(`--env ${config.name}: stack ${name} (${stack.status}) has no ApiUrl output`);
  return { url, auditLogGroup: stack.outputs.AuditLogGroupName, region: target.region };
}

export function registerVerify(program: Command): void {
  addAwsFlags(
    program
      .command('verify')
      .description("Run the seed's deployment verification: health probe, synthetic describe + audit, DB smoke query, auth failures")
      .option('--env <name>', "environment whose API to verify (resolved from the catalog-service stack's outputs)")
      .option('--env-dir <dir>', 'where env files live', 'envs'),
  )
    .option('--url <base>', 'base URL of the API: a `catalogctl local` server or an API Gateway stage URL')
    .option('--token <jwt>', 'bearer token for the API (default: $CATALOGCTL_TOKEN; prefer the variable, flags show in ps)')
    .option('--requests <n>', 'health probe requests (after one uncounted warm-up)', '50')
    .option('--database-url <url>', 'PostgreSQL for the db-smoke query (default: $DATABASE_URL; a local server shares its throwaway one)')
    .option('--dataset <id>', 'an existing dataset for the synthetic check to describe instead of creating one (needs no write role)')
    .option('--audit-log-group <name>', "CloudWatch Logs group the audit bus delivers to (default with --env: catalog-service's AuditLogGroupName output)")
    .option('--health-p99-ms <ms>', "the health probe's p99 limit (the seed: 100 ms, measured at the API; raise it for the round trip from far away)")
    .option('--db-p95-ms <ms>', "the db-smoke query's p95 limit (the seed: 100 ms)")
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Checks and thresholds: health GET /storage/v1/catalog/datasets?limit=1 → 200, p99 < 100 ms (--health-p99-ms);
synthetic create + describe → valid descriptor and its audit event on the audit bus (against AWS:
read from CloudWatch Logs, no database needed); db-smoke SELECT COUNT(*) FROM catalog_dataset
p95 < 100 ms (--db-p95-ms; skipped without a database); auth-failures: ≤ 1 % of this run's own requests refused
by the authorizer.
Exit codes: 0 all passed, 3 a check failed, 2 bad flags or an account mismatch, 130 interrupted.

Examples:
  $ export CATALOGCTL_TOKEN=$(catalogctl local token --tenant acme --role platform)
  $ catalogctl verify --url http://127.0.0.1:8080
  $ catalogctl verify --env staging --json
  $ catalogctl verify --env prod --profile prod          # the stage URL from catalog-service's ApiUrl output
  $ catalogctl verify --env prod --health-p99-ms 250     # probing from another continent adds the round trip
  $ catalogctl verify --url https://abc123.execute-api.us-east-1.amazonaws.com/prod --audit-log-group /aws/events/catalog-prod-audit --region us-east-1`,
    )
    .action(async (flags: VerifyFlags) => {
      if (!flags.env === !flags.url) throw new UserInputError('verify: give exactly one of --env <name> or --url <base>');
      const awsFlags = (['region', 'profile', 'endpointUrl'] as const).filter((k) => flags[k] !== undefined);
      if (awsFlags.length && !flags.env && !flags.auditLogGroup) {
        throw new UserInputError(`${awsFlags.map((k) => `--${k === 'endpointUrl' ? 'endpoint-url' : k}`).join(', ')}: only used with --env or --audit-log-group, neither given`);
      }
      let region = flags.region ?? process.env.AWS_REGION;
      let noAuditLog: string | undefined;
      if (flags.env) {
        const t = await stackTargetOf(flags);
        flags.url = t.url;
        if (!flags.auditLogGroup && !t.auditLogGroup) noAuditLog = `stack catalog-service of ${flags.env} has no AuditLogGroupName output (the audit bus's log group); deploy it, or give --audit-log-group`;
        flags.auditLogGroup ??= t.auditLogGroup;
        region = t.region;
      }
      if (flags.auditLogGroup !== undefined && !/^[.\-_/#A-Za-z0-9]{1,512}$/.test(flags.auditLogGroup)) throw new UserInputError(`--audit-log-group: "${flags.auditLogGroup}" is not a log group name`);
      if (flags.auditLogGroup && !region) throw new UserInputError('--audit-log-group: give --region (or AWS_REGION) for the log group, or use --env');
      httpUrl('--url', flags.url!);
      const requests = wholeNumber('--requests', flags.requests, 1, 100_000);
      const thresholds = {
        ...(flags.healthP99Ms !== undefined ? { healthP99Ms: wholeNumber('--health-p99-ms', flags.healthP99Ms, 1, 60_000) } : {}),
        ...(flags.dbP95Ms !== undefined ? { dbP95Ms: wholeNumber('--db-p95-ms', flags.dbP95Ms, 1, 60_000) } : {}),
      };
      const { verify, failingChecks } = await import('../../verify/index.ts');
      let auditEmitted: VerifyOptions['auditEmitted'];
      if (noAuditLog) auditEmitted = (await import('../../verify/audit-logs.ts')).auditUnavailable(noAuditLog);
      if (flags.auditLogGroup) {
        const { createLogsApi } = await import('../../aws/logs.ts');
        const { auditFromLogs } = await import('../../verify/audit-logs.ts');
        auditEmitted = auditFromLogs(await createLogsApi({ region: region!, profile: flags.profile, endpoint: flags.endpointUrl }), flags.auditLogGroup);
      }
      const { formatJson, formatTable, plainStyle } = await import('../../verify/print.ts');
      const { chalkFor, cliReporter, colorEnabled, writeOut } = await import('../output.ts');
      const printer = cliReporter();
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      const report = await verify({
        baseUrl: flags.url!,
        token: flags.token || process.env.CATALOGCTL_TOKEN || undefined,
        requests,
        thresholds,
        databaseUrl: flags.databaseUrl || process.env.DATABASE_URL || undefined,
        datasetId: flags.dataset,
        auditEmitted,
        signal: abort.signal,
        // Each check is a wait of its own: a live line on a terminal, gone before the table prints.
        reporter: { report: (e) => printer.report({ ...e, level: e.level === 'step' ? 'progress' : e.level }) },
      }).finally(() => process.off('SIGINT', onSignal).off('SIGTERM', onSignal));
      // Ctrl-C aborts the checks' requests; that is an interruption (130), not a failed check (3).
      if (abort.signal.aborted) throw new InterruptedError('verify: interrupted');
      let style = plainStyle;
      if (!flags.json && colorEnabled(process.stdout)) {
        const chalk = await chalkFor(process.stdout);
        style = { bad: (s) => chalk.red(s), good: (s) => chalk.green(s), dim: (s) => chalk.dim(s) };
      }
      writeOut(flags.json ? formatJson(report) : formatTable(report, style));
      if (!report.ok) throw new DeployError(`verify: failed ${failingChecks(report).join(', ')}`);
    });
}
