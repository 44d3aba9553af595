/** API Gateway REST proxy events and JSON responses with stable error codes. */
import { createHash } from 'node:crypto';

export interface ProxyEvent {
  httpMethod: string;
  resource?: string;
  path?: string;
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  pathParameters?: Record<string, string | undefined> | null;
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

export function errorResult(err: unknown, requestId: string | undefined): ProxyResult {
  if (err instanceof HttpError) return json(err.status, { error: { code: err.code, message: err.message, requestId } });
  // Never echo internals; the request id ties the response to the logs.
  console.error(JSON.stringify({ level: 'error', requestId, message: (err as Error)?.message ?? String(err) }));
  return json(500, { error: { code: 'internal_error', message: 'internal error', requestId } });
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

/** The authorizer's context: API Gateway passes it as strings. */
export function caller(event: ProxyEvent): Caller {
  const a = event.requestContext?.authorizer ?? {};
  const tenantId = typeof a.tenantId === 'string' ? a.tenantId : '';
  const sub = typeof a.principalId === 'string' ? a.principalId : typeof a.sub === 'string' ? a.sub : '';
  const roles = typeof a.roles === 'string' ? a.roles.split(',').filter(Boolean) : [];
  if (!tenantId || !sub) throw new HttpError(401, 'unauthenticated', 'no authenticated caller');
  return { sub, tenantId, roles };
}

export function parseBody(event: ProxyEvent, maxBytes = 64 * 1024): Record<string, unknown> {
  const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > maxBytes) throw new HttpError(413, 'body_too_large', `body exceeds ${maxBytes} bytes`);
  let data: unknown;
  try {
    data = JSON.parse(raw || 'null');
  } catch {
    throw badRequest('invalid_json', 'body is not valid JSON');
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw badRequest('invalid_body', 'body must be a JSON object');
  return data as Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export function datasetId(event: ProxyEvent): string {
  const id = event.pathParameters?.id ?? '';
  if (!UUID.test(id)) throw badRequest('invalid_id', 'dataset id must be a UUID');
  return id;
}
