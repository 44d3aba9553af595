import { strict as assert } from 'node:assert';
import pg from 'pg';
import { baseRole, bootstrapAppRole, scramVerifier } from '../../src/handlers/shared/db-bootstrap.ts';
import { migrate } from '../../src/handlers/shared/migrations.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';

describe('app role bootstrap (as migrate runs it, here as a superuser of the test cluster)', () => {
  let db: TestDatabase;
  let c: pg.Client;
  const app = `catalog_bt_${process.pid}`;
  const sql: string[] = [];
  // Every statement bootstrapAppRole sends, to check none carries the password.
  const recording = { query: (text: string, params?: unknown[]) => (sql.push(text), c.query(text, params)) } as unknown as pg.Client;

  before(async () => {
    db = await createTestDatabase('bootstrap');
    c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await migrate(c);
  });
  after(async () => {
    await c.query(`REASSIGN OWNED BY ${app}, ${app}_clone TO CURRENT_USER`).catch(() => undefined);
    for (const r of [`${app}_clone`, app]) {
      await c.query(`DROP OWNED BY ${r}`).catch(() => undefined);
      await c.query(`DROP ROLE IF EXISTS ${r}`);
    }
    await c.end();
    await db.drop();
  });

  it('creates the role once with a SCRAM verifier, never the password, and grants only DML', async () => {
    const password = 'Pw-1234567890abcdefGHIJ!#%&*()+,;<=>?';
    const first = await bootstrapAppRole(recording, { username: app, password });
    assert.deepEqual(first, { role: app, grantee: app, created: true });
    assert.ok(sql.every((s) => !s.includes(password)), 'no statement carries the password');
    assert.ok(sql.some((s) => /PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+'$/.test(s)));
    const again = await bootstrapAppRole(recording, { username: app, password: 'another-password' });
    assert.equal(again.created, false);
    const { rows } = await c.query(
      `SELECT has_table_privilege($1, 'audit_outbox', 'SELECT,INSERT,UPDATE,DELETE') AS dml, has_table_privilege($1, 'audit_outbox', 'TRUNCATE,REFERENCES,TRIGGER') AS more,
              has_table_privilege($1, 'schema_migrations', 'SELECT') AS migrations, has_schema_privilege($1, 'public', 'CREATE') AS ddl,
              (SELECT rolcreaterole OR rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = $1) AS attrs`,
      [app],
    );
    assert.deepEqual(rows[0], { dml: true, more: false, migrations: false, ddl: false, attrs: false });
  });

  it('a secret naming the clone of an existing role creates the clone as a member of it, as rotation does', async () => {
    const r = await bootstrapAppRole(c, { username: `${app}_clone`, password: 'clone-password-123' });
    assert.deepEqual(r, { role: `${app}_clone`, grantee: app, created: true });
    const { rows } = await c.query("SELECT pg_has_role($1, $2, 'USAGE') AS member, has_table_privilege($1, 'catalog_dataset', 'INSERT') AS dml", [`${app}_clone`, app]);
    assert.deepEqual(rows[0], { member: true, dml: true });
    assert.equal(baseRole('catalog_app_clone'), 'catalog_app');
    assert.equal(baseRole('catalog_app'), 'catalog_app');
  });

  it('refuses a password SASLprep would change, without saying what it was', () => {
    assert.throws(() => scramVerifier('pässwörd'), (err: Error) => /printable ASCII/.test(err.message) && !err.message.includes('pässwörd'));
    assert.match(scramVerifier('pencil', Buffer.alloc(16, 1)), /^SCRAM-SHA-256\$4096:AQEBAQEBAQEBAQEBAQEBAQ==\$/);
  });
});
