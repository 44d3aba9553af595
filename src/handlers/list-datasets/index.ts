/** GET /storage/v1/catalog/datasets?limit=&cursor= — keyset-paginated, tenant-scoped, cacheable. */
import { DATASET_COLUMNS, summary, type DatasetRow } from '../shared/datasets.ts';
import { withReader } from '../shared/db.ts';
import { settings } from '../shared/env.ts';
import { decodeCursor, encodeCursor } from '../shared/cursor.ts';
import { badRequest, caller, errorResult, etagMatches, header, strongEtag, type ProxyEvent, type ProxyResult } from '../shared/http.ts';

function parseLimit(raw: string | undefined, max: number): number {
  if (raw === undefined || raw === '') return max;
  if (!/^\d{1,6}$/.test(raw)) throw badRequest('invalid_limit', `limit must be an integer from 1 to ${max}`);
  const n = Number(raw);
  if (n < 1) throw badRequest('invalid_limit', `limit must be an integer from 1 to ${max}`);
  return Math.min(n, max);
}

export async function handler(event: ProxyEvent): Promise<ProxyResult> {
  const requestId = event.requestContext?.requestId;
  try {
    const who = caller(event);
    const s = settings();
    const q = event.queryStringParameters ?? {};
    const limit = parseLimit(q.limit, s.readPageLimit);
    const after = q.cursor ? decodeCursor(who.tenantId, q.cursor) : undefined;
    const rows = await withReader(async (c) => {
      const params: unknown[] = [who.tenantId, limit + 1];
      const where = after ? 'tenant_id = $1 AND id > $3' : 'tenant_id = $1';
      if (after) params.push(after);
      return (await c.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM catalog_dataset WHERE ${where} ORDER BY id LIMIT $2`, params)).rows;
    });
    const page = rows.slice(0, limit);
    const next = rows.length > limit && page.length ? encodeCursor(who.tenantId, page[page.length - 1]!.id) : null;
    const body = JSON.stringify({ items: page.map(summary), next_cursor: next });
    const etag = strongEtag(body);
    const headers = { ETag: etag, 'Cache-Control': `private, max-age=${s.cacheTtlSec}`, Vary: 'Authorization' };
    if (etagMatches(header(event, 'If-None-Match'), etag)) return { statusCode: 304, headers, body: '' };
    return { statusCode: 200, headers: { 'Content-Type': 'application/json', ...headers }, body };
  } catch (err) {
    return errorResult(err, requestId);
  }
}

