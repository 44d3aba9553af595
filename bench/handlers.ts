/**
 * The catalog API handlers in-process against PostgreSQL: p50/p99 of list (limit 1 and 500, first
 * page and a page ~900k rows deep) and describe, at 1k and 1M datasets. The deep page is measured
 * against the first page in the same run: keyset pagination should make them cost the same.
 * DATABASE_URL, or a throwaway cluster (as in the tests).
 */
import pg from 'pg';
import { handler as getDataset } from '../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../src/handlers/list-datasets/index.ts';
import { resetPool } from '../src/handlers/shared/db.ts';
import { encodeCursor } from '../src/handlers/shared/cursor.ts';
import { migrate } from '../src/handlers/shared/migrations.ts';
import type { ProxyEvent } from '../src/handlers/shared/http.ts';
import { createTestDatabase, stopSharedPostgres } from '../test/support/pg.ts';

const TENANT = 'bench';
const ITER = Number(process.env.BENCH_ITER ?? 300);

const ev = (extra: Partial<ProxyEvent>): ProxyEvent => ({
  httpMethod: 'GET',
  resource: '/storage/v1/catalog/datasets',
  requestContext: { requestId: 'bench', authorizer: { principalId: 'bench-user', tenantId: TENANT, roles: 'reader' } },
  ...extra,
});

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function measure(fn: () => Promise<{ statusCode: number }>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t0 = performance.now();
    const r = await fn();
    times.push(performance.now() - t0);
    if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
  }
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

const db = await createTestDatabase('bench_handlers');
const client = new pg.Client({ connectionString: db.url });
await client.connect();
await migrate(client);
process.env.DATABASE_URL = db.url;
process.env.DRR_INTEGRATION = 'true';

console.log(`iterations per case: ${ITER}`);
console.log('| rows | case | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
let have = 0;
for (const rows of [1_000, 1_000_000]) {
  await client.query(
    `INSERT INTO catalog_dataset (id, tenant_id, name, owner, description, sla_minutes, last_refreshed_at)
     SELECT (lpad(to_hex(g), 8, '0') || '-0000-4000-8000-000000000000')::uuid, $1, 'dataset-' || g, 'owner-' || (g % 50), 'bench row', 60, now() - (g % 120) * interval '1 minute'
       FROM generate_series($2::int, $3::int) g`,
    [TENANT, have + 1, rows],
  );
  have = rows;
  await client.query('VACUUM ANALYZE catalog_dataset');
  const deepId = (await client.query<{ id: string }>('SELECT id FROM catalog_dataset WHERE tenant_id = $1 ORDER BY id OFFSET $2 LIMIT 1', [TENANT, Math.floor(rows * 0.9)])).rows[0]!.id;
  const someId = (await client.query<{ id: string }>('SELECT id FROM catalog_dataset WHERE tenant_id = $1 ORDER BY id OFFSET $2 LIMIT 1', [TENANT, Math.floor(rows / 2)])).rows[0]!.id;
  const deep = encodeCursor(TENANT, deepId);
  const cases: [string, () => Promise<{ statusCode: number }>][] = [
    ['list limit=1, first page', () => listDatasets(ev({ queryStringParameters: { limit: '1' } }))],
    ['list limit=1, page 90% deep', () => listDatasets(ev({ queryStringParameters: { limit: '1', cursor: deep } }))],
    ['list limit=500, first page', () => listDatasets(ev({ queryStringParameters: { limit: '500' } }))],
    ['list limit=500, page 90% deep', () => listDatasets(ev({ queryStringParameters: { limit: '500', cursor: deep } }))],
    ['describe', () => getDataset(ev({ resource: '/storage/v1/catalog/datasets/{id}', pathParameters: { id: someId } }))],
  ];
  const results: Record<string, { p50: number; p99: number }> = {};
  for (const [name, fn] of cases) {
    results[name] = await measure(fn);
    console.log(`| ${rows.toLocaleString('en')} | ${name} | ${results[name].p50.toFixed(2)} | ${results[name].p99.toFixed(2)} |`);
  }
  for (const limit of ['1', '500']) {
    const first = results[`list limit=${limit}, first page`]!.p99;
    const deepP = results[`list limit=${limit}, page 90% deep`]!.p99;
    console.log(`|  | deep/first p99 ratio, limit=${limit} | ${(deepP / first).toFixed(2)}× (target ≤ 1.5×) | |`);
  }
}
await resetPool();
await client.end();
await db.drop();
await stopSharedPostgres();
