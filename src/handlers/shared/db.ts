/**
 * One pg pool per container and target (writer, and the read replica when DB_READER_HOST is set),
 * at most DB_MAX_CONN connections each, reused across invocations. Where and as whom to connect is
 * db-connection.ts: through RDS Proxy with an IAM token, or as the app secret's user. When opening
 * a connection fails because of the login (the secret rotated) or because the server is not there
 * (a restore moved the database, a failover), the secret is fetched again once and the pool
 * rebuilt; a read replica that stays unreachable sends the reads to the writer. DATABASE_URL, when
 * set, overrides all of that for local runs and tests.
 */
// A static import: the CommonJS bundle's require('pg') resolves through NODE_PATH to the layer in
// /opt/nodejs/node_modules; a dynamic import() does not (ERR_MODULE_NOT_FOUND in Lambda).
import pg from 'pg';
import { AwsCallError } from './aws-json.ts';
import { appConnection, proxyEndpoint, type DbTarget } from './db-connection.ts';
import { settings } from './env.ts';
import { armDeadline, currentDeadline, dbTimeouts, functionTimeoutKnown } from './timeouts.ts';

const pools = new Map<DbTarget, pg.Pool>();
const building = new Map<DbTarget, Promise<pg.Pool>>();

/**
 * Through RDS Proxy a container keeps at most two client connections: Lambda runs one request at a
 * time per container and a request holds one client (the second covers one being replaced). More
 * would only be idle client connections on the proxy; the proxy, not the container, pools the
 * database's connections (its MaxConnectionsPercent). Without the proxy, DB_MAX_CONN as given.
 */
export const PROXY_POOL_MAX = 2;

export function poolSize(): number {
  const max = settings().dbMaxConn;
  return proxyEndpoint() ? Math.min(max, PROXY_POOL_MAX) : max;
}

async function buildPool(target: DbTarget, fresh: boolean): Promise<pg.Pool> {
  const viaProxy = target === 'writer' && !!proxyEndpoint() && !process.env.DATABASE_URL;
  return new pg.Pool({ ...(await connectionOptions(target, fresh)), max: viaProxy ? poolSize() : settings().dbMaxConn, idleTimeoutMillis: 60_000, ...poolTimeouts() });
}

/**
 * Where and as whom to connect. Credentials that cannot be read right now (Secrets Manager
 * throttling, a 5xx, no answer) leave the database unavailable to this request: a 503 the client
 * retries, not a 500. A secret that does not exist or may not be read stays a 500: that is a
 * misconfiguration, and the 5xx alarm should see it.
 */
async function connectionOptions(target: DbTarget, fresh: boolean): ReturnType<typeof appConnection> {
  try {
    return await appConnection(target, fresh);
  } catch (err) {
    if (err instanceof AwsCallError && err.retryable) throw new DatabaseUnavailableError(`the database credentials cannot be read now (${err.code})`, err);
    throw err;
  }
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
/** Errors opening a connection that say the server is not (or no longer) where we looked. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', '57P01', '57P03', '08001', '08006']);

/** Why opening a connection failed, when a fresh secret (or another target) may help. */
export function connectFailure(err: unknown): 'auth' | 'unreachable' | undefined {
  const e = err as { code?: string; message?: string };
  if (e.code === AUTH_FAILED) return 'auth';
  if ((e.code && UNREACHABLE_CODES.has(e.code)) || /Connection terminated|timeout expired|connect ETIMEDOUT|getaddrinfo/i.test(e.message ?? '')) return 'unreachable';
  return undefined;
}

/** Reads fall back to the writer for the rest of the container's life once the replica is unreachable. */
let readerDown = false;

/**
 * A client idle this long is probed (`SELECT 1`) before use: while a Lambda container is frozen its
 * idle connections can be closed by the other end (the proxy's idle timeout, a stopped or
 * replaced instance, a failover) and the close is seen only when the socket is next used. The
 * probe runs before the caller's statements, so a dead connection is replaced without
 * re-running anything that might have been applied.
 */
let idleProbeMs = 5_000;
/** For tests: probe every reused client (0) instead of waiting out the idle time. */
export function setIdleProbeMs(ms: number): void {
  idleProbeMs = ms;
}
const lastUsed = new WeakMap<pg.PoolClient, number>();
const listening = new WeakSet<pg.PoolClient>();

/** The connection is gone: the server or something between closed it. */
function connectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === '57P01' || /Connection terminated|Client has encountered a connection error|not queryable/i.test(e.message ?? '');
}

/** False when a long-idle client turned out to be dead (it is then discarded). */
async function usable(client: pg.PoolClient): Promise<boolean> {
  if (!listening.has(client)) {
    // A connection lost while checked out emits 'error' on the client; without a listener that would crash the container.
    client.on('error', (err) => console.error(JSON.stringify({ level: 'warn', message: 'database connection lost', error: err.message })));
    listening.add(client);
  }
  const last = lastUsed.get(client);
  if (last === undefined || Date.now() - last < idleProbeMs) return true;
  try {
    await client.query('SELECT 1');
    return true;
  } catch (err) {
    if (!connectionLost(err)) throw err;
    client.release(err as Error);
    return false;
  }
}

async function rebuild(target: DbTarget, old: pg.Pool): Promise<void> {
  pools.delete(target);
  await old.end().catch(() => undefined);
  pools.set(target, watch(await buildPool(target, true)));
}

/**
 * Runs `fn` with a pooled client of the writer (or of `target`). Opening the connection fails on
 * the login or on the server's address: the secret is re-read and the pool rebuilt, once; a read
 * replica still unreachable then hands the read to the writer.
 */
export async function withClient<T>(fn: (c: pg.PoolClient) => Promise<T>, target: DbTarget = 'writer'): Promise<T> {
  if (target === 'reader' && readerDown) target = 'writer';
  let reread = false;
  for (let probes = 0; ; ) {
    const p = await getPool(target);
    let client: pg.PoolClient;
    try {
      if ((currentDeadline() ?? Infinity) <= Date.now()) throw new DatabaseUnavailableError('no time left for the database in this request');
      client = await p.connect();
    } catch (err) {
      const why = process.env.DATABASE_URL ? undefined : connectFailure(err);
      if (why && !reread) {
        reread = true;
        console.error(JSON.stringify({ level: 'warn', message: `cannot open a database connection (${why}); reading the secret again`, target, error: (err as Error).message }));
        await rebuild(target, p);
        continue;
      }
      if (why === 'unreachable' && target === 'reader') {
        console.error(JSON.stringify({ level: 'warn', message: 'read replica unreachable; reads go to the writer in this container', error: (err as Error).message }));
        readerDown = true;
        return withClient(fn, 'writer');
      }
      throw err;
    }
    if (!(await usable(client))) {
      console.error(JSON.stringify({ level: 'warn', message: 'an idle database connection was closed by the other end; opening a new one', target }));
      if (++probes <= 2) continue;
      throw new Error('database connections keep being closed right after they are opened');
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
      lastUsed.set(client, Date.now());
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
  readerDown = false;
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
