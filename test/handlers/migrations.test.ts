import { strict as assert } from 'node:assert';
import pg from 'pg';
import { handler as migrateHandler } from '../../src/handlers/migrate/index.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { migrate, MIGRATIONS } from '../../src/handlers/shared/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';
import { runCli } from '../support/cli.ts';

describe('schema migrations', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('migrations');
  });
  afterEach(async () => {
    await resetPool();
    delete process.env.DATABASE_URL;
    await db.drop();
  });

  async function client(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    return c;
  }

  it('applies every version once, concurrently safe, and the seed smoke query works', async () => {
    const [a, b] = await Promise.all([client(), client()]);
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    assert.deepEqual([...ra.applied, ...rb.applied].sort(), MIGRATIONS.map((m) => m.version));
    assert.equal(ra.current, latest);
    assert.equal(rb.current, latest);
    assert.deepEqual((await migrate(a)).applied, []);
    const { rows } = await a.query('SELECT COUNT(*) AS n FROM catalog_dataset');
    assert.equal(Number(rows[0].n), 0);
    await Promise.all([a.end(), b.end()]);
  });

  it('rolls back a failing migration whole and records nothing', async () => {
    const c = await client();
    await migrate(c);
    await assert.rejects(migrate(c, [...MIGRATIONS, { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x int); SELECT no_such_fn();' }]), /migration 99 \(broken\) failed/);
    const { rows } = await c.query("SELECT to_regclass('half_done') AS t, (SELECT max(version) FROM schema_migrations) AS v");
    assert.deepEqual(rows[0], { t: null, v: MIGRATIONS[MIGRATIONS.length - 1]!.version });
    await c.end();
  });

  it('runs from the migrate handler and from `catalogctl db migrate`', async () => {
    process.env.DATABASE_URL = db.url;
    const first = await migrateHandler();
    assert.deepEqual(first.applied, MIGRATIONS.map((m) => m.version));
    const cli = await runCli(['db', 'migrate', '--database-url', db.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`up to date at version ${MIGRATIONS[MIGRATIONS.length - 1]!.version}`));
    const bad = await runCli(['db', 'migrate', '--database-url', 'not a url']);
    assert.equal(bad.code, 2);
  });
});
