/** API Gateway REST proxy events and JSON responses with stable error codes. */
import { createHash } from 'node:crypto';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from './db.ts';
import { successLogSampleRate } from './env.ts';
import { canonicalUuid, jsonProblem, textProblem } from './input.ts';
import { requestDeadline, withDeadline, type InvocationContext } from './timeouts.ts';

export interface ProxyEvent {
  httpMethod: string;
  resource?: string;
  path?: string;
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  pathParameters?: Record<string, string | undefined> | null;
  stageVariables?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: {
    requestId?: string;
    authorizer?: Record<string, unknown> | null;
  };
}

export interface ProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** The part of Lambda's context object the handlers use. */
export interface LambdaContext extends InvocationContext {
  awsRequestId?: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): ProxyResult {
  return { statusCode: status, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * The response for a failed request, and for 5xx the internal detail that goes to the log only:
 * bodies never carry a stack, SQL or a driver message.
 */
export function errorResponse(err: unknown, requestId: string | undefined): { result: ProxyResult; detail?: string } {
  if (err instanceof HttpError) return { result: json(err.status, { error: { code: err.code, message: err.message, requestId } }) };
  if (isDatabaseUnavailable(err)) {
    return {
      result: json(503, { error: { code: 'database_unavailable', message: 'the database is unavailable; retry later', requestId } }, { 'Retry-After': String(RETRY_AFTER_SECONDS), 'Cache-Control': 'no-store' }),
      detail: describeError(err),
    };
  }
  return { result: json(500, { error: { code: 'internal_error', message: 'internal error', requestId } }), detail: describeError(err) };
}

function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { name?: string; code?: string; message?: string; cause?: unknown } | undefined, i = 0; e && i < 3; e = e.cause as typeof e, i++) {
    parts.push([e.name, e.code, e.message ?? String(e)].filter(Boolean).join(' '));
  }
  return parts.join(' <- ').slice(0, 1000);
}

// FNV-1a with murmur3's finaliser: the sampling decision follows from the request id, so known ids
// sample the same requests every run, and ids that differ in one character still spread evenly.
function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 0x1_0000_0000;
}

/** True when a successful request with this id is logged at `rate`. */
export function sampled(requestId: string | undefined, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return (requestId ? unitHash(requestId) : Math.random()) < rate;
}

function logRequest(event: ProxyEvent, result: ProxyResult, ms: number, detail: string | undefined): void {
  const status = result.statusCode;
  const requestId = event.requestContext?.requestId;
  if (status < 400 && !sampled(requestId, successLogSampleRate())) return;
  const tenant = event.requestContext?.authorizer?.tenantId;
  let code: string | undefined;
  if (status >= 400 && result.body) code = (JSON.parse(result.body) as { error?: { code?: string } }).error?.code;
  const line = {
    level: status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info',
    message: 'request',
    requestId,
    method: event.httpMethod,
    resource: event.resource ?? event.path,
    status,
    ms: Math.round(ms * 100) / 100,
    tenantId: typeof tenant === 'string' ? tenant : undefined,
    ...(code ? { code } : {}),
    ...(detail ? { error: detail } : {}),
  };
  (status >= 500 ? console.error : console.log)(JSON.stringify(line));
}

/**
 * The frame every API handler runs in: the database deadline from the Lambda context, errors turned
 * into responses (a thrown error would be API Gateway's 502), and one log line per request — always
 * for 4xx/5xx, sampled at LOG_SUCCESS_SAMPLE_RATE otherwise.
 */
export function apiHandler(fn: (event: ProxyEvent) => Promise<ProxyResult>): (event: ProxyEvent, context?: LambdaContext) => Promise<ProxyResult> {
  return async (event, context) => {
    const started = performance.now();
    const deadline = requestDeadline(context);
    let result: ProxyResult;
    let detail: string | undefined;
    try {
      result = await withDeadline(deadline, () => fn(event));
    } catch (err) {
      ({ result, detail } = errorResponse(err, event.requestContext?.requestId));
    }
    logRequest(event, result, performance.now() - started, detail);
    return result;
  };
}

export function header(event: ProxyEvent, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === want) return v ?? undefined;
  return undefined;
}

export function strongEtag(content: string): string {
  return `"${createHash('sha256').update(content).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match: `*` or a list of tags; weak comparison is not used for GET here. */
export function etagMatches(headerValue: string | undefined, etag: string): boolean {
  if (!headerValue) return false;
  return headerValue.split(',').map((s) => s.trim()).some((t) => t === '*' || t === etag);
}

export interface Caller {
  sub: string;
  tenantId: string;
  roles: string[];
}

// The authorizer checks the same: repeated here so a context that did not come from it cannot put
// a NUL or a 10 KB string into a query.
const TENANT = /^[A-Za-z0-9_.-]{1,128}$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SUBJECT = /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/u;

/** The authorizer's context: API Gateway passes it as strings. */
export function caller(event: ProxyEvent): Caller {
  const a = event.requestContext?.authorizer ?? {};
  const tenantId = typeof a.tenantId === 'string' ? a.tenantId : '';
  const sub = typeof a.principalId === 'string' ? a.principalId : typeof a.sub === 'string' ? a.sub : '';
  const roles = typeof a.roles === 'string' ? a.roles.split(',').filter(Boolean) : [];
  if (!TENANT.test(tenantId) || !SUBJECT.test(sub) || textProblem(sub)) throw new HttpError(401, 'unauthenticated', 'no authenticated caller');
  return { sub, tenantId, roles };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseBody(event: ProxyEvent, maxBytes = 64 * 1024): Record<string, unknown> {
  const tooLarge = () => new HttpError(413, 'body_too_large', `body exceeds ${maxBytes} bytes`);
  let raw = event.body ?? '';
  if (event.isBase64Encoded && raw) {
    if (raw.length > Math.ceil(maxBytes / 3) * 4 + 4) throw tooLarge();
    try {
      raw = utf8.decode(Buffer.from(raw, 'base64'));
    } catch {
      throw badRequest('invalid_json', 'body is not valid UTF-8');
    }
  }
  if (raw.length > maxBytes || Buffer.byteLength(raw) > maxBytes) throw tooLarge();
  let data: unknown;
  try {
    data = JSON.parse(raw || 'null');
  } catch {
    throw badRequest('invalid_json', 'body is not valid JSON');
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw badRequest('invalid_body', 'body must be a JSON object');
  const problem = jsonProblem(data);
  if (problem) throw badRequest('invalid_body', problem);
  return data as Record<string, unknown>;
}

export function datasetId(event: ProxyEvent): string {
  const id = canonicalUuid(event.pathParameters?.id ?? '');
  if (!id) throw badRequest('invalid_id', 'dataset id must be a UUID');
  return id;
}
