/**
 * GET /storage/v1/catalog/datasets?limit=&cursor= — keyset-paginated, tenant-scoped, cacheable.
 * PostgreSQL returns the page's fields in wire form (see shared/datasets.ts); the rows go straight
 * into JSON.stringify. Named statements: each connection plans them once.
 */
import { parseCursor, verifyCursor, cursorKeys, encodeCursor } from '../shared/cursor.ts';
import { SUMMARY_COLUMNS, type DatasetSummary } from '../shared/datasets.ts';
import { withReader } from '../shared/db.ts';
import { settings } from '../shared/env.ts';
import { apiHandler, badRequest, caller, etagMatches, header, strongEtag } from '../shared/http.ts';

const FIRST_PAGE = `SELECT ${SUMMARY_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 ORDER BY id LIMIT $2`;
const NEXT_PAGE = `SELECT ${SUMMARY_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 AND id > $3 ORDER BY id LIMIT $2`;

function parseLimit(raw: string | undefined, max: number): number {
  if (raw === undefined || raw === '') return max;
  if (!/^\d{1,6}$/.test(raw)) throw badRequest('invalid_limit', `limit must be an integer from 1 to ${max}`);
  const n = Number(raw);
  if (n < 1) throw badRequest('invalid_limit', `limit must be an integer from 1 to ${max}`);
  return Math.min(n, max);
}

export const handler = apiHandler(async (event) => {
  const who = caller(event);
  const s = settings(event);
  const q = event.queryStringParameters ?? {};
  const limit = parseLimit(q.limit, s.readPageLimit);
  // The cursor's form is checked before any database work; its MAC needs the key, read with the page.
  const cursor = q.cursor ? parseCursor(q.cursor) : undefined;
  const { rows, keys } = await withReader(async (c) => {
    const keys = await cursorKeys(c, cursor?.keyId);
    const query = cursor
      ? { name: 'list-datasets-next', text: NEXT_PAGE, values: [who.tenantId, limit + 1, verifyCursor(keys, who.tenantId, cursor)] }
      : { name: 'list-datasets-first', text: FIRST_PAGE, values: [who.tenantId, limit + 1] };
    return { rows: (await c.query<DatasetSummary>(query)).rows, keys };
  });
  const more = rows.length > limit;
  if (more) rows.length = limit;
  const next = more ? encodeCursor(keys, who.tenantId, rows[rows.length - 1]!.id) : null;
  const body = JSON.stringify({ items: rows, next_cursor: next });
  const etag = strongEtag(body);
  const headers = { ETag: etag, 'Cache-Control': `private, max-age=${s.cacheTtlSec}`, Vary: 'Authorization' };
  if (etagMatches(header(event, 'If-None-Match'), etag)) return { statusCode: 304, headers, body: '' };
  return { statusCode: 200, headers: { 'Content-Type': 'application/json', ...headers }, body };
});
