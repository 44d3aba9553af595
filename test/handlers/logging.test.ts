/**
 * Success logs sampled at LOG_SUCCESS_SAMPLE_RATE (the env file's logging.successLogSampleRate),
 * errors always logged (issue 17), through the real handlers on PostgreSQL and the real authorizer
 * (whose successes are API Gateway's access log lines, and whose rejections are its metric records).
 * The sampling decision follows from the request id, so the expected count is exact for fixed ids.
 */
import { strict as assert } from 'node:assert';
import { SignJWT } from 'jose';
import { handler as authorizer } from '../../src/handlers/authorizer/index.ts';
import { handler as getDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { sampled, type ProxyEvent } from '../../src/handlers/shared/http.ts';
import { successLogSampleRate } from '../../src/handlers/shared/env.ts';
import { AUDIENCE, captureLogs, handlerEnv, ISSUER, startIssuer, type HandlerEnv, type Issuer } from './env.ts';

const BASE = '/storage/v1/catalog';
const who = { principalId: 'alice', tenantId: 'tenant-a', roles: 'owner' };
const describeEvent = (id: string, requestId: string): ProxyEvent => ({ httpMethod: 'GET', resource: `${BASE}/datasets/{id}`, pathParameters: { id }, requestContext: { requestId, authorizer: who } });

describe('success logs are sampled at the env\'s rate; errors always logged', function () {
  this.timeout(60_000);
  let env: HandlerEnv;
  let issuer: Issuer;
  let id = '';
  const saved = process.env.LOG_SUCCESS_SAMPLE_RATE;

  before(async () => {
    env = await handlerEnv('logging');
    issuer = await startIssuer();
    Object.assign(process.env, { JWT_JWKS_URI: issuer.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    const logs = captureLogs();
    try {
      const r = await writeDataset({ httpMethod: 'POST', resource: `${BASE}/datasets`, body: '{"name":"logged"}', requestContext: { requestId: 'setup', authorizer: who } });
      assert.equal(r.statusCode, 201, r.body);
      id = (JSON.parse(r.body) as { id: string }).id;
    } finally {
      logs.restore();
    }
  });
  after(async () => {
    if (saved === undefined) delete process.env.LOG_SUCCESS_SAMPLE_RATE;
    else process.env.LOG_SUCCESS_SAMPLE_RATE = saved;
    await issuer.close();
    await env.close();
  });

  async function run(rate: string | undefined, n: number, requestId: (i: number) => string, event: (rid: string) => ProxyEvent = (rid) => describeEvent(id, rid)) {
    if (rate === undefined) delete process.env.LOG_SUCCESS_SAMPLE_RATE;
    else process.env.LOG_SUCCESS_SAMPLE_RATE = rate;
    const logs = captureLogs();
    const statuses: number[] = [];
    try {
      for (let i = 0; i < n; i++) statuses.push((await getDataset(event(requestId(i)))).statusCode);
    } finally {
      logs.restore();
    }
    return { statuses, lines: logs.lines.filter((l) => l.message === 'request') };
  }

  it('prod\'s 1 %: exactly the requests whose id samples in, about 1 in 100', async () => {
    const ids = (i: number) => `3f2c${String(i).padStart(4, '0')}-0000-4000-8000-${String(i * 7919).padStart(12, '0')}`;
    const n = 3000;
    const { statuses, lines } = await run('0.01', n, ids);
    assert.ok(statuses.every((s) => s === 200));
    const want = Array.from({ length: n }, (_, i) => ids(i)).filter((r) => sampled(r, 0.01));
    assert.deepEqual(lines.map((l) => l.requestId), want);
    assert.ok(want.length >= 15 && want.length <= 50, `${want.length} of ${n} sampled at 1 %`);
    for (const l of lines) {
      assert.equal(l.level, 'info');
      assert.equal(l.status, 200);
      assert.equal(l.resource, `${BASE}/datasets/{id}`);
      assert.equal(l.tenantId, 'tenant-a');
      assert.equal(typeof l.ms, 'number');
    }
    // Over many ids the rate holds (the hash is uniform enough for sampling).
    const many = Array.from({ length: 100_000 }, (_, i) => `req-${i}`).filter((r) => sampled(r, 0.01)).length;
    assert.ok(many > 900 && many < 1100, `${many} of 100,000`);
  });

  it('errors are logged at any rate, with their code; 0 logs no success; 1, unset or malformed logs every one', async () => {
    const errors = await run('0', 50, (i) => `err-${i}`, (rid) => describeEvent(rid.endsWith('0') ? '00000000-0000-4000-8000-000000000000' : 'not-a-uuid', rid));
    assert.equal(errors.lines.length, 50);
    assert.ok(errors.lines.every((l) => l.level === 'warn' && (l.code === 'not_found' || l.code === 'invalid_id')));
    assert.equal((await run('0', 200, (i) => `ok-${i}`)).lines.length, 0);
    for (const rate of ['1', undefined, '', 'abc', '2', '-0.5']) assert.equal((await run(rate, 20, (i) => `all-${i}`)).lines.length, 20, `rate ${String(rate)}`);
    process.env.LOG_SUCCESS_SAMPLE_RATE = '0.25';
    assert.equal(successLogSampleRate(), 0.25);
  });

  it("the authorizer: nothing for an accepted token (API Gateway's access log has it), every rejection logged, never the token", async () => {
    const methodArn = 'arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/storage/v1/catalog/datasets';
    const good = await issuer.sign({ sub: 'alice', tenant_id: 'tenant-a', roles: ['reader'] });
    const bad = await issuer.sign({ sub: 'alice', tenant_id: 'tenant-a' }, { exp: Math.floor(Date.now() / 1000) - 60 });
    const future = await new SignJWT({ sub: 'alice', tenant_id: 'tenant-a', iat: Math.floor(Date.now() / 1000) + 3600 }).setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('2h').sign(issuer.privateKey);
    for (const rate of ['0', '1']) {
      process.env.LOG_SUCCESS_SAMPLE_RATE = rate;
      const logs = captureLogs();
      try {
        for (let i = 0; i < 5; i++) await authorizer({ type: 'TOKEN', authorizationToken: `Bearer ${good}`, methodArn });
        for (const t of [bad, bad, future]) await assert.rejects(authorizer({ type: 'TOKEN', authorizationToken: `Bearer ${t}`, methodArn }), /^Error: Unauthorized$/);
      } finally {
        logs.restore();
      }
      assert.equal(logs.lines.length, 3, `rate ${rate}: one line per rejection, none per acceptance`);
      assert.ok(logs.lines.every((l) => l.message === 'token rejected' && l.TokensRejected === 1 && l.AuthorizerFailures === 0), 'a token refused is a rejection, not an authorizer failure');
      assert.match(String(logs.lines[2]!.reason), /iat is in the future/);
      assert.ok(![good, bad, future].some((t) => logs.raw.join('\n').includes(t.split('.')[2]!)), 'no token in the logs');
    }
  });
});
