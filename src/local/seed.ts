/**
 * Seeds catalog_dataset for local runs and load tests. It reads the table's columns from the
 * catalog and fills every column that has no default from its name and type, so seeding follows
 * the migrations instead of restating the schema. One set-based INSERT: 1M rows take seconds.
 */
import pg from 'pg';
import type { Reporter } from '../reporter.ts';

interface Column {
  name: string;
  type: string;
  udt: string;
  nullable: boolean;
  hasDefault: boolean;
}

export const DEFAULT_SEED_TENANT = 'demo';

/** Dataset ids the seeder makes: `ds-0000001`, … (text ids); numeric ids are 1, 2, … */
export function seededId(n: number): string {
  return `ds-${String(n).padStart(7, '0')}`;
}

export async function seedDatasets(databaseUrl: string, count: number, opts: { tenant?: string; reporter?: Reporter } = {}): Promise<number> {
  const tenant = opts.tenant ?? DEFAULT_SEED_TENANT;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const cols = await client.query<Column>(
      `SELECT column_name AS name, data_type AS type, udt_name AS udt, is_nullable = 'YES' AS nullable, column_default IS NOT NULL OR is_identity = 'YES' AS "hasDefault"
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'catalog_dataset' ORDER BY ordinal_position`,
    );
    if (cols.rows.length === 0) throw new Error('catalog_dataset does not exist: the migrations did not create it');
    const existing = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset')).rows[0]!.n);
    if (existing >= count) return existing;
    const targets: string[] = [];
    const exprs: string[] = [];
    for (const c of cols.rows) {
      const expr = await valueFor(client, c);
      if (expr === undefined) continue;
      targets.push(pgIdent(c.name));
      exprs.push(expr);
    }
    await client.query(
      `INSERT INTO catalog_dataset (${targets.join(', ')}) SELECT ${exprs.join(', ')} FROM generate_series($1::int, $2::int) AS g ON CONFLICT DO NOTHING`,
      [existing + 1, count, tenant].slice(0, exprs.some((e) => e.includes('$3')) ? 3 : 2),
    );
    await client.query('ANALYZE catalog_dataset');
    return Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset')).rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** A SQL expression over `g` (the row number) for one column, or undefined to leave it to its default. */
async function valueFor(client: pg.Client, c: Column): Promise<string | undefined> {
  const n = c.name.toLowerCase();
  if (c.hasDefault && !['id', 'tenant_id', 'name'].includes(n)) return undefined;
  if (c.hasDefault && n === 'id') return undefined;
  const text = ['text', 'character varying', 'character'].includes(c.type);
  if (/^tenant(_id)?$/.test(n)) return text ? '$3::text' : undefined;
  if (n === 'id' || n === 'dataset_id') {
    if (text) return `'ds-' || lpad(g::text, 7, '0')`;
    if (c.type === 'uuid') return `md5('dataset-' || g)::uuid`;
    return 'g';
  }
  if (c.nullable && !['name', 'owner', 'owner_id', 'title'].includes(n)) return undefined;
  switch (c.type) {
    case 'text':
    case 'character varying':
    case 'character':
      if (n === 'name' || n === 'title') return `'dataset ' || g`;
      if (n.startsWith('owner')) return `'owner-' || (g % 50)`;
      if (n === 'etag' || n === 'version_tag') return `md5(g::text)`;
      return `'${n.replace(/'/g, "''")}-' || g`;
    case 'uuid':
      return `md5('${n.replace(/'/g, "''")}' || g)::uuid`;
    case 'integer':
    case 'bigint':
    case 'smallint':
      return n.includes('version') ? '1' : '0';
    case 'numeric':
    case 'double precision':
    case 'real':
      return '0';
    case 'boolean':
      return 'false';
    case 'jsonb':
    case 'json':
      return `jsonb_build_object('seeded', true, 'n', g)::${c.type}`;
    case 'ARRAY':
      return `'{}'::${c.udt.replace(/^_/, '')}[]`;
    case 'timestamp with time zone':
    case 'timestamp without time zone':
    case 'date':
      return `now() - (g % 1440) * interval '1 minute'`;
    case 'interval':
      return `interval '1 day'`;
    case 'USER-DEFINED': {
      const r = await client.query<{ label: string }>(
        'SELECT e.enumlabel AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = $1 ORDER BY e.enumsortorder LIMIT 1',
        [c.udt],
      );
      const label = r.rows[0]?.label;
      if (label === undefined) throw new Error(`catalog_dataset.${c.name}: cannot seed type ${c.udt}`);
      return `'${label.replace(/'/g, "''")}'::${pgIdent(c.udt)}`;
    }
    default:
      throw new Error(`catalog_dataset.${c.name}: cannot seed type ${c.type}`);
  }
}

function pgIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
