/** Runs the schema migrations from inside the VPC; invoked by `catalogctl release`. */
import { withClient } from '../shared/db.ts';
import { migrate, type MigrateResult } from '../shared/migrations.ts';

export async function handler(): Promise<MigrateResult> {
  const result = await withClient((c) => migrate(c));
  console.log(JSON.stringify({ level: 'info', message: 'migrations', ...result }));
  return result;
}
