/**
 * The list and describe code paths against the ones they replaced, on the same data: bodies and
 * ETags byte for byte. The old paths (all eleven columns decoded by node-postgres into Dates and
 * objects, then rebuilt per row and toISOString()'d) are kept here as the reference. The data is
 * made to be awkward: every control character, quotes, backslashes, astral characters, microsecond
 * timestamps, numbers jsonb keeps as written (1.50, 1e2, 2^63), nulls.
 */
import { strict as assert } from 'node:assert';
import pg from 'pg';
import { handler as getDataset, loadDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { cursorKeys, encodeCursor } from '../../src/handlers/shared/cursor.ts';
import { datasetEtag, describe as describeNew } from '../../src/handlers/shared/datasets.ts';
import { strongEtag, type ProxyEvent, type ProxyResult } from '../../src/handlers/shared/http.ts';
import { captureLogs, handlerEnv, rng, type HandlerEnv } from './env.ts';

// ---- the reference: the code paths as they were ------------------------------------------------
interface OldRow {
  id: string;
  tenant_id: string;
  name: string;
  owner: string;
  description: string;
  descriptor: Record<string, unknown>;
  sla_minutes: number | null;
  last_refreshed_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}
const OLD_COLUMNS = 'id, tenant_id, name, owner, description, descriptor, sla_minutes, last_refreshed_at, version, created_at, updated_at';
const oldSummary = (r: OldRow) => ({ id: r.id, name: r.name, owner: r.owner, description: r.description, version: r.version, updated_at: r.updated_at.toISOString() });
function oldFreshness(r: OldRow, now: Date) {
  if (!r.last_refreshed_at) return { last_refreshed_at: null, age_seconds: null, sla_minutes: r.sla_minutes, status: 'unknown' };
  const age = Math.max(0, Math.floor((now.getTime() - r.last_refreshed_at.getTime()) / 1000));
  const status = r.sla_minutes === null ? 'unknown' : age <= r.sla_minutes * 60 ? 'fresh' : 'stale';
  return { last_refreshed_at: r.last_refreshed_at.toISOString(), age_seconds: age, sla_minutes: r.sla_minutes, status };
}
const oldDescribe = (r: OldRow, o: { drr: boolean; now: Date }) => ({
  id: r.id,
  name: r.name,
  owner: r.owner,
  description: r.description,
  descriptor: r.descriptor,
  version: r.version,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
  ...(o.drr ? { freshness: oldFreshness(r, o.now) } : {}),
});
const oldEtag = (r: OldRow, o: { drr: boolean; now: Date }) => strongEtag(`${r.id}:${r.version}:${o.drr ? oldFreshness(r, o.now).status : '-'}`);

const BASE = '/storage/v1/catalog';
const ev = (tenant: string, extra: Partial<ProxyEvent>): ProxyEvent => ({
  httpMethod: 'GET',
  resource: `${BASE}/datasets`,
  requestContext: { requestId: 'wire', authorizer: { principalId: 'wire-user', tenantId: tenant, roles: 'owner' } },
  ...extra,
});

describe('list and describe: new wire paths give the same bytes as the old ones', function () {
  this.timeout(60_000);
  let env: HandlerEnv;
  let client: pg.Client;
  let logs: ReturnType<typeof captureLogs>;

  before(async () => {
    env = await handlerEnv('wire');
    client = new pg.Client({ connectionString: env.db.url });
    await client.connect();
    const r = rng(42);
    const chars = [...Array.from({ length: 0x7f }, (_, i) => String.fromCharCode(i + 1)), 'é', 'ß', '中', '😀', '\u2028', '\u2029', '\ufeff', '\\', '"', "'", '</script>'];
    const text = (n: number) => Array.from({ length: n }, () => chars[Math.floor(r() * chars.length)]).join('');
    const descriptors = ['{}', '{"a": 1.50, "b": 1e2, "c": 9223372036854775808, "d": -0.0, "e": [true, null, "x\\u0001y"]}', '{"nested": {"deeper": {"k": "v", "n": 0.1}}, "long": 12345678901234567890}', '{"z": 1, "a": 2, "mm": {"é": "😀"}}'];
    for (const tenant of ['wire-a', 'wire-b']) {
      for (let i = 0; i < 60; i++) {
        await client.query(
          `INSERT INTO catalog_dataset (tenant_id, name, owner, description, descriptor, sla_minutes, last_refreshed_at, version, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::timestamptz, $8, $9::timestamptz, $10::timestamptz)`,
          [
            tenant,
            `${i} ${text(1 + Math.floor(r() * 30))}`,
            text(1 + Math.floor(r() * 10)),
            i % 7 === 0 ? '' : text(Math.floor(r() * 80)),
            descriptors[i % descriptors.length],
            i % 5 === 0 ? null : 1 + Math.floor(r() * 240),
            i % 4 === 0 ? null : new Date(Date.now() - Math.floor(r() * 4 * 3600_000)).toISOString().replace(/\.\d+Z$/, `.${String(Math.floor(r() * 1e6)).padStart(6, '0')}Z`),
            1 + Math.floor(r() * 5),
            `20${10 + Math.floor(r() * 15)}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}T0${Math.floor(r() * 9)}:59:59.${String(Math.floor(r() * 1e6)).padStart(6, '0')}+0${Math.floor(r() * 9)}:30`,
            `0${1 + Math.floor(r() * 9)}${Math.floor(r() * 10)}${Math.floor(r() * 10)}-12-31T23:59:59.${i % 3 === 0 ? '999999' : String(Math.floor(r() * 1e6)).padStart(6, '0')}Z`,
          ],
        );
      }
    }
  });
  beforeEach(() => (logs = captureLogs()));
  afterEach(() => logs.restore());
  after(async () => {
    await client.end();
    await env.close();
  });

  it('list: every page of a tenant, limits 1, 7 and 500: same body and ETag', async () => {
    const keys = await cursorKeys(client);
    let pages = 0;
    for (const limit of [1, 7, 500]) {
      let after: string | undefined;
      let cursor: string | undefined;
      for (;;) {
        const res: ProxyResult = await listDatasets(ev('wire-a', { queryStringParameters: { limit: String(limit), ...(cursor ? { cursor } : {}) } }));
        assert.equal(res.statusCode, 200, res.body);
        const old = (await client.query<OldRow>(`SELECT ${OLD_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 ${after ? 'AND id > $3' : ''} ORDER BY id LIMIT $2`, after ? ['wire-a', limit + 1, after] : ['wire-a', limit + 1])).rows;
        const page = old.slice(0, limit);
        // next_cursor has a new (keyed) form: the reference encodes it the new way, all else is as it was.
        const next = old.length > limit ? encodeCursor(keys, 'wire-a', page[page.length - 1]!.id) : null;
        const oldBody = JSON.stringify({ items: page.map(oldSummary), next_cursor: next });
        assert.equal(res.body, oldBody, `page ${pages} at limit ${limit}`);
        assert.equal(res.headers.ETag, strongEtag(oldBody));
        pages++;
        if (!next) break;
        cursor = next;
        after = page[page.length - 1]!.id;
      }
    }
    assert.equal(pages, 60 + 9 + 1);
  });

  it('describe: every dataset, DRR on and off, at one instant: same body and ETag; the handler agrees', async () => {
    const now = new Date();
    const olds = (await client.query<OldRow>(`SELECT ${OLD_COLUMNS} FROM catalog_dataset WHERE tenant_id = 'wire-b'`)).rows;
    assert.equal(olds.length, 60);
    for (const old of olds) {
      const row = (await loadDataset(client, 'wire-b', old.id))!;
      for (const drr of [true, false]) {
        const o = { drr, now };
        assert.equal(JSON.stringify(describeNew(row, o)), JSON.stringify(oldDescribe(old, o)), `${old.id} drr=${drr}`);
        assert.equal(datasetEtag(row, o), oldEtag(old, o));
      }
      // Through the handler (its own clock): the ETag does not depend on the second it runs in.
      const res = await getDataset(ev('wire-b', { resource: `${BASE}/datasets/{id}`, pathParameters: { id: old.id } }));
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers.ETag, oldEtag(old, { drr: true, now: new Date() }));
      const body = JSON.parse(res.body) as { freshness: { age_seconds: number | null } };
      const expected = JSON.parse(JSON.stringify(oldDescribe(old, { drr: true, now: new Date() }))) as typeof body;
      if (body.freshness.age_seconds !== null) body.freshness.age_seconds = expected.freshness.age_seconds;
      assert.deepEqual(body, expected);
    }
  });

  it('writes return the same representation as describe', async () => {
    const created = await writeDataset(ev('wire-a', {
      httpMethod: 'POST',
      body: JSON.stringify({ name: 'written \u0001 😀', description: 'd "q" \\', descriptor: { x: 1.5, y: [1, 'two'] }, sla_minutes: 30, last_refreshed_at: '2024-05-01T12:00:00.123456+02:00' }),
    }));
    assert.equal(created.statusCode, 201, created.body);
    const id = (JSON.parse(created.body) as { id: string }).id;
    const old = (await client.query<OldRow>(`SELECT ${OLD_COLUMNS} FROM catalog_dataset WHERE id = $1`, [id])).rows[0]!;
    const got = JSON.parse(created.body) as { freshness: { age_seconds: number } };
    const want = JSON.parse(JSON.stringify(oldDescribe(old, { drr: true, now: new Date() }))) as typeof got;
    got.freshness.age_seconds = want.freshness.age_seconds;
    assert.deepEqual(got, want);
    assert.equal(want.freshness && (want as unknown as { freshness: { last_refreshed_at: string } }).freshness.last_refreshed_at, '2024-05-01T10:00:00.123Z');
    assert.equal(created.headers.ETag, oldEtag(old, { drr: true, now: new Date() }));
  });
});
