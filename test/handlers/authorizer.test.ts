import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { handler } from '../../src/handlers/authorizer/index.ts';
import { AUDIENCE, ISSUER, startIssuer, type Issuer } from './env.ts';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/storage/v1/catalog/datasets';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

describe('JWT authorizer', () => {
  let issuer: Issuer;
  before(async () => {
    issuer = await startIssuer();
    Object.assign(process.env, { JWT_JWKS_URI: issuer.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });
  after(async () => issuer.close());

  const call = (token: string) => handler({ type: 'TOKEN', authorizationToken: `Bearer ${token}`, methodArn: METHOD_ARN });
  const rejects = (token: string) => assert.rejects(call(token), /^Error: Unauthorized$/);

  it('allows a valid token and passes tenant and roles in the context', async () => {
    const r = await call(await issuer.sign({ sub: 'alice', tenant_id: 'tenant-a', roles: ['owner', 'reader'] }));
    assert.equal(r.principalId, 'alice');
    assert.deepEqual(r.context, { tenantId: 'tenant-a', roles: 'owner,reader', sub: 'alice' });
    assert.equal(r.policyDocument.Statement[0]!.Effect, 'Allow');
    assert.equal(r.policyDocument.Statement[0]!.Resource, 'arn:aws:execute-api:us-east-1:123456789012:abc123/dev/*');
  });

  it('rejects alg none', async () => {
    await rejects(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', tenant_id: 't', iss: ISSUER, aud: AUDIENCE, exp: now() + 60 })}.`);
  });

  it('rejects HS256 signed with the public key as the secret', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const header = b64({ alg: 'HS256', kid: 'test-key-1', typ: 'JWT' });
    const payload = b64({ sub: 'x', tenant_id: 't', iss: ISSUER, aud: AUDIENCE, exp: now() + 60 });
    const sig = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    await rejects(`${header}.${payload}.${sig}`);
    // and with the JWKS's own key material as the HMAC secret
    const sig2 = createHmac('sha256', JSON.stringify(issuer.jwk)).update(`${header}.${payload}`).digest('base64url');
    await rejects(`${header}.${payload}.${sig2}`);
  });

  it('rejects expired and not-yet-valid tokens', async () => {
    await rejects(await issuer.sign({ sub: 'a', tenant_id: 't' }, { exp: now() - 60 }));
    await rejects(await issuer.sign({ sub: 'a', tenant_id: 't' }, { nbf: now() + 600 }));
  });

  it('rejects the wrong issuer or audience', async () => {
    await rejects(await issuer.sign({ sub: 'a', tenant_id: 't' }, { iss: 'https://evil.example.com/' }));
    await rejects(await issuer.sign({ sub: 'a', tenant_id: 't' }, { aud: 'another-api' }));
  });

  it('rejects an unknown kid', async () => {
    await rejects(await issuer.sign({ sub: 'a', tenant_id: 't' }, { kid: 'unknown-key' }));
  });

  it('rejects a tampered payload', async () => {
    const good = await issuer.sign({ sub: 'alice', tenant_id: 'tenant-a', roles: ['reader'] });
    const [h, , s] = good.split('.');
    const evil = b64({ sub: 'alice', tenant_id: 'tenant-b', roles: ['platform'], iss: ISSUER, aud: AUDIENCE, exp: now() + 60 });
    await rejects(`${h}.${evil}.${s}`);
  });

  it('rejects a token signed by another key with the same kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ sub: 'a', tenant_id: 't' }).setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(privateKey);
    await rejects(forged);
  });

  it('rejects a token issued in the future beyond the clock skew, and subjects PostgreSQL cannot store', async () => {
    const at = (iat: number, sub: unknown = 'a') =>
      new SignJWT({ sub, tenant_id: 't', iat } as Record<string, unknown>).setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime(now() + 400 * 86400).sign(issuer.privateKey);
    await rejects(await at(now() + 365 * 86400));
    await rejects(await at(now() + 10));
    assert.equal((await call(await at(now() + 3))).principalId, 'a', 'inside the 5 s skew');
    for (const sub of ['a\u0000b', 'a\nb', '\ud800', 'x'.repeat(257), '', 7]) await rejects(await at(now(), sub));
    assert.equal((await call(await at(now(), 'auth0|user@example.com é'))).principalId, 'auth0|user@example.com é');
  });

  it('rejects a missing tenant, a missing bearer prefix and garbage', async () => {
    await rejects(await issuer.sign({ sub: 'a' }));
    await assert.rejects(handler({ authorizationToken: await issuer.sign({ sub: 'a', tenant_id: 't' }), methodArn: METHOD_ARN }), /Unauthorized/);
    await rejects('not-a-jwt');
  });
});
