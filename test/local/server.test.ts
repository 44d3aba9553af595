/**
 * The local server's API Gateway adapter, token minting, audit sink, local poller and the verify
 * checks, in-process against stand-in handlers (./fixtures) on a throwaway PostgreSQL the server
 * starts itself.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateKey, mintToken } from '../../src/local/keys.ts';
import { startLocal, type LocalServer } from '../../src/local/server.ts';
import { verify, failingChecks } from '../../src/verify/index.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { seedDatasets } from '../../src/local/seed.ts';
import { closeStandIns, standInHandlers, standInSwitches, STAND_IN_STATE_MACHINE } from './fixtures/stand-in-handlers.ts';

describe('local server (stand-in handlers)', function () {
  this.timeout(60_000);
  let stateDir: string;
  let local: LocalServer;
  let external: Server;
  let externalUrl: string;
  let token: string;
  let reader: string;
  const readyAfter = new Map<string, number>();
  const calls = new Map<string, number>();

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-local-test-'));
    // The external catalog API: PENDING until a catalog has been asked about `readyAfter` times.
    external = createServer((req, res) => {
      const name = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      const n = (calls.get(name) ?? 0) + 1;
      calls.set(name, n);
      const ready = n >= (readyAfter.get(name) ?? Infinity);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kb_name: ready ? `kb_${name}` : 'PENDING', data_source_name: ready ? `ds_${name}` : 'PENDING' }));
    });
    await new Promise<void>((r) => external.listen(0, '127.0.0.1', () => r()));
    externalUrl = `http://127.0.0.1:${(external.address() as AddressInfo).port}`;
    local = await startLocal({
      port: 0,
      stateDir,
      seed: 25,
      externalApi: externalUrl,
      stateMachine: STAND_IN_STATE_MACHINE,
      pollWaitMs: 10,
      loadHandlers: async () => standInHandlers(),
      seedDatasets: (url, n) => seedDatasets(url, n, { tenant: 'tenant-a' }),
      reporter: new RecordingReporter(),
    });
    token = await mintToken(await loadOrCreateKey(stateDir), { tenant: 'tenant-a', roles: ['platform'], ttlSeconds: 600 });
    reader = await mintToken(await loadOrCreateKey(stateDir), { tenant: 'tenant-a', roles: ['reader'], ttlSeconds: 600 });
  });

  after(async () => {
    await local?.stop();
    await closeStandIns();
    await new Promise((r) => external?.close(r));
    rmSync(stateDir, { recursive: true, force: true });
  });

  const get = (path: string, tok?: string) => fetch(local.url + path, { headers: tok ? { authorization: `Bearer ${tok}` } : {} });

  it('keeps the signing key private and reuses it, so tokens survive restarts', async () => {
    const file = join(stateDir, 'signing-key.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const a = await loadOrCreateKey(stateDir);
    const b = await loadOrCreateKey(stateDir);
    assert.equal(a.kid, b.kid);
    assert.ok(!JSON.stringify((await (await get('/_local/jwks.json')).json()) as object).includes('"d"'), 'JWKS must not carry the private exponent');
  });

  it('serves a request with a minted token through the authorizer to the handler', async () => {
    const res = await get('/storage/v1/catalog/datasets?limit=2', reader);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { items: { id: string }[] };
    assert.deepEqual(body.items.map((i) => i.id), ['ds-0000001', 'ds-0000002']);
    assert.ok(res.headers.get('x-amzn-requestid'));
  });

  it('verify passes against it', async () => {
    // Latency limits raised: this is about the checks against local, not this machine's load.
    const report = await verify({ baseUrl: local.url, token, requests: 20, thresholds: { healthP99Ms: 5_000, dbP95Ms: 5_000 } });
    assert.equal(report.mode, 'local');
    assert.deepEqual(failingChecks(report), [], JSON.stringify(report.checks, null, 2));
    assert.deepEqual(report.checks.map((c) => c.status), ['pass', 'pass', 'pass', 'pass']);
  });

  it("gives handlers the env's function timeouts in their context and its success-log sample rate", async () => {
    const seen: { fn: string; remaining: number; rate: string | undefined }[] = [];
    const probe = (fn: string) => async (_e: unknown, ctx: { getRemainingTimeInMillis(): number }) => {
      seen.push({ fn, remaining: ctx.getRemainingTimeInMillis(), rate: process.env.LOG_SUCCESS_SAMPLE_RATE });
      return { statusCode: 200, headers: {}, body: '{}' };
    };
    const other = await startLocal({
      port: 0,
      stateDir,
      databaseUrl: local.databaseUrl,
      functionTimeoutsMs: { 'list-datasets': 20_000, 'get-dataset': 3_000 },
      successLogSampleRate: 0.01,
      loadHandlers: async () => ({ ...standInHandlers(), 'list-datasets': probe('list-datasets'), 'get-dataset': probe('get-dataset') }) as never,
      reporter: new RecordingReporter(),
    });
    try {
      const call = (path: string) => fetch(other.url + path, { headers: { authorization: `Bearer ${reader}` } });
      assert.equal((await call('/storage/v1/catalog/datasets')).status, 200);
      assert.equal((await call('/storage/v1/catalog/datasets/ds-0000001')).status, 200);
    } finally {
      await other.stop();
    }
    assert.deepEqual(seen.map((s) => [s.fn, s.rate]), [['list-datasets', '0.01'], ['get-dataset', '0.01']]);
    assert.ok(seen[0]!.remaining > 10_000 && seen[0]!.remaining <= 20_000, `list-datasets had ${seen[0]!.remaining} ms`);
    assert.ok(seen[1]!.remaining <= 3_000, `get-dataset had ${seen[1]!.remaining} ms`);
    assert.equal(process.env.LOG_SUCCESS_SAMPLE_RATE, undefined, 'put back on stop');
  });

  it('answers 401 without a token or with a token from another key, 403 for unknown routes', async () => {
    assert.equal((await get('/storage/v1/catalog/datasets')).status, 401);
    const otherDir = mkdtempSync(join(tmpdir(), 'catalogctl-other-key-'));
    try {
      const foreign = await mintToken(await loadOrCreateKey(otherDir), { tenant: 'tenant-a', roles: ['reader'], ttlSeconds: 600 });
      assert.equal((await get('/storage/v1/catalog/datasets', foreign)).status, 401);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
    const unknown = await get('/storage/v1/nothing', token);
    assert.equal(unknown.status, 403);
    assert.deepEqual(await unknown.json(), { message: 'Missing Authentication Token' });
  });

  it('passes path parameters, bodies and the authorizer context; audit events land in the sink and the JSONL file', async () => {
    const res = await get('/storage/v1/catalog/datasets/ds-0000003', reader);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { name: string }).name, 'dataset 3');
    const created = await fetch(`${local.url}/storage/v1/catalog/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'orders' }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const { events } = (await (await get(`/_local/audit?contains=${id}`)).json()) as { events: { detailType: string; detail: { tenant_id: string } }[] };
    assert.equal(events.at(-1)?.detailType, 'DatasetCreated');
    assert.equal(events.at(-1)?.detail.tenant_id, 'tenant-a');
    assert.ok(readFileSync(local.auditFile, 'utf8').includes(id));
  });

  it('runs the state machine against the poller handlers when a catalog is created', async () => {
    readyAfter.set('sales', 3);
    const res = await fetch(`${local.url}/storage/v1/catalog/catalogs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ catalog_name: 'sales' }),
    });
    assert.equal(res.status, 201);
    const { execution_arn } = (await res.json()) as { execution_arn: string };
    let exec: { status: string; states: string[] } | undefined;
    for (let i = 0; i < 100; i++) {
      const { executions } = (await (await get('/_local/executions')).json()) as { executions: { executionArn: string; status: string; states: string[] }[] };
      exec = executions.find((e) => e.executionArn === execution_arn);
      if (exec && exec.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(exec?.status, 'SUCCEEDED');
    assert.equal(exec?.states.filter((s) => s === 'CheckCatalogStatus').length, 3);
    assert.equal(calls.get('sales'), 3);
  });

  it('verify fails naming synthetic when the token may not write and no --dataset is given', async () => {
    const report = await verify({ baseUrl: local.url, token: reader, requests: 5 });
    assert.deepEqual(report.checks.slice(0, 3).map((c) => c.status), ['pass', 'fail', 'pass']);
    assert.match(report.checks[1]!.detail!, /403.*owner or platform role/);
  });

  it('verify fails naming health and auth-failures when the authorizer rejects everything', async () => {
    standInSwitches.rejectAll = true;
    try {
      const fresh = await mintToken(await loadOrCreateKey(stateDir), { tenant: 'tenant-a', roles: ['platform'], ttlSeconds: 601 });
      const report = await verify({ baseUrl: local.url, token: fresh, requests: 20 });
      assert.ok(failingChecks(report).includes('auth-failures'), JSON.stringify(report.checks));
      assert.ok(failingChecks(report).includes('health'));
      assert.match(report.checks.find((c) => c.name === 'health')!.detail!, /401/);
    } finally {
      standInSwitches.rejectAll = false;
    }
  });

  it('verify fails naming db-smoke and health when the database is stopped', async () => {
    await closeStandIns();
    await local.cluster!.pause();
    const report = await verify({ baseUrl: local.url, token, requests: 5 });
    const failing = failingChecks(report);
    assert.ok(failing.includes('db-smoke'), JSON.stringify(report.checks));
    assert.ok(failing.includes('health'));
    assert.match(report.checks.find((c) => c.name === 'db-smoke')!.detail!, /ECONNREFUSED/);
  });
});
