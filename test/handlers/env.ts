/**
 * Shared set-up for handler tests: a fresh migrated database, moto for AWS calls, and a JWKS
 * served from 127.0.0.1 with a real RSA key.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { resetPool } from '../../src/handlers/shared/db.ts';
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
  return {
    db,
    busArn,
    query: async (sql, params) => (await client.query(sql, params)).rows,
    async close() {
      await resetPool();
      await client.end();
      await db.drop();
      delete process.env.DATABASE_URL;
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
