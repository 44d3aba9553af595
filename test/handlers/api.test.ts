import { strict as assert } from 'node:assert';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { handler as getDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { handler as auditRelay } from '../../src/handlers/audit-relay/index.ts';
import type { ProxyEvent, ProxyResult } from '../../src/handlers/shared/http.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { handlerEnv, type HandlerEnv } from './env.ts';

const BASE = '/storage/v1/catalog';
type Who = { sub: string; tenant: string; roles: string[] };
const OWNER_A: Who = { sub: 'alice', tenant: 'tenant-a', roles: ['owner'] };
const OTHER_OWNER_A: Who = { sub: 'carol', tenant: 'tenant-a', roles: ['owner'] };
const READER_A: Who = { sub: 'rita', tenant: 'tenant-a', roles: ['reader'] };
const PLATFORM_A: Who = { sub: 'ops', tenant: 'tenant-a', roles: ['platform'] };
const OWNER_B: Who = { sub: 'bob', tenant: 'tenant-b', roles: ['owner'] };

function ev(who: Who, method: string, resource: string, extra: Partial<ProxyEvent> = {}): ProxyEvent {
  return {
    httpMethod: method,
    resource,
    path: resource,
    requestContext: { requestId: 'req-1', authorizer: { principalId: who.sub, tenantId: who.tenant, roles: who.roles.join(',') } },
    ...extra,
  };
}

const body = (r: ProxyResult) => JSON.parse(r.body) as Record<string, unknown> & { error?: { code: string } };

async function create(who: Who, name: string, more: Record<string, unknown> = {}): Promise<ProxyResult> {
  return writeDataset(ev(who, 'POST', `${BASE}/datasets`, { body: JSON.stringify({ name, ...more }) }));
}

const list = (who: Who, q: Record<string, string> = {}, headers: Record<string, string> = {}) =>
  listDatasets(ev(who, 'GET', `${BASE}/datasets`, { queryStringParameters: q, headers }));
const get = (who: Who, id: string, headers: Record<string, string> = {}) =>
  getDataset(ev(who, 'GET', `${BASE}/datasets/{id}`, { pathParameters: { id }, headers }));

describe('catalog API handlers (real PostgreSQL, EventBridge on the emulator)', function () {
  this.timeout(60_000);
  let env: HandlerEnv;

  before(async () => {
    const moto = await getMoto();
    await moto.reset();
    env = await handlerEnv('api');
    const eb = new EventBridgeClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    await eb.send(new CreateEventBusCommand({ Name: 'evidence-ledger' }));
  });
  after(async () => env.close());

  it('creates, lists with keyset pagination, and describes datasets within the tenant', async () => {
    const ids: string[] = [];
    for (const n of ['alpha', 'beta', 'gamma']) {
      const r = await create(OWNER_A, n, { sla_minutes: 60, last_refreshed_at: new Date().toISOString() });
      assert.equal(r.statusCode, 201, r.body);
      assert.match(r.headers.ETag ?? '', /^"[A-Za-z0-9_-]{32}"$/);
      ids.push(String(body(r).id));
    }
    await create(OWNER_B, 'alpha'); // same name, other tenant: allowed and invisible to tenant-a
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await list(OWNER_A, cursor ? { limit: '1', cursor } : { limit: '1' });
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r) as { items: { id: string }[]; next_cursor: string | null };
      seen.push(...b.items.map((i) => i.id));
      if (!b.next_cursor) break;
      cursor = b.next_cursor;
    }
    assert.deepEqual(seen, [...ids].sort());
    const d = await get(OWNER_A, ids[0]!);
    assert.equal(d.statusCode, 200);
    const desc = body(d) as { name: string; freshness: { status: string; sla_minutes: number } };
    assert.equal(desc.name, 'alpha');
    assert.equal(desc.freshness.status, 'fresh');
    assert.equal(d.headers['Cache-Control'], 'private, max-age=60');
  });

  it('answers If-None-Match with 304 and an unchanged ETag', async () => {
    const first = await list(OWNER_A, { limit: '2' });
    const again = await list(OWNER_A, { limit: '2' }, { 'If-None-Match': first.headers.ETag! });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    const id = String((body(first) as { items: { id: string }[] }).items[0]!.id);
    const d = await get(OWNER_A, id);
    assert.equal((await get(OWNER_A, id, { 'if-none-match': d.headers.ETag! })).statusCode, 304);
  });

  it('never shows another tenant\'s data', async () => {
    const b = body(await list(OWNER_B)) as { items: { name: string; id: string }[] };
    assert.deepEqual(b.items.map((i) => i.name), ['alpha']);
    const aItems = (body(await list(OWNER_A)) as { items: { id: string }[] }).items;
    const r = await get(OWNER_B, aItems[0]!.id);
    assert.equal(r.statusCode, 404);
    // A cursor minted for tenant-a is rejected for tenant-b rather than paging through it.
    const page = body(await list(OWNER_A, { limit: '1' })) as { next_cursor: string };
    const cross = await list(OWNER_B, { cursor: page.next_cursor });
    assert.equal(cross.statusCode, 400);
    assert.equal(body(cross).error?.code, 'invalid_cursor');
  });

  it('caps limit at READ_PAGE_LIMIT and rejects bad limits, ids and cursors with 400, never 500', async () => {
    assert.equal((await list(OWNER_A, { limit: '999999' })).statusCode, 200);
    for (const limit of ['0', '-1', 'abc', '1.5', '1e3', "1; DROP TABLE catalog_dataset", '9999999999']) {
      const r = await list(OWNER_A, { limit });
      assert.equal(r.statusCode, 400, `limit=${limit}: ${r.body}`);
      assert.equal(body(r).error?.code, 'invalid_limit');
    }
    for (const cursor of ['x', "' OR 1=1 --", Buffer.from('00000000-0000-0000-0000-000000000000.AAAA').toString('base64url'), 'A'.repeat(500)]) {
      const r = await list(OWNER_A, { cursor });
      assert.equal(r.statusCode, 400, `cursor=${cursor}`);
    }
    for (const id of ['1', "1' OR '1'='1", '../../etc', '00000000-0000-0000-0000-00000000000G']) {
      const r = await get(OWNER_A, id);
      assert.equal(r.statusCode, 400, `id=${id}`);
      assert.equal(body(r).error?.code, 'invalid_id');
    }
    const [row] = await env.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset');
    assert.equal(Number(row!.n), 4, "the table survived");
  });

  it('stores SQL-injection strings verbatim as data', async () => {
    const evil = "x'); DROP TABLE catalog_dataset; --";
    const r = await create(OWNER_A, evil, { description: "' OR 1=1 --" });
    assert.equal(r.statusCode, 201);
    const stored = await env.query<{ name: string }>('SELECT name FROM catalog_dataset WHERE name = $1', [evil]);
    assert.equal(stored.length, 1);
  });

  it('lets only the owner or the platform role write, with If-Match optimistic concurrency', async () => {
    const created = await create(OWNER_A, 'delta');
    const id = String(body(created).id);
    const put = (who: Who, headers: Record<string, string>, b: Record<string, unknown>) =>
      writeDataset(ev(who, 'PUT', `${BASE}/datasets/{id}`, { pathParameters: { id }, headers, body: JSON.stringify(b) }));
    assert.equal((await put(OWNER_A, {}, { description: 'x' })).statusCode, 428);
    assert.equal((await put(OWNER_A, { 'If-Match': '"stale"' }, { description: 'x' })).statusCode, 412);
    assert.equal((await put(OTHER_OWNER_A, { 'If-Match': created.headers.ETag! }, { description: 'x' })).statusCode, 403);
    assert.equal((await put(READER_A, { 'If-Match': created.headers.ETag! }, { description: 'x' })).statusCode, 403);
    assert.equal((await put(OWNER_B, { 'If-Match': created.headers.ETag! }, { description: 'x' })).statusCode, 404);
    const ok = await put(OWNER_A, { 'If-Match': created.headers.ETag! }, { description: 'updated' });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(body(ok).version, 2);
    // The old ETag is now stale: a second writer with it loses.
    assert.equal((await put(PLATFORM_A, { 'If-Match': created.headers.ETag! }, { description: 'late' })).statusCode, 412);
    assert.equal((await put(PLATFORM_A, { 'If-Match': ok.headers.ETag! }, { description: 'platform' })).statusCode, 200);
    assert.equal((await put(OWNER_A, { 'If-Match': '*' }, { bogus: 1 })).statusCode, 400);
    const dup = await create(OWNER_A, 'delta');
    assert.equal(dup.statusCode, 409);
    const del = await writeDataset(ev(PLATFORM_A, 'DELETE', `${BASE}/datasets/{id}`, { pathParameters: { id }, headers: { 'If-Match': '*' } }));
    assert.equal(del.statusCode, 204);
    assert.equal((await get(OWNER_A, id)).statusCode, 404);
  });

  it('rejects malformed bodies and unknown routes with 4xx', async () => {
    const bad = await writeDataset(ev(OWNER_A, 'POST', `${BASE}/datasets`, { body: '{not json' }));
    assert.equal(bad.statusCode, 400);
    assert.equal(body(bad).error?.code, 'invalid_json');
    assert.equal((await writeDataset(ev(OWNER_A, 'POST', `${BASE}/datasets`, { body: '[]' }))).statusCode, 400);
    assert.equal((await writeDataset(ev(OWNER_A, 'POST', `${BASE}/datasets`, { body: JSON.stringify({ name: 'x'.repeat(300) }) }))).statusCode, 400);
    assert.equal((await writeDataset(ev(OWNER_A, 'POST', `${BASE}/datasets`, { body: 'x'.repeat(70_000) }))).statusCode, 413);
    assert.equal((await writeDataset(ev(READER_A, 'POST', `${BASE}/datasets`, { body: '{"name":"r"}' }))).statusCode, 403);
    assert.equal((await writeDataset(ev(OWNER_A, 'PATCH', `${BASE}/nowhere`))).statusCode, 404);
    const anon = await listDatasets({ httpMethod: 'GET', resource: `${BASE}/datasets`, requestContext: { requestId: 'r' } });
    assert.equal(anon.statusCode, 401);
  });

  it('writes every change\'s audit event to the outbox and publishes it; the relay sends what was left', async () => {
    const events = await env.query<{ detail_type: string; sent_at: Date | null }>('SELECT detail_type, sent_at FROM audit_outbox ORDER BY id');
    assert.ok(events.length >= 6);
    assert.ok(events.some((e) => e.detail_type === 'CatalogDatasetDeleted'));
    assert.ok(events.every((e) => e.sent_at !== null), 'published to the bus at write time');
    // Simulate a publish failure: the bus is missing, so events stay unsent; the relay catches up.
    process.env.EVIDENCE_BUS_ARN = env.busArn.replace('evidence-ledger', 'missing-bus');
    await create(OWNER_A, 'epsilon');
    const [pending] = await env.query<{ n: string }>('SELECT count(*) AS n FROM audit_outbox WHERE sent_at IS NULL');
    assert.equal(Number(pending!.n), 1);
    process.env.EVIDENCE_BUS_ARN = env.busArn;
    assert.deepEqual(await auditRelay(), { sent: 1, failed: 0 });
    assert.deepEqual(await auditRelay(), { sent: 0, failed: 0 });
  });

  it('creates a catalog row and its audit event; poller start is skipped without STATE_MACHINE_ARN', async () => {
    const r = await writeDataset(ev(OWNER_A, 'POST', `${BASE}/catalogs`, { body: JSON.stringify({ catalog_name: 'test_catalog' }) }));
    assert.equal(r.statusCode, 202, r.body);
    const b = body(r) as { local_catalog_id: number; status: string };
    assert.equal(b.status, 'PENDING');
    const rows = await env.query<{ catalog_name: string; kb_name: string | null }>('SELECT catalog_name, kb_name FROM catalog WHERE id = $1', [b.local_catalog_id]);
    assert.deepEqual(rows, [{ catalog_name: 'test_catalog', kb_name: null }]);
  });

  it('starts the poller with the seed execution input, the token left out of history', async () => {
    const moto = await getMoto();
    const sfn = new SFNClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    // The emulator stores executions without running them: enough to check what was started.
    const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({ name: 'catalog-test-status-poller', definition: JSON.stringify({ StartAt: 'S', States: { S: { Type: 'Succeed' } } }), roleArn: 'arn:aws:iam::123456789012:role/poller' }));
    process.env.STATE_MACHINE_ARN = stateMachineArn!;
    try {
      const r = await writeDataset(ev(OWNER_A, 'POST', `${BASE}/catalogs`, { body: JSON.stringify({ catalog_name: 'kb_catalog' }) }));
      assert.equal(r.statusCode, 202, r.body);
      const b = body(r) as { local_catalog_id: number; execution_arn: string };
      assert.match(b.execution_arn, /^arn:aws:states:.*:execution:catalog-test-status-poller:catalog-\d+-\d+$/);
      const exec = await sfn.send(new DescribeExecutionCommand({ executionArn: b.execution_arn }));
      assert.deepEqual(JSON.parse(exec.input!), { catalog_name: 'kb_catalog', local_catalog_id: b.local_catalog_id, jwt_token: '', attempt_count: 0 });
      const [row] = await env.query<{ execution_arn: string }>('SELECT execution_arn FROM catalog WHERE id = $1', [b.local_catalog_id]);
      assert.equal(row!.execution_arn, b.execution_arn);
    } finally {
      delete process.env.STATE_MACHINE_ARN;
    }
  });
});
