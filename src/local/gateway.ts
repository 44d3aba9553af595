/**
 * What API Gateway does in front of the functions, for local runs: match a route, call the TOKEN
 * authorizer (401 when it throws Unauthorized or no token is sent, 403 on a Deny), cache its policy by
 * token like an authorizer's result TTL, turn the HTTP request into a REST proxy event with the
 * authorizer's context, and the handler's result back into an HTTP response.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type ProxyHandler = (event: ProxyEvent, context?: LambdaContext) => Promise<ProxyResult>;
export type AuthorizerHandler = (event: TokenAuthorizerEvent, context?: LambdaContext) => Promise<AuthorizerResult>;
export type TaskHandler = (event: unknown, context?: LambdaContext) => Promise<unknown>;

export interface ProxyEvent {
  resource: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters: Record<string, string> | null;
  multiValueQueryStringParameters: Record<string, string[]> | null;
  pathParameters: Record<string, string> | null;
  stageVariables: Record<string, string> | null;
  requestContext: {
    accountId: string;
    apiId: string;
    stage: string;
    requestId: string;
    resourcePath: string;
    httpMethod: string;
    path: string;
    protocol: string;
    requestTimeEpoch: number;
    identity: { sourceIp: string; userAgent: string | null };
    authorizer: Record<string, string | number | boolean> | null;
  };
  body: string | null;
  isBase64Encoded: boolean;
}

export interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, (string | number | boolean)[]>;
  body?: string;
  isBase64Encoded?: boolean;
}

export interface TokenAuthorizerEvent {
  type: 'TOKEN';
  authorizationToken: string;
  methodArn: string;
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: { Version?: string; Statement: { Effect: string; Action: string | string[]; Resource: string | string[] }[] };
  context?: Record<string, string | number | boolean>;
}

/** Enough of the Lambda context object for handlers that read the request id or remaining time. */
export interface LambdaContext {
  awsRequestId: string;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export function lambdaContext(functionName: string, timeoutMs = 10_000): LambdaContext {
  const deadline = Date.now() + timeoutMs;
  return {
    awsRequestId: randomUUID(),
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}:live`,
    memoryLimitInMB: '512',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_API_ID = 'local';
export const LOCAL_STAGE = 'local';

/** The API's routes: method, resource path (API Gateway template), function that serves it. */
export interface Route {
  method: string;
  resource: string;
  fn: 'list-datasets' | 'get-dataset' | 'write-dataset';
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', resource: '/storage/v1/catalog/datasets', fn: 'list-datasets' },
  { method: 'GET', resource: '/storage/v1/catalog/datasets/{id}', fn: 'get-dataset' },
  { method: 'POST', resource: '/storage/v1/catalog/datasets', fn: 'write-dataset' },
  { method: 'PUT', resource: '/storage/v1/catalog/datasets/{id}', fn: 'write-dataset' },
  { method: 'DELETE', resource: '/storage/v1/catalog/datasets/{id}', fn: 'write-dataset' },
  { method: 'POST', resource: '/storage/v1/catalog/catalogs', fn: 'write-dataset' },
];

export interface RouteMatch {
  route: Route;
  pathParameters: Record<string, string> | null;
}

/** 'match' with the route, 'method' when the path exists with other methods, or 'none'. */
export function matchRoute(method: string, path: string, routes: readonly Route[] = ROUTES): { kind: 'match'; match: RouteMatch } | { kind: 'method' | 'none' } {
  let pathExists = false;
  for (const route of routes) {
    const params = matchPath(route.resource, path);
    if (!params) continue;
    pathExists = true;
    if (route.method === method) return { kind: 'match', match: { route, pathParameters: Object.keys(params).length ? params : null } };
  }
  return { kind: pathExists ? 'method' : 'none' };
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const t = template.split('/');
  const p = path.replace(/\/+$/, '').split('/');
  if (t.length !== p.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const seg = t[i]!;
    const actual = p[i]!;
    if (seg.startsWith('{') && seg.endsWith('}')) {
      if (actual === '') return undefined;
      try {
        params[seg.slice(1, -1)] = decodeURIComponent(actual);
      } catch {
        params[seg.slice(1, -1)] = actual;
      }
    } else if (seg !== actual) return undefined;
  }
  return params;
}

export function methodArn(method: string, path: string): string {
  return `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${LOCAL_API_ID}/${LOCAL_STAGE}/${method}${path}`;
}

/** Does the policy allow `arn`? IAM semantics: an explicit Deny wins; `*` and `?` are wildcards. */
export function policyAllows(policy: AuthorizerResult['policyDocument'] | undefined, action: string, arn: string): boolean {
  if (!policy || !Array.isArray(policy.Statement)) return false;
  let allowed = false;
  for (const st of policy.Statement) {
    const actions = Array.isArray(st.Action) ? st.Action : [st.Action];
    const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
    const hit = actions.some((a) => wildcard(a, action)) && resources.some((r) => wildcard(r, arn));
    if (!hit) continue;
    if (st.Effect === 'Deny') return false;
    if (st.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

function wildcard(pattern: string, value: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(value);
}

export function toProxyEvent(req: IncomingMessage, url: URL, match: RouteMatch, body: Buffer, authorizer: Record<string, string | number | boolean> | null, stageVariables: Record<string, string>): ProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  let query: Record<string, string> | null = null;
  let multiQuery: Record<string, string[]> | null = null;
  for (const [k, v] of url.searchParams) {
    (query ??= {})[k] = v;
    ((multiQuery ??= {})[k] ??= []).push(v);
  }
  const textual = body.length === 0 || isTextual(req.headers['content-type']);
  return {
    resource: match.route.resource,
    path: url.pathname,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: query,
    multiValueQueryStringParameters: multiQuery,
    pathParameters: match.pathParameters,
    stageVariables: Object.keys(stageVariables).length ? stageVariables : null,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: LOCAL_API_ID,
      stage: LOCAL_STAGE,
      requestId: randomUUID(),
      resourcePath: match.route.resource,
      httpMethod: req.method ?? 'GET',
      path: `/${LOCAL_STAGE}${url.pathname}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? null },
      authorizer,
    },
    body: body.length === 0 ? null : textual ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !textual,
  };
}

