/**
 * Day-one database bootstrap, run by `migrate` as the RDS master user: RDS creates only the master,
 * so the application's role is created here, with the password from the app secret, and granted
 * only what the handlers need. DDL and ownership stay with the master. Idempotent: an existing role
 * keeps its password (rotation owns it from then on); grants are re-applied every run.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

interface Queryable {
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** Table privileges the handlers use; sequences get USAGE and SELECT (nextval, currval). */
const TABLE_PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';
/** Tables the application never touches. */
const NOT_FOR_APP = ['schema_migrations'];
const CLONE_SUFFIX = '_clone';
const SCRAM_ITERATIONS = 4096;

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn computes it). CREATE ROLE … PASSWORD '<verifier>' keeps the password itself
 * out of the statement, so neither log_statement nor an error's STATEMENT line can show it; the
 * verifier does not let anyone log in.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  // PostgreSQL runs SASLprep on the password; for printable ASCII it is the identity, so this
  // verifier is exact. Generated secrets are printable ASCII; anything else is refused.
  if (!/^[\x20-\x7e]+$/.test(password)) throw new Error('the app password must be printable ASCII (SASLprep is not applied here)');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** The role multi-user rotation clones from: `catalog_app` for both `catalog_app` and `catalog_app_clone`. */
export const baseRole = (username: string): string => (username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username);

export interface BootstrapResult {
  /** The role the app secret names now. */
  role: string;
  /** The role the grants are on (the clone inherits them through membership). */
  grantee: string;
  created: boolean;
}

async function roleExists(c: Queryable, name: string): Promise<boolean> {
  return (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rows.length > 0;
}

/**
 * Creates the app secret's role when missing (LOGIN, no other attribute) and, for the role it and
 * its rotation clone share, the grants: CONNECT on the database, USAGE on schema `public`, DML on its
 * tables and USAGE/SELECT on its sequences, the same by default for tables the master creates later.
 * Nothing else: no CREATE anywhere, no ownership, no membership in the master's role.
 */
export async function bootstrapAppRole(c: Queryable, app: { username: string; password: string }, schema = 'public'): Promise<BootstrapResult> {
  const role = app.username;
  const grantee = baseRole(role);
  let created = false;
  if (!(await roleExists(c, role))) {
    await c.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD '${scramVerifier(app.password)}'`);
    created = true;
    // A clone named by the secret but missing (restored database): membership, as rotation grants it.
    if (role !== grantee && (await roleExists(c, grantee))) await c.query(`GRANT ${ident(grantee)} TO ${ident(role)}`);
  }
  const g = ident(grantee);
  const s = ident(schema);
  const db = ident((await c.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db);
  const statements = [
    // Before PostgreSQL 15 every role could create objects in public; 15+ already says no.
    `REVOKE CREATE ON SCHEMA ${s} FROM PUBLIC`,
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `GRANT CONNECT ON DATABASE ${db} TO ${g}`,
    `GRANT USAGE ON SCHEMA ${s} TO ${g}`,
    `GRANT ${TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA ${s} TO ${g}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${g}`,
    ...NOT_FOR_APP.map((t) => `REVOKE ALL ON TABLE ${s}.${ident(t)} FROM ${g}`),
    // Tables and sequences later migrations create (as the master, who runs this) get the same.
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT ${TABLE_PRIVILEGES} ON TABLES TO ${g}`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${g}`,
  ];
  for (const sql of statements) await c.query(sql);
  return { role, grantee, created };
}
