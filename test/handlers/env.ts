/**
 * Shared set-up for handler tests: a fresh migrated database, moto for AWS calls, and a JWKS
 * served from 127.0.0.1 with a real RSA key.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { clearCursorKeys } from '../../src/handlers/shared/cursor.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { forgetFunctionTimeout } from '../../src/handlers/shared/timeouts.ts';
import { migrate } from '../../src/handlers/shared/migrations.ts';
import { clearSecretCache } from '../../src/handlers/shared/secrets.ts';
import { getMoto, MOTO_ACCOUNT_ID } from '../support/moto.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';

export const ISSUER = 'https://auth.test.example.com/';
export const AUDIENCE = 'catalog-api';

export interface HandlerEnv {
  db: TestDatabase;
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  busArn: string;
  close(): Promise<void>;
}

export async function handlerEnv(label: string): Promise<HandlerEnv> {
  const db = await createTestDatabase(label);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await migrate(client);
  const moto = await getMoto();
  Object.assign(process.env, {
    DATABASE_URL: db.url,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: moto.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    READ_PAGE_LIMIT: '500',
    CACHE_TTL_SEC: '60',
    DRR_INTEGRATION: 'true',
    AUDIT_ASYNC: 'true',
  });
  const busArn = `arn:aws:events:${moto.region}:${MOTO_ACCOUNT_ID}:event-bus/evidence-ledger`;
  process.env.EVIDENCE_BUS_ARN = busArn;
  await resetPool();
  clearSecretCache();
  // Per-container state of the handlers: this database has its own cursor key.
  clearCursorKeys();
  forgetFunctionTimeout();
  return {
    db,
    busArn,
    query: async (sql, params) => (await client.query(sql, params)).rows,
    async close() {
      await resetPool();
      clearCursorKeys();
      await client.end();
      await db.drop();
      delete process.env.DATABASE_URL;
    },
  };
}

/**
 * Collects what the handlers log instead of printing it, until `restore()`: console.log/error/warn,
 * and JSON lines written straight to stdout (the authorizer's metric records), one object a line as
 * Lambda ships them to CloudWatch Logs. Other stdout (mocha's own) passes through.
 */
export function captureLogs(): { lines: Record<string, unknown>[]; raw: string[]; restore(): void } {
  const original = { log: console.log, error: console.error, warn: console.warn };
  const write = process.stdout.write;
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const take = (...args: unknown[]) => {
    const text = args.map(String).join(' ');
    raw.push(text);
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      lines.push({ unparsed: text });
    }
  };
  console.log = take;
  console.error = take;
  console.warn = take;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!text.startsWith('{')) return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    for (const line of text.split('\n').filter(Boolean)) take(line);
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  return {
    lines,
    raw,
    restore: () => {
      Object.assign(console, original);
      process.stdout.write = write;
    },
  };
}

export interface Issuer {
  url: string;
  jwk: JWK;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  sign(claims: Record<string, unknown>, opts?: { kid?: string; exp?: string | number; nbf?: string | number; iss?: string; aud?: string }): Promise<string>;
  close(): Promise<void>;
}

/** A token issuer with its JWKS on a loopback port. */
export async function startIssuer(): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    jwk,
    privateKey,
    sign: (claims, opts = {}) => {
      let t = new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'test-key-1' })
        .setIssuer(opts.iss ?? ISSUER)
        .setAudience(opts.aud ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(opts.exp ?? '5m');
      if (opts.nbf !== undefined) t = t.setNotBefore(opts.nbf);
      return t.sign(privateKey);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A deterministic generator (mulberry32), so the generated cases are the same on every run. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