function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  return /^(text\/|application\/(json|[a-z.+-]*\+json|x-www-form-urlencoded|xml))/i.test(contentType);
}

/** API Gateway's payload limit for REST APIs (10 MB, not adjustable); over it, it answers 413 itself. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** API Gateway's own answer to an oversized request (gateway response REQUEST_TOO_LARGE). */
export function requestTooLarge(): { status: number; headers: Record<string, string>; body: Buffer } {
  // The rest of the request is not read, so the connection cannot be reused.
  return { status: 413, headers: { 'content-type': 'application/json', connection: 'close' }, body: Buffer.from(JSON.stringify({ message: 'Request Too Long' })) };
}

/**
 * The request body, or 'too-large' as soon as it is known to exceed `limit` (from Content-Length
 * before reading anything, or while reading a chunked body). What is left of an oversized body is
 * read and dropped, up to `limit` more bytes, so the client gets to read the 413 instead of a reset.
 */
export function readRequestBody(req: IncomingMessage, limit = MAX_REQUEST_BYTES): Promise<{ kind: 'ok'; body: Buffer } | { kind: 'too-large' }> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let size = 0;
    let over = false;
    const chunks: Buffer[] = [];
    const tooLarge = () => {
      over = true;
      chunks.length = 0;
      resolve({ kind: 'too-large' });
    };
    if (Number.isFinite(declared) && declared > limit) tooLarge();
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (over) {
        if (size > 2 * limit) req.destroy();
        return;
      }
      if (size > limit) tooLarge();
      else chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve({ kind: 'ok', body: Buffer.concat(chunks) });
    });
    req.on('error', (err) => {
      if (!over) reject(err);
    });
  });
}

/** A handler result as status, headers and body bytes; a malformed result is a 502 as in API Gateway. */
export function fromProxyResult(result: unknown): { status: number; headers: Record<string, string | string[]>; body: Buffer } {
  const r = result as ProxyResult | null;
  if (!r || typeof r !== 'object' || typeof r.statusCode !== 'number') {
    return jsonResponse(502, { message: 'Internal server error' });
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
  for (const [k, vs] of Object.entries(r.multiValueHeaders ?? {})) headers[k.toLowerCase()] = vs.map(String);
  const body = r.body === undefined || r.body === null ? Buffer.alloc(0) : r.isBase64Encoded ? Buffer.from(r.body, 'base64') : Buffer.from(String(r.body), 'utf8');
  return { status: r.statusCode, headers, body };
}

export function jsonResponse(status: number, payload: unknown): { status: number; headers: Record<string, string>; body: Buffer } {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(payload)) };
}

/** The authorizer's context as API Gateway hands it on: principalId plus scalar values only. */
export function authorizerContext(result: AuthorizerResult): Record<string, string | number | boolean> {
  const ctx: Record<string, string | number | boolean> = { principalId: result.principalId };
  for (const [k, v] of Object.entries(result.context ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') ctx[k] = v;
  }
  return ctx;
}
