/**
 * UpdateCatalogDB: writes kb_name and data_source_name to the local catalog row. Idempotent: a
 * repeat with the same values changes nothing and reports rows_updated 0.
 */
import { withClient } from '../shared/db.ts';

export interface UpdateInput {
  local_catalog_id: number;
  kb_name: string;
  data_source_name: string;
  catalog_name: string;
}

class CatalogNotFound extends Error {
  override name = 'CatalogNotFound';
}

export async function handler(input: UpdateInput) {
  if (!Number.isSafeInteger(input.local_catalog_id) || input.local_catalog_id < 1) throw new TypeError('local_catalog_id must be a positive integer');
  for (const k of ['kb_name', 'data_source_name', 'catalog_name'] as const) {
    if (typeof input[k] !== 'string' || input[k].length === 0 || input[k].length > 512) throw new TypeError(`${k} must be a non-empty string`);
  }
  const rows = await withClient(async (c) => {
    const upd = await c.query(
      `UPDATE catalog SET kb_name = $3, data_source_name = $4, status = 'READY', updated_at = now()
        WHERE id = $1 AND catalog_name = $2 AND (kb_name IS DISTINCT FROM $3 OR data_source_name IS DISTINCT FROM $4 OR status <> 'READY')`,
      [input.local_catalog_id, input.catalog_name, input.kb_name, input.data_source_name],
    );
    if (upd.rowCount === 0) {
      const exists = await c.query('SELECT 1 FROM catalog WHERE id = $1 AND catalog_name = $2', [input.local_catalog_id, input.catalog_name]);
      if (exists.rowCount === 0) throw new CatalogNotFound(`catalog ${input.local_catalog_id} (${input.catalog_name}) not found`);
    }
    return upd.rowCount ?? 0;
  });
  return {
    success: true,
    updated: rows > 0,
    rows_updated: rows,
    catalog_id: input.local_catalog_id,
    catalog_name: input.catalog_name,
    kb_name: input.kb_name,
    data_source_name: input.data_source_name,
  };
}
