/**
 * One pg pool per container, at most DB_MAX_CONN connections, reused across invocations.
 * Credentials come from Secrets Manager by ARN (DB_SECRET_ARN); on an authentication failure the
 * secret is fetched again once (it may have rotated) and the pool rebuilt. DATABASE_URL, when set,
 * overrides all of that for local runs and tests.
 */
import type pg from 'pg';
import { getSecret } from './secrets.ts';
import { settings } from './env.ts';

let pool: pg.Pool | undefined;
let building: Promise<pg.Pool> | undefined;

async function buildPool(fresh: boolean): Promise<pg.Pool> {
  // Loaded on first query, not at import: keeps the cold start of every handler small.
  const { Pool } = (await import('pg')).default;
  const max = settings().dbMaxConn;
  const url = process.env.DATABASE_URL;
  if (url) return new Pool({ connectionString: url, max, idleTimeoutMillis: 60_000 });
  const arn = process.env.DB_SECRET_ARN;
  if (!arn) throw new Error('neither DATABASE_URL nor DB_SECRET_ARN is set');
  const secret = JSON.parse(await getSecret(arn, { fresh })) as { username?: string; password?: string };
  return new Pool({
    host: process.env.DB_HOST,
    port: Number(process.env.DB_PORT ?? 5432),
    database: process.env.DB_NAME,
    user: process.env.DB_USER ?? secret.username,
    password: secret.password,
    max,
    idleTimeoutMillis: 60_000,
    // RDS presents a certificate from its own CA, trusted via NODE_EXTRA_CA_CERTS in the runtime.
    ssl: process.env.DB_SSL === 'false' ? false : { rejectUnauthorized: true },
  });
}

function watch(p: pg.Pool): pg.Pool {
  // An idle connection dropped by the server (failover, rotation) must not crash the container;
  // the pool discards it and the next query opens a new one.
  p.on('error', (err) => console.error(JSON.stringify({ level: 'warn', message: 'idle database connection lost', error: err.message })));
  return p;
}

export async function getPool(): Promise<pg.Pool> {
  if (pool) return pool;
  building ??= buildPool(false).then((p) => (pool = watch(p))).finally(() => (building = undefined));
  return building;
}

const AUTH_FAILED = '28P01';

/** Runs `fn` with a pooled client; retries once with a re-fetched secret on an auth failure. */
export async function withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const p = await getPool();
    let client: pg.PoolClient;
    try {
      client = await p.connect();
    } catch (err) {
      if ((err as { code?: string }).code === AUTH_FAILED && attempt === 0 && !process.env.DATABASE_URL) {
        pool = undefined;
        await p.end().catch(() => undefined);
        pool = watch(await buildPool(true));
        continue;
      }
      throw err;
    }
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }
}

export async function inTransaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(async (c) => {
    await c.query('BEGIN');
    try {
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** For tests and local runs: drop the pool so the next call reads the environment again. */
export async function resetPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
}
