/**
 * Cursor keys: rotation (a new key signs, old cursors verify until their key is deleted) and the
 * reload rules; and the database timeouts each function gets from its own timeout, read back from
 * PostgreSQL on a connection the handlers' pool hands out.
 */
import { strict as assert } from 'node:assert';
import pg from 'pg';
import { clearCursorKeys, cursorKeys, encodeCursor, KEY_TTL_MS, parseCursor, verifyCursor } from '../../src/handlers/shared/cursor.ts';
import { resetPool, withClient } from '../../src/handlers/shared/db.ts';
import { HttpError } from '../../src/handlers/shared/http.ts';
import { dbTimeouts, forgetFunctionTimeout, requestDeadline, withDeadline } from '../../src/handlers/shared/timeouts.ts';
import { handlerEnv, type HandlerEnv } from './env.ts';

const ID = '0b7e8c2a-5f7d-4d3e-9a61-3c1f0e2d4b5a';
const NEW_KEY = "INSERT INTO cursor_key (secret) VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')) RETURNING id";

describe('cursor keys and database timeouts', function () {
  this.timeout(60_000);
  let env: HandlerEnv;
  let client: pg.Client;
  before(async () => {
    env = await handlerEnv('cursor_timeouts');
    client = new pg.Client({ connectionString: env.db.url });
    await client.connect();
  });
  after(async () => {
    await client.end();
    await env.close();
  });

  const verify = async (cursor: string, tenant = 'tenant-a', now?: number) => {
    const parsed = parseCursor(cursor);
    return verifyCursor(await cursorKeys(client, parsed.keyId, now), tenant, parsed);
  };
  const invalid = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === 'invalid_cursor');

  it('rotates: a new key signs, cursors under the old one verify until it is deleted', async () => {
    clearCursorKeys();
    const t0 = Date.now();
    const k1 = await cursorKeys(client, undefined, t0);
    assert.equal(k1.current.secret.length, 32);
    const old = encodeCursor(k1, 'tenant-a', ID);
    assert.equal(old.length, 47);
    assert.equal(await verify(old), ID);
    await invalid(verify(old, 'tenant-b'));

    const k2id = (await client.query<{ id: number }>(NEW_KEY)).rows[0]!.id;
    // Within the TTL the container keeps signing with the key it has...
    assert.equal((await cursorKeys(client, undefined, t0 + 1000)).current.id, k1.current.id);
    // ...a cursor naming the new key makes it look again (not more often than every 30 s)...
    const other = encodeCursor({ current: { id: k2id, secret: (await client.query<{ secret: Buffer }>('SELECT secret FROM cursor_key WHERE id = $1', [k2id])).rows[0]!.secret }, byId: new Map() }, 'tenant-a', ID);
    await invalid(verify(other, 'tenant-a', t0 + 1000));
    assert.equal(await verify(other, 'tenant-a', t0 + 31_000), ID);
    // ...and after the TTL every container signs with the newest.
    clearCursorKeys();
    await cursorKeys(client, undefined, t0);
    const k = await cursorKeys(client, undefined, t0 + KEY_TTL_MS);
    assert.equal(k.current.id, k2id);
    assert.equal(parseCursor(encodeCursor(k, 'tenant-a', ID)).keyId, k2id);
    assert.equal(await verify(old), ID, 'the old key still verifies');

    await client.query('DELETE FROM cursor_key WHERE id < $1', [k2id]);
    clearCursorKeys();
    await invalid(verify(old));
    assert.equal(await verify(other), ID);
  });

  it('derives connect, statement and per-request limits from the function timeout', async () => {
    assert.deepEqual(dbTimeouts(10_000), { connectMs: 2000, statementMs: 3000, requestMs: 6000, reserveMs: 1000 });
    assert.deepEqual(dbTimeouts(20_000), { connectMs: 4000, statementMs: 6000, requestMs: 12000, reserveMs: 2000 });
    assert.deepEqual(dbTimeouts(2000), { connectMs: 500, statementMs: 1000, requestMs: 1200, reserveMs: 250 });
    assert.deepEqual(dbTimeouts(300_000), { connectMs: 5000, statementMs: 90000, requestMs: 180000, reserveMs: 2000 });
    for (const t of [3000, 10_000, 20_000, 60_000, 300_000]) {
      const d = dbTimeouts(t);
      assert.ok(d.connectMs + d.reserveMs < t && d.statementMs < t && d.requestMs + d.reserveMs <= t, `${t}: every limit inside the function's timeout`);
    }
    // A request that starts with little time left gets less than the usual budget.
    forgetFunctionTimeout();
    const now = Date.now();
    assert.equal(requestDeadline({ getRemainingTimeInMillis: () => 9_990 }, now), now + 6000);
    assert.equal(requestDeadline({ getRemainingTimeInMillis: () => 3_000 }, now), now + 2000);
    assert.equal(requestDeadline({ getRemainingTimeInMillis: () => 500 }, now), now);
  });

  it('the pool\'s connections carry the statement timeout of the function they serve', async () => {
    for (const [remaining, want] of [[19_997, '6s'], [9_998, '3s']] as const) {
      await resetPool();
      forgetFunctionTimeout();
      const deadline = requestDeadline({ getRemainingTimeInMillis: () => remaining });
      const got = await withDeadline(deadline, () => withClient(async (c) => (await c.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout));
      assert.equal(got, want);
    }
    // Without a Lambda context (a guess of the timeout), no statement timeout is imposed.
    await resetPool();
    forgetFunctionTimeout();
    assert.equal(await withClient(async (c) => (await c.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout), '0');
    await resetPool();
  });
});
