import type { Command } from 'commander';
import { awsOptions, connect, type AwsFlags } from './deploy.ts';

/** `preflight`: the read-only checks deploy runs first, as a table (check, found, needed, ok). */
export function registerPreflight(program: Command): void {
  awsOptions(program.command('preflight').description("Check that the account and region can take the env's stacks, before deploying anything"))
    .option('--templates-dir <dir>', 'read the storage stack from <dir>/catalog-storage.json (default: render from the env file)')
    .option('--json', 'print the checks as JSON')
    .addHelpText(
      'after',
      `
Checks, read-only: the PostgreSQL engine version is offered in the region; the instance class is
orderable for it with the storage type, Multi-AZ, read replicas, encryption and Performance Insights
the env asks for; the env's Availability Zones (or an adopted VPC's subnets) exist; the account's
Lambda concurrency keeps 100 unreserved after the live aliases' provisioned concurrency; the
artifact bucket exists in the env's region and account; the Evidence Ledger bus exists when it is
in the same account. deploy runs the same checks first.

Examples:
  $ catalogctl preflight --env dev
  $ catalogctl preflight --env prod --profile prod-admin --json | jq '.checks[] | select(.ok | not)'

Exit codes: 0 every check passed, 2 bad input / account mismatch, 3 a check failed (or could not
be made: the table says why).`,
    )
    .action(async (flags: AwsFlags & { templatesDir?: string; json?: boolean }) => {
      const { config, aws } = await connect(flags);
      const { createPreflightApis, formatPreflight, runPreflight } = await import('../../deploy/preflight.ts');
      const { DeployError, UserInputError } = await import('../../errors.ts');
      let storage: Record<string, unknown>;
      if (flags.templatesDir) {
        const { readFile } = await import('node:fs/promises');
        const { join } = await import('node:path');
        const file = join(flags.templatesDir, 'catalog-storage.json');
        try {
          storage = JSON.parse(await readFile(file, 'utf8'));
        } catch (err) {
          throw new UserInputError(`--templates-dir: cannot read ${file}: ${(err as Error).message}`);
        }
      } else {
        const { renderedTemplates } = await import('../../deploy/stacks.ts');
        storage = (await renderedTemplates(config))['catalog-storage'];
      }
      const rows = await runPreflight(config, await createPreflightApis(aws), { region: flags.region ?? config.account.region, templates: { 'catalog-storage': storage } });
      const failed = rows.filter((r) => !r.ok);
      if (flags.json) {
        const { canonicalJson } = await import('../../util/canonical-json.ts');
        process.stdout.write(canonicalJson({ env: config.name, ok: failed.length === 0, checks: rows }));
      } else process.stdout.write(formatPreflight(rows));
      if (failed.length) throw new DeployError(`preflight: ${failed.length} check(s) failed: ${failed.map((r) => r.check).join(', ')}`);
    });
}
