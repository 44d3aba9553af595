/**
 * JWT authorizer (API Gateway TOKEN authorizer). Verifies platform tokens against the JWKS at
 * JWT_JWKS_URI: asymmetric algorithms only, exp/nbf/iss/aud enforced, `iat` not in the future
 * (beyond the clock skew), unknown kid rejected, and the claims the handlers store (tenant, subject,
 * roles) checked for form. Returns the tenant id and roles in the context for access logs and the
 * handlers.
 */
import { createRemoteJWKSet, customFetch, jwtVerify, type FetchImplementation, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { httpGet } from '../shared/http-get.ts';
import { textProblem } from '../shared/input.ts';
import { classifyVerifyError, emitRecord, refusalRecord } from './metrics.ts';

// The JWKS over node:http(s), not fetch(): undici's first load costs a cold start 50–70 ms (http-get.ts).
// Its errors keep fetch()'s shape (TypeError 'fetch failed' with the socket error as cause), which
// classifyVerifyError reads.
const jwksFetch: FetchImplementation = (url, options) => httpGet(url, { headers: options.headers as unknown as Iterable<[string, string]>, signal: options.signal }) as unknown as Promise<Response>;

export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface TokenAuthorizerEvent {
  type?: string;
  authorizationToken?: string;
  methodArn: string;
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: { Version: '2012-10-17'; Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[] };
  context: { tenantId: string; roles: string; sub: string };
}

let jwks: { uri: string; get: JWTVerifyGetKey } | undefined;

function keySet(): JWTVerifyGetKey {
  const uri = process.env.JWT_JWKS_URI;
  if (!uri) throw new Error('JWT_JWKS_URI is not set');
  // Cached per container; jose refetches on an unknown kid at most once per cooldown.
  if (!jwks || jwks.uri !== uri) jwks = { uri, get: createRemoteJWKSet(new URL(uri), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 3000, [customFetch]: jwksFetch }) };
  return jwks.get;
}

/** Resource covering every method and path of the stage, so the cached decision serves them all. */
function stageWildcard(methodArn: string): string {
  const [apiArn, stage] = methodArn.split('/');
  return `${apiArn}/${stage}/*`;
}

/** Seconds of clock difference tolerated between the issuer and us, for exp, nbf and iat alike. */
export const CLOCK_SKEW_SECONDS = 5;

// The subject becomes a dataset's `owner` and an audit actor: no control characters, NUL or lone
// surrogates (PostgreSQL text cannot hold them), at most 256 characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SUBJECT = /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/u;

export async function verifyToken(token: string, now = Date.now()): Promise<JWTPayload & { tenant_id: string; roles: string[] }> {
  const issuer = process.env.JWT_ISSUER;
  const audience = process.env.JWT_AUDIENCE;
  if (!issuer || !audience) throw new Error('JWT_ISSUER and JWT_AUDIENCE must be set');
  const { payload } = await jwtVerify(token, keySet(), { issuer, audience, algorithms: ALLOWED_ALGORITHMS, clockTolerance: CLOCK_SKEW_SECONDS, requiredClaims: ['exp', 'sub'], currentDate: new Date(now) });
  // jose checks iat only with maxTokenAge; a token "issued" in the future is refused here.
  if (payload.iat !== undefined && payload.iat > Math.floor(now / 1000) + CLOCK_SKEW_SECONDS) throw new Error('token iat is in the future');
  if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub) || textProblem(payload.sub)) throw new Error('token has no valid sub');
  const tenant = payload.tenant_id;
  if (typeof tenant !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(tenant)) throw new Error('token has no valid tenant_id');
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string' && /^[a-z][a-z0-9_-]{0,63}$/.test(r)) : [];
  return { ...payload, tenant_id: tenant, roles };
}

export async function handler(event: TokenAuthorizerEvent): Promise<AuthorizerResult> {
  const raw = event.authorizationToken ?? '';
  const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(raw);
  try {
    if (!m) throw new Error('missing bearer token');
    const claims = await verifyToken(m[1]!);
    return {
      principalId: claims.sub!,
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcard(event.methodArn) }] },
      context: { tenantId: claims.tenant_id, roles: claims.roles.join(','), sub: claims.sub! },
    };
  } catch (err) {
    // A rejected token and the authorizer's own failure are told apart in the log line, which is
    // also their metric (./metrics.ts); the reason is logged, never the token. API Gateway turns
    // this error into a 401.
    emitRecord(refusalRecord(classifyVerifyError(err), err instanceof Error ? err.message : String(err)));
    throw new Error('Unauthorized');
  }
}
