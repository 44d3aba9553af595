/** GET /storage/v1/catalog/datasets/{id} — the descriptor, with freshness when DRR_INTEGRATION is on. */
import { DATASET_COLUMNS, datasetEtag, describe, type DatasetRow } from '../shared/datasets.ts';
import { withReader } from '../shared/db.ts';
import { settings } from '../shared/env.ts';
import { caller, datasetId, errorResult, etagMatches, header, HttpError, type ProxyEvent, type ProxyResult } from '../shared/http.ts';

export async function handler(event: ProxyEvent): Promise<ProxyResult> {
  const requestId = event.requestContext?.requestId;
  try {
    const who = caller(event);
    const id = datasetId(event);
    const s = settings();
    const row = await withReader(async (c) => (await c.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 AND id = $2`, [who.tenantId, id])).rows[0]);
    // Another tenant's dataset is indistinguishable from a missing one.
    if (!row) throw new HttpError(404, 'not_found', 'dataset not found');
    const now = new Date();
    const opts = { drr: s.drrIntegration, now };
    const etag = datasetEtag(row, opts);
    const headers = { ETag: etag, 'Cache-Control': `private, max-age=${s.cacheTtlSec}`, Vary: 'Authorization' };
    if (etagMatches(header(event, 'If-None-Match'), etag)) return { statusCode: 304, headers, body: '' };
    return { statusCode: 200, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(describe(row, opts)) };
  } catch (err) {
    return errorResult(err, requestId);
  }
}
