/**
 * What a restored database needs before the functions can use it, run as the RDS master by
 * `migrate` when `catalogctl db restore` asks (`{"reconcile": true}`), and the IAM role the proxy
 * path logs in as, on every migrate run when the env has a proxy.
 *
 * A restored database holds the roles as they were at the restore point: the app users' passwords
 * may predate the latest rotation (or the clone may not exist yet), so the secret's users would be
 * refused. Each user the app secret names — AWSCURRENT's and, after a multi-user rotation,
 * AWSPREVIOUS's other one — gets the secret's password (as a SCRAM verifier, never in clear in a
 * statement), and a missing one is created as rotation creates it (member of the base role).
 */
import { baseRole, scramVerifier } from './db-bootstrap.ts';

interface Queryable {
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function roleExists(c: Queryable, name: string): Promise<boolean> {
  return (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rows.length > 0;
}

export interface RoleReconciled {
  role: string;
  action: 'created' | 'password-set';
}

/** Sets each named user's password to the secret's (creating a missing one); returns what it did. */
export async function reconcileRolePasswords(c: Queryable, users: { username: string; password: string }[]): Promise<RoleReconciled[]> {
  const done: RoleReconciled[] = [];
  const seen = new Set<string>();
  for (const u of users) {
    if (seen.has(u.username)) continue;
    seen.add(u.username);
    const verifier = scramVerifier(u.password);
    if (await roleExists(c, u.username)) {
      await c.query(`ALTER ROLE ${ident(u.username)} WITH LOGIN PASSWORD '${verifier}'`);
      done.push({ role: u.username, action: 'password-set' });
    } else {
      await c.query(`CREATE ROLE ${ident(u.username)} LOGIN PASSWORD '${verifier}'`);
      const base = baseRole(u.username);
      if (base !== u.username && (await roleExists(c, base))) await c.query(`GRANT ${ident(base)} TO ${ident(u.username)}`);
      done.push({ role: u.username, action: 'created' });
    }
  }
  return done;
}

export interface IamRoleResult {
  role: string;
  created: boolean;
  /** Whether RDS's `rds_iam` role exists here and was granted (it exists on RDS, not on a plain PostgreSQL). */
  rdsIam: boolean;
}

/**
 * The IAM database user the functions log in as through RDS Proxy (end-to-end IAM
 * authentication): LOGIN without a password, member of `rds_iam` (RDS then accepts only IAM tokens
 * for it) and of the app's base role, whose grants it inherits.
 */
export async function ensureIamRole(c: Queryable, iamUser: string, grantee: string): Promise<IamRoleResult> {
  let created = false;
  if (!(await roleExists(c, iamUser))) {
    await c.query(`CREATE ROLE ${ident(iamUser)} LOGIN`);
    created = true;
  }
  await c.query(`GRANT ${ident(grantee)} TO ${ident(iamUser)}`);
  const rdsIam = await roleExists(c, 'rds_iam');
  if (rdsIam) await c.query(`GRANT rds_iam TO ${ident(iamUser)}`);
  return { role: iamUser, created, rdsIam };
}

export interface DataCounts {
  datasets: number;
  catalogs: number;
  /** Newest change in the restored data: what the restore point really kept. */
  newestChange: string | null;
  outbox: { total: number; sent: number; unsent: number };
}

export async function dataCounts(c: Queryable): Promise<DataCounts> {
  const { rows } = await c.query<{ datasets: string; catalogs: string; newest: Date | null; total: string; sent: string }>(
    `SELECT (SELECT count(*) FROM catalog_dataset) AS datasets,
            (SELECT count(*) FROM catalog) AS catalogs,
            GREATEST((SELECT max(updated_at) FROM catalog_dataset), (SELECT max(updated_at) FROM catalog), (SELECT max(created_at) FROM audit_outbox)) AS newest,
            (SELECT count(*) FROM audit_outbox) AS total,
            (SELECT count(*) FROM audit_outbox WHERE sent_at IS NOT NULL) AS sent`,
  );
  const r = rows[0]!;
  const total = Number(r.total);
  const sent = Number(r.sent);
  return { datasets: Number(r.datasets), catalogs: Number(r.catalogs), newestChange: r.newest ? new Date(r.newest).toISOString() : null, outbox: { total, sent, unsent: total - sent } };
}
