/**
 * Database time limits derived from the function's own timeout, so a stalled database answers 503
 * well before Lambda kills the invocation:
 *
 *   connect       20 % of the timeout, 0.5–5 s   (pool checkout plus TCP/TLS/auth)
 *   statement     30 % of the timeout, ≥ 1 s      (PostgreSQL's statement_timeout, server side)
 *   per request   60 % of the timeout, and never past the time left minus a reserve (10 %, 0.25–2 s)
 *
 * The timeout is learned from the first invocation's `getRemainingTimeInMillis()` (Lambda sets no
 * environment variable for it); without a Lambda context it is the seed's default of 10 s.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

export const DEFAULT_FUNCTION_TIMEOUT_MS = 10_000;

let learnedTimeoutMs: number | undefined;

export function functionTimeoutMs(): number {
  return learnedTimeoutMs ?? DEFAULT_FUNCTION_TIMEOUT_MS;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(v)));

export interface DbTimeouts {
  connectMs: number;
  statementMs: number;
  requestMs: number;
  reserveMs: number;
}

export function dbTimeouts(timeoutMs = functionTimeoutMs()): DbTimeouts {
  return {
    connectMs: clamp(timeoutMs * 0.2, 500, 5000),
    statementMs: clamp(timeoutMs * 0.3, 1000, Number.MAX_SAFE_INTEGER),
    requestMs: clamp(timeoutMs * 0.6, 500, Number.MAX_SAFE_INTEGER),
    reserveMs: clamp(timeoutMs * 0.1, 250, 2000),
  };
}

/**
 * At the start of an invocation: learns the function's timeout (first call only; Lambda timeouts
 * are whole seconds) and returns the time by which this request's database work must be done.
 */
export function requestDeadline(ctx?: InvocationContext, now = Date.now()): number {
  const remaining = typeof ctx?.getRemainingTimeInMillis === 'function' ? ctx.getRemainingTimeInMillis() : undefined;
  if (learnedTimeoutMs === undefined && remaining !== undefined && remaining > 0) learnedTimeoutMs = Math.ceil(remaining / 1000) * 1000;
  const t = dbTimeouts();
  const left = (remaining ?? functionTimeoutMs()) - t.reserveMs;
  return now + Math.max(0, Math.min(left, t.requestMs));
}

/** For tests: forget the learned timeout (the pool must be rebuilt too, see resetPool). */
export function forgetFunctionTimeout(): void {
  learnedTimeoutMs = undefined;
}

const deadlines = new AsyncLocalStorage<number>();

/** Runs `fn` with `deadline` as the limit for every database call made inside it. */
export function withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  return deadlines.run(deadline, fn);
}

export function currentDeadline(): number | undefined {
  return deadlines.getStore();
}

/**
 * Guards a checked-out client for one use: ends it when the current request's deadline passes (a
 * query waiting on a stalled server then fails at once; `fired()` tells the caller why), and
 * listens for its 'error' event: node-postgres emits one when the connection drops while a caller
 * holds the client, and with no listener that event would crash the process instead of failing the
 * query it already fails.
 */
export function armDeadline(client: { end(): Promise<void>; on(event: 'error', fn: (err: Error) => void): unknown; removeListener(event: 'error', fn: (err: Error) => void): unknown }): { disarm(): void; fired(): boolean } {
  const onError = () => undefined;
  client.on('error', onError);
  const deadline = currentDeadline();
  let hit = false;
  const timer =
    deadline === undefined
      ? undefined
      : setTimeout(
          () => {
            hit = true;
            client.end().catch(() => undefined);
          },
          Math.max(0, deadline - Date.now()),
        );
  return {
    disarm: () => {
      clearTimeout(timer);
      client.removeListener('error', onError);
    },
    fired: () => hit,
  };
}

/** True once an invocation's context has told us the function's timeout. */
export function functionTimeoutKnown(): boolean {
  return learnedTimeoutMs !== undefined;
}
