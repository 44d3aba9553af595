/**
 * Runs the schema migrations from inside the VPC; invoked by `catalogctl release`.
 *
 * In AWS it connects as the RDS master user (DB_MASTER_SECRET_ARN: the RDS-managed secret, only
 * {username, password}; host and port from the stack), applies the migrations (so the master owns
 * every table), creates the app role named by the app secret (DB_SECRET_ARN) when it is missing,
 * grants it what the handlers need, and finally logs in as the app user to prove the functions can.
 * With DATABASE_URL (local runs, tests) it only applies the migrations, as that URL's user.
 */
import pg from 'pg';
import { baseRole, bootstrapAppRole, type BootstrapResult } from '../shared/db-bootstrap.ts';
import { appConnection, masterConnection, parseDbSecret } from '../shared/db-connection.ts';
import { dataCounts, ensureIamRole, reconcileRolePasswords, type DataCounts, type IamRoleResult, type RoleReconciled } from '../shared/db-reconcile.ts';
import { withClient } from '../shared/db.ts';
import { migrate, type MigrateResult } from '../shared/migrations.ts';
import { getSecret, getSecretStage } from '../shared/secrets.ts';

export type MigrateOutput = MigrateResult & { appRole?: BootstrapResult; iamRole?: IamRoleResult; reconciled?: RoleReconciled[]; counts?: DataCounts };

/** `{"reconcile": true}` (catalogctl db restore): also set the app users' passwords from the secret and count the data. */
export interface MigrateEvent {
  reconcile?: boolean;
}

async function asMaster(event: MigrateEvent): Promise<MigrateOutput> {
  const arn = process.env.DB_SECRET_ARN;
  if (!arn) throw new Error('DB_SECRET_ARN is not set');
  // Fresh reads: a release right after a rotation must not act on a container's stale copy.
  const app = parseDbSecret(await getSecret(arn, { fresh: true }), `DB_SECRET_ARN ${arn}`);
  const master = new pg.Client(await masterConnection());
  await master.connect();
  let result: MigrateOutput;
  try {
    const migrated = await migrate(master);
    result = { ...migrated };
    if (event.reconcile) {
      // The other user of a multi-user rotation is AWSPREVIOUS's; both must log in after a restore.
      const previousRaw = await getSecretStage(arn, 'AWSPREVIOUS');
      const previous = previousRaw ? parseDbSecret(previousRaw, `DB_SECRET_ARN ${arn} (AWSPREVIOUS)`) : undefined;
      result.reconciled = await reconcileRolePasswords(master, [app, ...(previous ? [previous] : [])]);
    }
    result.appRole = await bootstrapAppRole(master, app);
    const iamUser = process.env.DB_IAM_USER;
    if (iamUser) result.iamRole = await ensureIamRole(master, iamUser, baseRole(app.username));
    if (event.reconcile) result.counts = await dataCounts(master);
  } finally {
    await master.end().catch(() => undefined);
  }
  // What every DB function will do next: log in as the app secret's user and read a table.
  const check = new pg.Client(await appConnection('writer', false));
  try {
    await check.connect();
    await check.query('SELECT 1 FROM catalog_dataset LIMIT 1');
  } catch (err) {
    throw new Error(`the app user ${app.username} cannot use the database after the bootstrap: ${(err as Error).message}`);
  } finally {
    await check.end().catch(() => undefined);
  }
  return result;
}

export async function handler(event: MigrateEvent | null = {}): Promise<MigrateOutput> {
  const result = process.env.DATABASE_URL ? await withClient((c) => migrate(c)) : await asMaster(event ?? {});
  console.log(JSON.stringify({ level: 'info', message: 'migrations', ...result }));
  return result;
}
