/**
 * The authorizer's own failures, as CloudWatch metrics in embedded metric format (EMF): one JSON
 * line on stdout per request that is not allowed, from which CloudWatch Logs extracts the metrics
 * (no API call on the request path). A rejected token is the caller's fault and normal traffic; an
 * authorizer that cannot decide is a failure of the service. Lambda's own `Errors` metric counts
 * both (API Gateway needs a thrown `Unauthorized` for a 401), so gates and alarms read these instead.
 *
 * The contract (release's per-version check and the observability stack's alarm read it):
 * - namespace `Catalog/Authorizer`;
 * - `AuthorizerFailures` (Count): the authorizer could not decide — the JWKS unreachable, timing out,
 *   answering non-200 or invalid keys; its configuration missing; an unexpected exception;
 * - `TokensRejected` (Count): a token refused (missing, malformed, expired, bad signature, unknown
 *   key, wrong issuer or audience, no tenant);
 * - dimension sets `[FunctionName]` and `[FunctionName, Version]`, Version being the published
 *   version that served the request (`AWS_LAMBDA_FUNCTION_VERSION`), so a release can read the new
 *   version's failures alone.
 */

export const AUTHORIZER_METRICS = {
  namespace: 'Catalog/Authorizer',
  failures: 'AuthorizerFailures',
  rejections: 'TokensRejected',
} as const;

/** Why a request was not allowed: the token's fault, or the authorizer's own (with its cause). */
export type Refusal = { kind: 'rejected' } | { kind: 'failure'; cause: 'config' | 'jwks' | 'crash' };

/** What the authorizer needs from its environment; a missing one is a failure, never a rejection. */
export function configProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const missing = ['JWT_JWKS_URI', 'JWT_ISSUER', 'JWT_AUDIENCE'].filter((k) => !env[k]);
  if (missing.length) return `${missing.join(', ')} not set`;
  try {
    new URL(env.JWT_JWKS_URI!);
  } catch {
    return 'JWT_JWKS_URI is not a URL';
  }
  return undefined;
}

// jose's codes for a key set it could not fetch or use; ERR_JOSE_GENERIC is thrown only by its JWKS
// fetch here (a non-200 answer, a body that is not JSON).
const JWKS_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);
const NETWORK_CODES = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/**
 * Classifies what token verification threw. Attacker-shaped input must never count as a failure
 * (it would let anyone trip the release gate), so only causes that are positively the authorizer's
 * — configuration, the key set's fetch, a programming error — are failures; the rest is a rejection.
 */
export function classifyVerifyError(err: unknown, env: NodeJS.ProcessEnv = process.env): Refusal {
  if (configProblem(env)) return { kind: 'failure', cause: 'config' };
  if (!(err instanceof Error)) return { kind: 'failure', cause: 'crash' };
  const e = err as Error & { code?: string; cause?: { code?: string } };
  if (e.code && JWKS_CODES.has(e.code)) return { kind: 'failure', cause: 'jwks' };
  // Node's fetch (undici) fails with TypeError('fetch failed') and the socket error as its cause.
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || (e instanceof TypeError && e.message === 'fetch failed')) return { kind: 'failure', cause: 'jwks' };
  if (typeof e.cause?.code === 'string' && NETWORK_CODES.test(e.cause.code)) return { kind: 'failure', cause: 'jwks' };
  if (e instanceof ReferenceError) return { kind: 'failure', cause: 'crash' };
  return { kind: 'rejected' };
}

/** The EMF record for one refused request; `reason` is logged (never the token). */
export function refusalRecord(refusal: Refusal, reason: string, now: number = Date.now(), env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const failure = refusal.kind === 'failure';
  return {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: AUTHORIZER_METRICS.namespace,
          Dimensions: [['FunctionName'], ['FunctionName', 'Version']],
          Metrics: [
            { Name: AUTHORIZER_METRICS.failures, Unit: 'Count' },
            { Name: AUTHORIZER_METRICS.rejections, Unit: 'Count' },
          ],
        },
      ],
    },
    // Outside Lambda (catalogctl local, tests) there is no function name or version.
    FunctionName: env.AWS_LAMBDA_FUNCTION_NAME || 'local',
    Version: env.AWS_LAMBDA_FUNCTION_VERSION || 'local',
    [AUTHORIZER_METRICS.failures]: failure ? 1 : 0,
    [AUTHORIZER_METRICS.rejections]: failure ? 0 : 1,
    level: failure ? 'error' : 'info',
    message: failure ? `authorizer failure (${refusal.cause})` : 'token rejected',
    reason: reason.slice(0, 200),
  };
}

/**
 * Straight to stdout, not console.log: under Lambda's JSON log format the runtime wraps console
 * output in its own JSON object and the metrics are lost (the EMF client libraries write to stdout
 * for that reason); a line of its own on stdout is extracted under either log format.
 */
export function emitRecord(record: Record<string, unknown>, write: (line: string) => void = (l) => void process.stdout.write(l)): void {
  write(`${JSON.stringify(record)}\n`);
}
