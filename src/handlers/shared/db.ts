/**
 * One pg pool per container and target (writer, and the read replica when DB_READER_HOST is set),
 * at most DB_MAX_CONN connections each, reused across invocations. Where and as whom to connect is
 * db-connection.ts: user and password from the app secret; on an authentication failure the secret
 * is fetched again once (it may have rotated) and the pool rebuilt. DATABASE_URL, when set,
 * overrides all of that for local runs and tests.
 */
// A static import: the CommonJS bundle's require('pg') resolves through NODE_PATH to the layer in
// /opt/nodejs/node_modules; a dynamic import() does not (ERR_MODULE_NOT_FOUND in Lambda).
import pg from 'pg';
import { appConnection, type DbTarget } from './db-connection.ts';
import { settings } from './env.ts';

const pools = new Map<DbTarget, pg.Pool>();
const building = new Map<DbTarget, Promise<pg.Pool>>();

async function buildPool(target: DbTarget, fresh: boolean): Promise<pg.Pool> {
  return new pg.Pool({ ...(await appConnection(target, fresh)), max: settings().dbMaxConn, idleTimeoutMillis: 60_000 });
}

function watch(p: pg.Pool): pg.Pool {
  // An idle connection dropped by the server (failover, rotation) must not crash the container;
  // the pool discards it and the next query opens a new one.
  p.on('error', (err) => console.error(JSON.stringify({ level: 'warn', message: 'idle database connection lost', error: err.message })));
  return p;
}

export async function getPool(target: DbTarget = 'writer'): Promise<pg.Pool> {
  const have = pools.get(target);
  if (have) return have;
  let b = building.get(target);
  if (!b) {
    b = buildPool(target, false)
      .then((p) => (pools.set(target, watch(p)), p))
      .finally(() => building.delete(target));
    building.set(target, b);
  }
  return b;
}

const AUTH_FAILED = '28P01';

/**
 * Runs `fn` with a pooled client of the writer (or of `target`); retries once with a re-fetched
 * secret on an auth failure.
 */
export async function withClient<T>(fn: (c: pg.PoolClient) => Promise<T>, target: DbTarget = 'writer'): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const p = await getPool(target);
    let client: pg.PoolClient;
    try {
      client = await p.connect();
    } catch (err) {
      if ((err as { code?: string }).code === AUTH_FAILED && attempt === 0 && !process.env.DATABASE_URL) {
        pools.delete(target);
        await p.end().catch(() => undefined);
        pools.set(target, watch(await buildPool(target, true)));
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

/** Reads that may lag behind a write (list, describe): the read replica when there is one. */
export function withReader<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(fn, 'reader');
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

/** For tests and local runs: drop the pools so the next call reads the environment again. */
export async function resetPool(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.end()));
}
