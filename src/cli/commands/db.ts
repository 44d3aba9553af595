import type { Command } from 'commander';
import { UserInputError, DeployError } from '../../errors.ts';
import { cannotConnect, databaseUrl as checkDatabaseUrl } from '../flag-checks.ts';
import { awsOptions, connect, type AwsFlags } from './deploy.ts';

interface RestoreFlags extends AwsFlags {
  toTime?: string;
  latest?: boolean;
  snapshot?: string;
  approve?: boolean;
  keepOldRunning?: boolean;
  json?: boolean;
}

export function registerDb(program: Command): void {
  const db = program
    .command('db')
    .description('Database schema tasks')
    .addHelpText(
      'after',
      `
Examples:
  $ catalogctl db migrate --database-url postgres://catalog@127.0.0.1:5432/catalog
  $ DATABASE_URL=postgres://catalog@127.0.0.1:5432/catalog catalogctl db migrate`,
    );
  db.command('migrate')
    .description('Apply pending schema migrations (forward-only, transactional, under an advisory lock)')
    .option('--database-url <url>', 'PostgreSQL connection URL (default: $DATABASE_URL)')
    .addHelpText(
      'after',
      `
A second run applies nothing ("up to date"); two runs at once wait for each other on the lock.
Exit codes: 0 applied or up to date, 2 no URL, a malformed one or one that does not connect,
3 a migration failed (rolled back: the schema stays at the version before it).

Examples:
  $ catalogctl db migrate --database-url postgres://catalog@127.0.0.1:5432/catalog
  $ DATABASE_URL=postgres://catalog@127.0.0.1:5432/catalog catalogctl db migrate`,
    )
    .action(async (flags: { databaseUrl?: string }) => {
      const flag = flags.databaseUrl ? '--database-url' : 'DATABASE_URL';
      const url = flags.databaseUrl ?? process.env.DATABASE_URL;
      if (!url) throw new UserInputError('--database-url: required (or set DATABASE_URL)');
      checkDatabaseUrl(flag, url);
      const pg = (await import('pg')).default;
      const { migrate } = await import('../../handlers/shared/migrations.ts');
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
      } catch (err) {
        throw new UserInputError(`${flag}: cannot connect: ${cannotConnect(err) ?? (err as Error).message}`);
      }
      const { cliReporter, writeOut } = await import('../output.ts');
      // A run waits here while another holds the migration lock, and a large migration takes time.
      cliReporter().report({ level: 'progress', topic: 'db', message: 'applying migrations (under the advisory lock)' });
      try {
        const r = await migrate(client).catch((err: Error) => {
          // migrate() names the migration and rolls it back; the cause is the database's answer.
          throw new DeployError(`db migrate: ${err.message.replace(/\s+/g, ' ')}`);
        });
        writeOut(r.applied.length ? `applied ${r.applied.join(', ')}; now at version ${r.current}\n` : `up to date at version ${r.current}\n`);
      } finally {
        await client.end().catch(() => undefined);
      }
    });

  awsOptions(db.command('restore').description("Restore the env's database to a point in time or from a snapshot, move the functions to it, and reconcile"))
    .option('--to-time <ISO-8601>', 'restore to this time (with a zone: 2026-11-30T14:05:00Z), within the backup retention window')
    .option('--latest', 'restore to the latest restorable time (a few minutes ago)')
    .option('--snapshot <id>', 'restore from this DB snapshot (manual or rds:… automated)')
    .option('--approve', 'go ahead without asking (needed without a terminal)')
    .option('--keep-old-running', 'leave the instance restored from running (default: stopped at the end)')
    .option('--json', 'one JSON event per line on stdout, then a summary object')
    .addHelpText(
      'after',
      `
The whole plan is printed first; nothing changes until it is confirmed (on a terminal) or
--approve is given. The current instance is never deleted: it gets deletion protection and a
snapshot, stays outside the stack, and is stopped at the end. docs/operations.md has the runbook.

Examples:
  $ catalogctl db restore --env prod --to-time 2026-11-30T14:05:00Z
  $ catalogctl db restore --env staging --latest --approve --json | jq -c 'select(.type == "summary")'
  $ catalogctl db restore --env dev --snapshot catalog-dev-database-before-migration

Exit codes: 0 restored, 2 bad input (flags, a time outside the window, an unknown snapshot,
account mismatch, a stack tagged for another env, not approved), 3 AWS or deploy failure,
130 interrupted (the runbook says how to go on from the step reached).`,
    )
    .action(async (flags: RestoreFlags) => {
      const { restorePointFromFlags, planRestore, executeRestore, describePoint } = await import('../../ops/restore.ts');
      const point = restorePointFromFlags(flags);
      const { config, aws } = await connect(flags);
      const { jsonLinesReporter, cliReporter } = await import('../output.ts');
      const json = flags.json ? jsonLinesReporter() : undefined;
      const reporter = json ?? cliReporter();
      const { createRdsOpsApi } = await import('../../aws/rds.ts');
      const { createSecretsInspectApi } = await import('../../aws/secretsmanager.ts');
      const { deployStacks } = await import('../../deploy/stacks.ts');
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      const deps = {
        rds: await createRdsOpsApi(aws.target),
        secrets: await createSecretsInspectApi(aws.target),
        cloudformation: aws.cloudformation,
        deploy: (only: Parameters<typeof deployStacks>[0]['only'] & object, parameterOverrides?: Parameters<typeof deployStacks>[0]['parameterOverrides']) =>
          deployStacks({ config, only, parameterOverrides }, { aws, reporter, signal: abort.signal }),
        invoke: (fn: string, payload: unknown) => aws.lambda.invoke(fn, payload),
        reporter,
        signal: abort.signal,
      };
      try {
        const plan = await planRestore(config, deps, point, { stopOld: !flags.keepOldRunning });
        const planText = [`Restore plan for ${config.name} (${describePoint(point)}, from ${plan.source.id}):`, ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`)].join('\n');
        if (json) json.report({ level: 'info', topic: 'restore', message: 'plan', data: { plan: { ...plan, source: { ...plan.source } } } });
        else process.stderr.write(`${planText}\n`);
        if (!flags.approve) {
          if (!process.stdin.isTTY) throw new UserInputError(`db restore: the restore of ${config.name} needs approval and there is no terminal to ask: pass --approve; nothing was changed`);
          const { confirm } = await import('../prompt.ts');
          if (!(await confirm(`Restore the ${config.name} database? [y/N] `))) throw new UserInputError('db restore: not approved; nothing was changed');
        }
        const r = await executeRestore(config, deps, plan);
        const summary = { outcome: 'restored', env: config.name, point: describePoint(point), ...r };
        if (json) json.summary(summary);
        else {
          const counts = (r.reconcile.counts ?? {}) as { datasets?: number; catalogs?: number; newestChange?: string; outbox?: { total: number; sent: number; unsent: number } };
          const lines = [
            `restored ${config.name} from ${describePoint(point)}: ${r.newInstance.id} (${r.newInstance.endpoint})`,
            `  data: ${counts.datasets ?? '?'} datasets, ${counts.catalogs ?? '?'} catalogs, newest change ${counts.newestChange ?? 'none'}`,
            `  audit outbox: ${counts.outbox ? `${counts.outbox.total} events, ${counts.outbox.sent} sent before the restore point` : '?'}; re-sent now ${String(r.relay.sent ?? '?')}, failed ${String(r.relay.failed ?? '?')}, still unsent ${String(r.relay.unsent ?? '?')}`,
            `  app users reconciled: ${((r.reconcile.reconciled ?? []) as { role: string; action: string }[]).map((x) => `${x.role} (${x.action})`).join(', ') || 'none'}`,
            `  old instance ${r.oldInstance.id}: kept, deletion protection on, snapshot ${r.oldInstance.snapshot}, ${r.oldInstance.stopped ? 'stopped' : r.oldInstance.stopError ? `still running (${r.oldInstance.stopError})` : 'running'}`,
            `  remove it when no longer needed: aws rds modify-db-instance --db-instance-identifier ${r.oldInstance.id} --no-deletion-protection --apply-immediately && aws rds delete-db-instance --db-instance-identifier ${r.oldInstance.id} --skip-final-snapshot`,
            `  next: catalogctl release --env ${config.name} (publishes versions whose environment names the new instance and replicas)`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        }
      } catch (err) {
        if (json) {
          const { exitCodeFor } = await import('../main.ts');
          const { code, message } = exitCodeFor(err);
          json.summary({ outcome: 'failed', env: config.name, error: message ?? String(err), exitCode: code });
        }
        throw err;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}
