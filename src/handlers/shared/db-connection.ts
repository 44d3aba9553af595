/**
 * Where, and as whom, the functions connect.
 * - User and password come from the app secret (DB_SECRET_ARN), which Secrets Manager's multi-user
 *   rotation keeps in the shape {engine, host, port, username, password, dbname, masterarn} and
 *   alternates between `<user>` and `<user>_clone`: the user name is never taken from configuration.
 * - Host and port come from the stack (DB_HOST, DB_PORT), falling back to the secret's.
 * - Reads that may lag (list, describe) go to DB_READER_HOST when the env has read replicas.
 * - TLS verifies the server against the RDS certificate authorities of the function's region and
 *   checks the host name; DB_SSL=false turns TLS off for local runs only.
 */
import type { PoolConfig } from 'pg';
import { rdsCaFor } from './rds-ca.ts';
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

function endpoint(secret: DbSecret, target: DbTarget) {
  const writer = process.env.DB_HOST || secret.host;
  if (!writer) throw new Error('DB_HOST is not set and the secret has no host');
  return {
    host: (target === 'reader' && readerHost()) || writer,
    port: Number(process.env.DB_PORT || secret.port || 5432),
    database: process.env.DB_NAME || secret.dbname,
  };
}

/** The app user's connection, from DB_SECRET_ARN (or DATABASE_URL for local runs and tests). */
export async function appConnection(target: DbTarget, fresh: boolean): Promise<PoolConfig> {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  const arn = process.env.DB_SECRET_ARN;
  if (!arn) throw new Error('neither DATABASE_URL nor DB_SECRET_ARN is set');
  const secret = parseDbSecret(await getSecret(arn, { fresh }), `DB_SECRET_ARN ${arn}`);
  return { ...endpoint(secret, target), user: secret.username, password: secret.password, ssl: tlsOptions() };
}

/**
 * The master user's connection, for `migrate`: the RDS-managed master secret (DB_MASTER_SECRET_ARN)
 * holds only {username, password}, so host, port and database come from the stack.
 */
export async function masterConnection(): Promise<PoolConfig & { user: string }> {
  const arn = process.env.DB_MASTER_SECRET_ARN;
  if (!arn) throw new Error('DB_MASTER_SECRET_ARN is not set');
  const secret = parseDbSecret(await getSecret(arn, { fresh: true }), `DB_MASTER_SECRET_ARN ${arn}`);
  return { ...endpoint(secret, 'writer'), user: secret.username, password: secret.password, ssl: tlsOptions() };
}
