import type { Command } from 'commander';
import { UserInputError, DeployError } from '../../errors.ts';

export function registerDb(program: Command): void {
  const db = program.command('db').description('Database schema tasks');
  db.command('migrate')
    .description('Apply pending schema migrations (forward-only, transactional, under an advisory lock)')
    .option('--database-url <url>', 'PostgreSQL connection URL (default: $DATABASE_URL)')
    .addHelpText('after', '\nExample:\n  $ catalogctl db migrate --database-url postgres://catalog@127.0.0.1:5432/catalog\n')
    .action(async (flags: { databaseUrl?: string }) => {
      const url = flags.databaseUrl ?? process.env.DATABASE_URL;
      if (!url) throw new UserInputError('--database-url: required (or set DATABASE_URL)');
      if (!/^postgres(ql)?:\/\/\S+$/.test(url)) throw new UserInputError('--database-url: must be a postgres:// URL');
      const pg = (await import('pg')).default;
      const { migrate } = await import('../../handlers/shared/migrations.ts');
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
      } catch (err) {
        throw new DeployError(`--database-url: cannot connect (${(err as Error).message})`);
      }
      try {
        const r = await migrate(client);
        process.stdout.write(r.applied.length ? `applied ${r.applied.join(', ')}; now at version ${r.current}\n` : `up to date at version ${r.current}\n`);
      } finally {
        await client.end();
      }
    });
}
