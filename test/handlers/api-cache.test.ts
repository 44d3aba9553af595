/**
 * The API cache and tenants, behaviourally: the rendered staging and prod catalog-service's cache
 * settings (stage MethodSettings, each method's CacheKeyParameters) applied by a stand-in for API
 * Gateway's stage cache (test/support/api-gateway-cache.ts) in front of the local gateway with the
 * real authorizer and handlers on PostgreSQL. With the rendered keys no caller is served another
 * tenant's page, nor a 304 it did not ask for; with the keys the templates had before (limit and
 * cursor; the path id) the same requests leak, which shows the test can see a leak.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { handler as authorizer } from '../../src/handlers/authorizer/index.ts';
import { handler as getDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { handler as migrate } from '../../src/handlers/migrate/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { clearCursorKeys } from '../../src/handlers/shared/cursor.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { forgetFunctionTimeout } from '../../src/handlers/shared/timeouts.ts';
import { loadOrCreateKey, LOCAL_AUDIENCE, LOCAL_ISSUER, type LocalKey } from '../../src/local/keys.ts';
import { startLocal, type HandlerSet, type LocalServer } from '../../src/local/server.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { cachedMethods, startApiCache, type ApiCache, type CachedMethod } from '../support/api-gateway-cache.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';
import { captureLogs } from './env.ts';
import { send, type Res } from './send.ts';

const BASE = '/storage/v1/catalog';

const get = (base: string, path: string, headers: Record<string, string>): Promise<Res> => send(base, { method: 'GET', path, headers });

describe('API cache: the rendered cache keys keep tenants and conditional requests apart (API Gateway cache stand-in)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let local: LocalServer;
  let key: LocalKey;
  let stateDir: string;
  let logs: ReturnType<typeof captureLogs>;
  const auth: Record<'a' | 'b', string> = { a: '', b: '' };
  const names: Record<'a' | 'b', string> = { a: 'tenant-a-report', b: 'tenant-b-secret' };
  let aId = '';
  const caches: ApiCache[] = [];

  const template = (env: string) => JSON.parse(readFileSync(`templates-out/${env}/catalog-service.json`, 'utf8')) as Parameters<typeof cachedMethods>[0];
  async function cacheWith(methods: CachedMethod[]): Promise<ApiCache> {
    const c = await startApiCache(local.url, methods);
    caches.push(c);
    return c;
  }

  before(async () => {
    logs = captureLogs();
    stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-api-cache-'));
    key = await loadOrCreateKey(stateDir);
    db = await createTestDatabase('apicache');
    await resetPool();
    clearCursorKeys();
    forgetFunctionTimeout();
    const handlers = { 'list-datasets': listDatasets, 'get-dataset': getDataset, 'write-dataset': writeDataset, authorizer, migrate } as unknown as HandlerSet;
    local = await startLocal({ port: 0, databaseUrl: db.url, stateDir, loadHandlers: async () => handlers, reporter: new RecordingReporter(), app: { readPageLimit: 500, cacheTtlSec: 60, drrIntegration: true, auditAsync: false, dbMaxConn: 5 } });
    const now = Math.floor(Date.now() / 1000);
    for (const [who, tenant] of [['a', 'tenant-a'], ['b', 'tenant-b']] as const) {
      const token = await new SignJWT({ iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, sub: who, tenant_id: tenant, roles: ['owner'], iat: now, nbf: now - 5, exp: now + 600 }).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
      auth[who] = `Bearer ${token}`;
      const r = await send(local.url, { method: 'POST', path: `${BASE}/datasets`, headers: { authorization: auth[who] }, body: JSON.stringify({ name: names[who] }) });
      assert.equal(r.status, 201, r.body);
      if (who === 'a') aId = (JSON.parse(r.body) as { id: string }).id;
    }
  });

  after(async () => {
    for (const c of caches) await c.stop();
    await local?.stop();
    await resetPool();
    clearCursorKeys();
    await db?.drop();
    rmSync(stateDir, { recursive: true, force: true });
    logs.restore();
  });

  it('the stand-in reads what staging and prod render: list and describe cached, keyed on the caller and If-None-Match; dev caches nothing', () => {
    for (const env of ['staging', 'prod']) {
      assert.deepEqual(
        cachedMethods(template(env)).map((m) => [m.httpMethod, m.path, m.keys]),
        [
          ['GET', `${BASE}/datasets`, ['method.request.header.Authorization', 'method.request.header.If-None-Match', 'method.request.querystring.limit', 'method.request.querystring.cursor']],
          ['GET', `${BASE}/datasets/{id}`, ['method.request.header.Authorization', 'method.request.header.If-None-Match', 'method.request.path.id']],
        ],
        env,
      );
    }
    assert.deepEqual(cachedMethods(template('dev')), []);
  });

  for (const env of ['staging', 'prod']) {
    it(`${env}'s keys: tenant B's list is B's own, a client without If-None-Match gets the body; the same caller's repeat is a hit`, async () => {
      const cache = await cacheWith(cachedMethods(template(env)));
      const a1 = await get(cache.url, `${BASE}/datasets?limit=50`, { authorization: auth.a });
      assert.equal(a1.status, 200, a1.body);
      assert.ok(a1.body.includes(names.a) && !a1.body.includes(names.b), a1.body);
      const b1 = await get(cache.url, `${BASE}/datasets?limit=50`, { authorization: auth.b });
      assert.equal(b1.status, 200, b1.body);
      assert.ok(b1.body.includes(names.b) && !b1.body.includes(names.a), `tenant B served: ${b1.body}`);
      const a2 = await get(cache.url, `${BASE}/datasets?limit=50`, { authorization: auth.a });
      assert.equal(a2.body, a1.body);
      assert.deepEqual([cache.hits, cache.misses], [1, 2], 'A\'s repeat came from the cache, B\'s request did not');

      // Conditional: A's 304 is cached under A's If-None-Match; a request without it gets the dataset.
      const d1 = await get(cache.url, `${BASE}/datasets/${aId}`, { authorization: auth.a });
      const etag = String(d1.headers.etag);
      const d304 = await get(cache.url, `${BASE}/datasets/${aId}`, { authorization: auth.a, 'if-none-match': etag });
      assert.equal(d304.status, 304);
      const d2 = await get(cache.url, `${BASE}/datasets/${aId}`, { authorization: auth.a });
      assert.equal(d2.status, 200);
      assert.ok(d2.body.includes(names.a), d2.body);
      const dB = await get(cache.url, `${BASE}/datasets/${aId}`, { authorization: auth.b });
      assert.equal(dB.status, 404, `tenant B asking for A's dataset: ${dB.body}`);
    });
  }

  it('with the keys the templates had before (limit and cursor; the path id), the same requests leak: the stand-in sees it', async () => {
    const old = cachedMethods(template('prod')).map((m) => ({ ...m, keys: m.keys.filter((k) => !k.startsWith('method.request.header.')) }));
    const cache = await cacheWith(old);
    await get(cache.url, `${BASE}/datasets?limit=50`, { authorization: auth.a });
    const b = await get(cache.url, `${BASE}/datasets?limit=50`, { authorization: auth.b });
    assert.ok(b.body.includes(names.a), 'tenant B receives tenant A\'s cached page');
    const d304 = await get(cache.url, `${BASE}/datasets/${aId}`, { authorization: auth.a, 'if-none-match': '"x"' });
    assert.equal(d304.status, 200, 'a non-matching tag: the body, now cached for everyone');
    const etag = String(d304.headers.etag);
    const fresh = await startApiCache(local.url, old);
    caches.push(fresh);
    assert.equal((await get(fresh.url, `${BASE}/datasets/${aId}`, { authorization: auth.a, 'if-none-match': etag })).status, 304);
    const plain = await get(fresh.url, `${BASE}/datasets/${aId}`, { authorization: auth.a });
    assert.equal(plain.status, 304, 'a client that sent no If-None-Match is served the cached 304');
  });
});
