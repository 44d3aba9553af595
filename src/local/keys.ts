/**
 * The local signing key: an RSA key pair kept in `<stateDir>/signing-key.json` (mode 0600) so tokens
 * minted by `catalogctl local token` stay valid across restarts of `catalogctl local`. The public half
 * is served as a JWKS, which the real authorizer fetches through JWT_JWKS_URI.
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserInputError } from '../errors.ts';

/** Issuer and audience the local authorizer enforces; the minted tokens carry them. */
export const LOCAL_ISSUER = 'https://catalogctl.local/';
export const LOCAL_AUDIENCE = 'catalog-api';
export const DEFAULT_STATE_DIR = '.catalogctl/local';
const ALG = 'RS256';

export interface LocalKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JsonWebKey & { kid: string; alg: string; use: string };
}

export async function loadOrCreateKey(stateDir = DEFAULT_STATE_DIR): Promise<LocalKey> {
  const file = join(stateDir, 'signing-key.json');
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `local-${randomUUID()}` };
    // Created 0600 from the first byte, then renamed into place: never readable by others.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(jwk) + '\n', { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  }
  let jwk: JsonWebKey & { kid?: string };
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey & { kid?: string };
  } catch (err) {
    throw new UserInputError(`${file}: not a readable signing key (${(err as Error).message}); delete it to make a new one`);
  }
  if (jwk.kty !== 'RSA' || typeof jwk.kid !== 'string' || !jwk.d) {
    throw new UserInputError(`${file}: not an RSA private JWK with a kid; delete it to make a new one`);
  }
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  return { kid: jwk.kid, privateKey, publicJwk: { ...pub, kid: jwk.kid, alg: ALG, use: 'sig' } };
}

export function jwks(key: LocalKey): { keys: LocalKey['publicJwk'][] } {
  return { keys: [key.publicJwk] };
}

export interface MintOptions {
  tenant: string;
  roles: string[];
  /** Lifetime in seconds. */
  ttlSeconds: number;
  subject?: string;
  issuer?: string;
  audience?: string;
}

/** Claim names the platform tokens use for the tenant and the roles. */
export const TENANT_CLAIM = 'tenant_id';
export const ROLES_CLAIM = 'roles';

export async function mintToken(key: LocalKey, opts: MintOptions): Promise<string> {
  const { SignJWT } = await import('jose');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ [TENANT_CLAIM]: opts.tenant, [ROLES_CLAIM]: opts.roles })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(opts.issuer ?? LOCAL_ISSUER)
    .setAudience(opts.audience ?? LOCAL_AUDIENCE)
    .setSubject(opts.subject ?? `local:${opts.tenant}`)
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + opts.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** `15m`, `2h`, `3600` (seconds), `1d` → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new UserInputError(`--ttl: "${text}" is not a duration like 3600, 15m, 2h or 1d`);
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2] ?? '']!;
  if (n <= 0 || n > 30 * 86400) throw new UserInputError(`--ttl: must be between 1 second and 30 days, got ${text}`);
  return n;
}
