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
import { armDeadline, currentDeadline, dbTimeouts, functionTimeoutKnown } from './timeouts.ts';

const pools = new Map<DbTarget, pg.Pool>();
const building = new Map<DbTarget, Promise<pg.Pool>>();

async function buildPool(target: DbTarget, fresh: boolean): Promise<pg.Pool> {
  return new pg.Pool({ ...(await appConnection(target, fresh)), max: settings().dbMaxConn, idleTimeoutMillis: 60_000, ...poolTimeouts() });
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
      if ((currentDeadline() ?? Infinity) <= Date.now()) throw new DatabaseUnavailableError('no time left for the database in this request');
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
    const deadline = armDeadline(client);
    let failure: unknown;
    try {
      return await fn(client);
    } catch (err) {
      failure = deadline.fired() ? new DatabaseUnavailableError('the request deadline passed while waiting for the database', err) : err;
      throw failure;
    } finally {
      deadline.disarm();
      // A connection that failed at the network level is discarded, not handed to the next request.
      client.release(isDatabaseUnavailable(failure) ? (failure as Error) : undefined);
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

// --- Timeouts and "database unavailable" -------------------------------------------------------

/**
 * Connect and statement timeouts from the function's timeout (see timeouts.ts). The statement
 * timeout is set only once a Lambda context told us that timeout: a guessed one could cut a long
 * migration short.
 */
function poolTimeouts(): { connectionTimeoutMillis: number; statement_timeout?: number } {
  const t = dbTimeouts();
  return { connectionTimeoutMillis: t.connectMs, ...(functionTimeoutKnown() ? { statement_timeout: t.statementMs } : {}) };
}

/** Seconds a client is asked to wait (`Retry-After`) when the database is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/** The database could not be reached or did not answer in time: a 503, never a bug. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

// SQLSTATE classes and codes that mean "not now" rather than "wrong": connection exceptions (08),
// insufficient resources (53: too many connections, disk full), operator intervention (57: shutdown,
// starting up, statement timeout), lock timeout, serialization failure and deadlock, a read-only
// transaction (a writer that became a replica in a failover), system I/O errors (58).
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58)|^(55P03|40001|40P01|25006)$/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);
// node-postgres reports a lost or timed-out connection with these messages and no code.
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable)/;

/** True for errors that mean the database is unreachable, overloaded or too slow. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || (/^[0-9A-Z]{5}$/.test(e.code) && UNAVAILABLE_SQLSTATE.test(e.code)))) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  // net.connect to a host with several addresses fails with an AggregateError of ECONNREFUSED.
  return Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isDatabaseUnavailable);
}
