import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handler as checkStatus, nextWait } from '../../src/handlers/check-catalog-status/index.ts';
import { handler as updateDb } from '../../src/handlers/update-catalog-db/index.ts';
import { clearSecretCache } from '../../src/handlers/shared/secrets.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { handlerEnv, type HandlerEnv } from './env.ts';

const fixture = async (name: string) => JSON.parse(await readFile(`fixtures/poller/${name}`, 'utf8')) as Record<string, unknown>;

/** Stands in for the external catalog API on a loopback port. */
class ExternalApi {
  server!: Server;
  url = '';
  requests: { path: string; auth: string | undefined }[] = [];
  respond: (req: IncomingMessage, n: number) => { status: number; body?: unknown } = () => ({ status: 200, body: {} });
  async start() {
    this.server = createServer((req, res) => {
      this.requests.push({ path: req.url ?? '', auth: req.headers.authorization });
      const { status, body } = this.respond(req, this.requests.length);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body ?? {}));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
  stop() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('poller handlers', function () {
  this.timeout(30_000);
  let env: HandlerEnv;
  const api = new ExternalApi();

  before(async () => {
    await (await getMoto()).reset();
    env = await handlerEnv('poller');
    await api.start();
    process.env.EXTERNAL_API_BASE_URL = api.url;
    delete process.env.TOKEN_SECRET_ARN;
  });
  after(async () => {
    await api.stop();
    await env.close();
  });
  beforeEach(() => {
    api.requests = [];
    clearSecretCache();
  });

  it("CheckCatalogStatus returns the seed's expected output for the seed's test event, field for field", async () => {
    api.respond = () => ({ status: 200, body: { catalog_name: 'test_catalog', kb_name: 'PENDING', data_source_name: 'PENDING' } });
    const out = await checkStatus((await fixture('check-status.event.json')) as never);
    assert.deepEqual(out, await fixture('check-status.expected.json'));
    assert.equal(api.requests[0]!.path, '/catalogs/test_catalog');
    assert.equal(api.requests[0]!.auth, 'Bearer your_jwt_token_here');
  });

  it('reports ready when both names are present, and computes capped backoff with wait_policy', async () => {
    api.respond = () => ({ status: 200, body: { kb_name: 'kb_1', data_source_name: 'ds_1' } });
    const out = await checkStatus({ catalog_name: 'c 1/x', local_catalog_id: 7, jwt_token: 't', attempt_count: 3, wait_policy: { interval_seconds: 20, backoff_rate: 2, max_interval_seconds: 60 } });
    assert.equal(out.catalog_ready, true);
    assert.equal(out.kb_name, 'kb_1');
    assert.equal(out.attempt_count, 4);
    assert.equal((out as { wait_seconds?: number }).wait_seconds, 60);
    assert.equal(api.requests[0]!.path, '/catalogs/c%201%2Fx', 'catalog name is path-encoded');
    assert.deepEqual([1, 2, 3, 4].map((a) => nextWait({ interval_seconds: 20, backoff_rate: 1.5, max_interval_seconds: 45 }, a)), [20, 30, 45, 45]);
  });

  it('retries transient 5xx answers and succeeds', async () => {
    api.respond = (_req, n) => (n < 3 ? { status: 503 } : { status: 200, body: { kb_name: 'PENDING' } });
    const out = await checkStatus({ catalog_name: 'c', local_catalog_id: 1, jwt_token: 't', attempt_count: 0 });
    assert.equal(api.requests.length, 3);
    assert.equal(out.catalog_ready, false);
  });

  it('fails with a named error after persistent 5xx, without leaking the token', async () => {
    api.respond = () => ({ status: 500 });
    await assert.rejects(checkStatus({ catalog_name: 'c', local_catalog_id: 1, jwt_token: 'secret-token-value', attempt_count: 0 }), (err: Error) => {
      assert.equal(err.name, 'ExternalApiError');
      assert.ok(!err.message.includes('secret-token-value'));
      return true;
    });
  });

  it('takes the token from a secret and re-reads it once on 401 (rotation)', async () => {
    const moto = await getMoto();
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: `poller-token-${Date.now()}`, SecretString: JSON.stringify({ token: 'old-token' }) }));
    process.env.TOKEN_SECRET_ARN = ARN!;
    try {
      api.respond = (req) => (req.headers.authorization === 'Bearer new-token' ? { status: 200, body: { kb_name: 'k', data_source_name: 'd' } } : { status: 401 });
      await checkStatus({ catalog_name: 'c', local_catalog_id: 1, attempt_count: 0 }).catch(() => undefined); // caches old-token
      await sm.send(new PutSecretValueCommand({ SecretId: ARN!, SecretString: JSON.stringify({ token: 'new-token' }) }));
      api.requests = [];
      const out = await checkStatus({ catalog_name: 'c', local_catalog_id: 1, attempt_count: 0 });
      assert.equal(out.catalog_ready, true);
      assert.deepEqual(api.requests.map((r) => r.auth), ['Bearer old-token', 'Bearer new-token']);
    } finally {
      delete process.env.TOKEN_SECRET_ARN;
    }
  });

  it("UpdateCatalogDB returns the seed's expected output and is idempotent", async () => {
    await env.query("INSERT INTO catalog (id, catalog_name) OVERRIDING SYSTEM VALUE VALUES (1, 'test_catalog')");
    const event = await fixture('update-db.event.json');
    assert.deepEqual(await updateDb(event as never), await fixture('update-db.expected.json'));
    const again = await updateDb(event as never);
    assert.equal(again.updated, false);
    assert.equal(again.rows_updated, 0);
    const rows = await env.query('SELECT kb_name, data_source_name, status FROM catalog WHERE id = 1');
    assert.deepEqual(rows, [{ kb_name: 'test_kb_12345', data_source_name: 'test_ds_67890', status: 'READY' }]);
    await assert.rejects(updateDb({ ...(event as object), local_catalog_id: 999 } as never), { name: 'CatalogNotFound' });
    await assert.rejects(updateDb({ ...(event as object), local_catalog_id: "1; DROP TABLE catalog" } as never), TypeError);
  });
});
