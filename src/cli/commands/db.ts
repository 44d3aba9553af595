import type { Command } from 'commander';
import { UserInputError, DeployError } from '../../errors.ts';
import { cannotConnect, databaseUrl as checkDatabaseUrl } from '../flag-checks.ts';

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
}
