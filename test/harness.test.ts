import { strict as assert } from 'node:assert';
import pg from 'pg';
import { getMoto } from './support/moto.ts';
import { createTestDatabase } from './support/pg.ts';
import { runCli } from './support/cli.ts';

describe('test harness', () => {
  it('starts the AWS emulator and resets it', async () => {
    const moto = await getMoto();
    await moto.reset();
    const res = await fetch(`${moto.endpoint}/moto-api/`);
    assert.equal(res.status, 200);
  });

  it('gives each caller a fresh PostgreSQL database', async () => {
    const db = await createTestDatabase('smoke');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('SELECT 1 + 1 AS n');
    await client.end();
    await db.drop();
    assert.equal(rows[0]?.n, 2);
  });

  it('runs the built CLI and reports its version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/);
  });
});
