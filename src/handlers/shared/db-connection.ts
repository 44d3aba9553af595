/**
 * Where, and as whom, the functions connect.
 * - Writes (and reads that must see them) go through RDS Proxy when the env has one
 *   (DB_PROXY_HOST): as the IAM database user DB_IAM_USER with an IAM token, over TLS verified
 *   against Amazon Trust Services' roots (the proxy's certificate comes from ACM). The proxy's
 *   endpoint never changes, so a restored database behind it needs nothing from the functions.
 * - Otherwise, and for the read replica, user and password come from the app secret
 *   (DB_SECRET_ARN), which multi-user rotation keeps as {engine, host, port, username, password,
 *   dbname, masterarn} and alternates between `<user>` and `<user>_clone`: the user name is never
 *   taken from configuration.
 * - The writer's host and port come from the secret, DB_HOST/DB_PORT only when it has none: a
 *   published version keeps the DB_HOST it was published with, while `catalogctl db restore`
 *   moves the secret's host to the restored instance (docs/operations.md).
 * - Reads that may lag (list, describe) go to DB_READER_HOST when the env has read replicas.
 * - TLS to an instance verifies the RDS certificate authorities of the function's region; the host
 *   name is checked either way. DB_SSL=false turns TLS off for local runs only.
 */
import type { PoolConfig } from 'pg';
import { amazonTrustRoots } from './amazon-ca.ts';
import { rdsCaFor } from './rds-ca.ts';
import { functionCredentials, rdsIamToken } from './rds-iam-token.ts';
import { getSecret } from './secrets.ts';

/** `writer` for writes and read-after-write; `reader` for reads that may lag behind a write. */
export type DbTarget = 'writer' | 'reader';

export interface DbSecret {
  username: string;
  password: string;
  host?: string;
  port?: number;
  dbname?: string;
}

/** Parses a database secret; errors name the secret and the field, never a value. */
export function parseDbSecret(raw: string, source: string): DbSecret {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new Error(`${source}: the secret value is not JSON`);
  }
  if (v === null || typeof v !== 'object') throw new Error(`${source}: the secret value is not a JSON object`);
  for (const k of ['username', 'password'] as const) {
    if (typeof v[k] !== 'string' || v[k] === '') throw new Error(`${source}: the secret has no ${k}`);
  }
  const port = Number(v.port);
  return {
    username: v.username as string,
    password: v.password as string,
    ...(typeof v.host === 'string' && v.host ? { host: v.host } : {}),
    ...(Number.isInteger(port) && port > 0 && port < 65536 ? { port } : {}),
    ...(typeof v.dbname === 'string' && v.dbname ? { dbname: v.dbname } : {}),
  };
}

/** DB_READER_HOST: a replica endpoint, or several separated by commas (each pool picks one). */
export function readerHost(): string | undefined {
  const hosts = (process.env.DB_READER_HOST ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  return hosts.length ? hosts[Math.floor(Math.random() * hosts.length)] : undefined;
}

export function awsRegion(): string {
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  return region;
}

/** Certificate verification stays on: the RDS CAs of the region, and the host name checked by tls. */
export function tlsOptions(): PoolConfig['ssl'] {
  if (process.env.DB_SSL === 'false') return false;
  return { rejectUnauthorized: true, ca: rdsCaFor(awsRegion()) };
}

/** TLS to RDS Proxy: its ACM certificate chains to Amazon Trust Services, not to the RDS CAs. */
export function proxyTlsOptions(): PoolConfig['ssl'] {
  if (process.env.DB_SSL === 'false') return false;
  return { rejectUnauthorized: true, ca: amazonTrustRoots() };
}

/** The proxy's endpoint, when the env has one (DB_PROXY_HOST, DB_PROXY_PORT). */
export function proxyEndpoint(): { host: string; port: number } | undefined {
  const host = process.env.DB_PROXY_HOST?.trim();
  return host ? { host, port: Number(process.env.DB_PROXY_PORT || 5432) } : undefined;
}

function endpoint(secret: DbSecret, target: DbTarget) {
  // The secret first: it follows a restore, a published version's DB_HOST does not.
  const writer = secret.host || process.env.DB_HOST;
  if (!writer) throw new Error('the secret has no host and DB_HOST is not set');
  return {
    host: (target === 'reader' && readerHost()) || writer,
    port: Number(secret.port || process.env.DB_PORT || 5432),
    database: process.env.DB_NAME || secret.dbname,
  };
}

/**
 * The writer through RDS Proxy: the IAM database user and a fresh token for each new connection
 * (pg calls `password` per connection; a token opens connections for 15 minutes, an open one lasts).
 */
function proxyConnection(proxy: { host: string; port: number }): PoolConfig {
  const user = process.env.DB_IAM_USER;
  if (!user) throw new Error('DB_PROXY_HOST is set but DB_IAM_USER is not');
  const database = process.env.DB_NAME;
  if (!database) throw new Error('DB_PROXY_HOST is set but DB_NAME is not');
  return {
    host: proxy.host,
    port: proxy.port,
    database,
    user,
    password: async () => rdsIamToken({ host: proxy.host, port: proxy.port, user, region: awsRegion(), credentials: functionCredentials() }),
    ssl: proxyTlsOptions(),
  };
}

/**
 * The app user's connection: through the proxy for the writer when there is one, else from
 * DB_SECRET_ARN (or DATABASE_URL for local runs and tests). `fresh` re-reads the secret.
 */
export async function appConnection(target: DbTarget, fresh: boolean): Promise<PoolConfig> {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  const proxy = proxyEndpoint();
  if (proxy && target === 'writer') return proxyConnection(proxy);
  const arn = process.env.DB_SECRET_ARN;
  if (!arn) throw new Error('neither DATABASE_URL nor DB_SECRET_ARN is set');
  const secret = parseDbSecret(await getSecret(arn, { fresh }), `DB_SECRET_ARN ${arn}`);
  return { ...endpoint(secret, target), user: secret.username, password: secret.password, ssl: tlsOptions() };
}

/**
 * The master user's connection, for `migrate`: the RDS-managed master secret (DB_MASTER_SECRET_ARN)
 * holds only {username, password}, so host and port come from the stack (DB_HOST, DB_PORT: the
 * instance itself, never the proxy; DDL and advisory locks would pin every proxied connection).
 * No statement timeout: a migration may run longer than the parameter group's, which is sized for
 * the functions' requests; the function's own timeout bounds it.
 */
export async function masterConnection(): Promise<PoolConfig & { user: string }> {
  const arn = process.env.DB_MASTER_SECRET_ARN;
  if (!arn) throw new Error('DB_MASTER_SECRET_ARN is not set');
  const secret = parseDbSecret(await getSecret(arn, { fresh: true }), `DB_MASTER_SECRET_ARN ${arn}`);
  const host = process.env.DB_HOST || secret.host;
  if (!host) throw new Error('DB_HOST is not set and the master secret has no host');
  return {
    host,
    port: Number(process.env.DB_PORT || secret.port || 5432),
    database: process.env.DB_NAME || secret.dbname,
    user: secret.username,
    password: secret.password,
    ssl: tlsOptions(),
    statement_timeout: 0,
  };
}
