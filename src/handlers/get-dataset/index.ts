/** GET /storage/v1/catalog/datasets/{id} — the descriptor, with freshness when DRR_INTEGRATION is on. */
import { DATASET_COLUMNS, datasetEtag, describe, type DatasetRow } from '../shared/datasets.ts';
import { withReader } from '../shared/db.ts';
import { settings } from '../shared/env.ts';
import { apiHandler, caller, datasetId, etagMatches, header, HttpError } from '../shared/http.ts';

const DESCRIBE = `SELECT ${DATASET_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 AND id = $2`;

interface Queryable {
  query<R extends object>(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: R[] }>;
}

/** The dataset as describe returns it, or undefined (another tenant's is indistinguishable from none). */
export async function loadDataset(db: Queryable, tenantId: string, id: string): Promise<DatasetRow | undefined> {
  return (await db.query<DatasetRow>({ name: 'get-dataset', text: DESCRIBE, values: [tenantId, id] })).rows[0];
}

export const handler = apiHandler(async (event) => {
  const who = caller(event);
  const id = datasetId(event);
  // DRR_INTEGRATION from the stage's variables first: release and rollback toggle it there.
  const s = settings(event);
  const row = await withReader((c) => loadDataset(c, who.tenantId, id));
  if (!row) throw new HttpError(404, 'not_found', 'dataset not found');
  const opts = { drr: s.drrIntegration, now: new Date() };
  const etag = datasetEtag(row, opts);
  const headers = { ETag: etag, 'Cache-Control': `private, max-age=${s.cacheTtlSec}`, Vary: 'Authorization' };
  if (etagMatches(header(event, 'If-None-Match'), etag)) return { statusCode: 304, headers, body: '' };
  return { statusCode: 200, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(describe(row, opts)) };
});
