import { strict as assert } from 'node:assert';
import pg from 'pg';
import { seedDatasets } from '../../src/local/seed.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';

describe('local: dataset seeder', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('local_seed');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    // A schema unlike the stand-ins': uuid ids by default, an enum, jsonb, arrays, a unique name per tenant.
    await c.query(`
      CREATE TYPE dataset_status AS ENUM ('active', 'retired');
      CREATE TABLE catalog_dataset (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id text NOT NULL,
        name text NOT NULL,
        owner_id text NOT NULL,
        status dataset_status NOT NULL,
        descriptor jsonb NOT NULL,
        tags text[] NOT NULL,
        version integer NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, name));`);
    await c.end();
  });
  after(() => db.drop());

  it('fills every column without a default from the catalog, and tops up to the count', async () => {
    assert.equal(await seedDatasets(db.url, 500, { tenant: 'acme' }), 500);
    assert.equal(await seedDatasets(db.url, 500, { tenant: 'acme' }), 500, 'already there: nothing added');
    assert.equal(await seedDatasets(db.url, 800, { tenant: 'acme' }), 800);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query("SELECT count(DISTINCT name)::int AS names, count(*) FILTER (WHERE tenant_id = 'acme')::int AS acme, min(status::text) AS status FROM catalog_dataset");
      assert.deepEqual(r.rows[0], { names: 800, acme: 800, status: 'active' });
    } finally {
      await c.end();
    }
  });
});
