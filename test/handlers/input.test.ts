/**
 * The input checks against what PostgreSQL itself does with the same values: every timestamp the
 * API accepts is read by PostgreSQL as the same instant, and every one PostgreSQL rejects, the API
 * rejects first (differential, over a generated set); NUL, lone surrogates, depth and UUID forms.
 */
import { strict as assert } from 'node:assert';
import pg from 'pg';
import { canonicalUuid, jsonProblem, MAX_JSON_DEPTH, normalizeTimestamp, textProblem } from '../../src/handlers/shared/input.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';
import { rng } from './env.ts';

const HAND_PICKED = [
  '1', '2024-02-30', '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2000-02-29T12:00:00Z',
  '0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '0001-01-01T00:00:00-01:00',
  '9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.9999995Z', '9999-12-31T23:59:59Z', '9999-12-31T23:00:00-01:00',
  '2024-01-01T24:00:00Z', '2024-01-01T23:59:60Z', '2024-01-01T23:60:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z',
  '2024-01-01T00:00:00+15:59', '2024-01-01T00:00:00+16:00', '2024-01-01T00:00:00-15:59', '2024-01-01T00:00:00+14:60',
  '2024-01-01T00:00:00+1400', '2024-01-01T00:00:00+14', '2024-01-01t00:00:00z', '2024-01-01 00:00:00Z',
  '2024-01-01T00:00:00', '2024-01-01', 'now', 'epoch', 'infinity', '-infinity', 'today', 'Jan 8 1999 04:05:06 PST',
  '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00.1234567891Z', '2024-01-01T00:00:00.123456789Z', '2024-01-01T00:00:00.9999999Z',
  ' 2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z ', '2024-01-01T00:00:00Z\n', '+2024-01-01T00:00:00Z', '12024-01-01T00:00:00Z',
  '２０２４-01-01T00:00:00Z', '2024-01-01T00:00:00Z\u0000', '', 'T', '2024-1-1T0:0:0Z', '2024-01-01T00:00:00+00:00:00',
];

function generated(n: number): string[] {
  const r = rng(0x5eed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const two = (lo: number, hi: number) => String(lo + Math.floor(r() * (hi - lo + 1))).padStart(2, '0');
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const year = pick(['0000', '0001', '0099', '1582', '1900', '1970', '2000', '2023', '2024', '2100', '9999', String(1 + Math.floor(r() * 9999)).padStart(4, '0')]);
    const frac = pick(['', '.', '.5', '.123', '.999999', '.9999995', '.1234567', '.000000001']);
    const zone = pick(['Z', 'z', '+00:00', '-00:00', '+05:30', '-12:00', '+14:00', '+15:59', '-15:59', '+16:00', '+23:59', '+99:99', '']);
    const sep = pick(['T', 't', ' ', 'X']);
    out.push(`${year}-${two(0, 13)}-${two(0, 32)}${sep}${two(0, 25)}:${two(0, 61)}:${two(0, 61)}${frac}${zone}`);
  }
  return out;
}

describe('input checks agree with PostgreSQL', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let client: pg.Client;

  before(async () => {
    db = await createTestDatabase('input');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // PostgreSQL's own reading of a timestamptz, or NULL where it raises an error.
    await client.query(`CREATE FUNCTION pg_reads(t text) RETURNS text LANGUAGE plpgsql AS $$
      BEGIN RETURN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z" BC');
      EXCEPTION WHEN others THEN RETURN NULL; END $$`);
  });
  after(async () => {
    await client.end();
    await db.drop();
  });

  it('accepts a timestamp only when PostgreSQL reads it, and then as the same instant', async () => {
    const inputs = [...HAND_PICKED, ...generated(2000)];
    // NUL cannot travel to PostgreSQL as text at all: that case is checked on our side only.
    const sendable = inputs.filter((s) => !s.includes('\u0000'));
    const { rows } = await client.query<{ i: number; given: string | null; normalized: string | null }>(
      'SELECT i, pg_reads(g) AS given, pg_reads(n) AS normalized FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(g, n, i)',
      [sendable, sendable.map((s) => normalizeTimestamp(s) ?? null)],
    );
    let accepted = 0;
    for (const row of rows) {
      const input = sendable[row.i - 1]!;
      const ours = normalizeTimestamp(input);
      if (row.given === null) assert.equal(ours, undefined, `${JSON.stringify(input)}: PostgreSQL rejects it, the API must too`);
      if (ours === undefined) continue;
      accepted++;
      assert.equal(row.normalized, row.given, `${JSON.stringify(input)}: PostgreSQL reads ${row.given}, the API would store ${row.normalized}`);
      assert.match(row.given!, / AD$/, `${JSON.stringify(input)}: outside years 0001–9999`);
      assert.equal(ours, row.given!.replace(/ AD$/, ''));
    }
    assert.ok(accepted > 100 && accepted < rows.length - 100, `a mix of accepted (${accepted}) and rejected inputs`);
    for (const bad of ['1', '2024-02-30', 'now', '2024-01-01T00:00:00Z\u0000', '2024-01-01T24:00:00Z', '0000-01-01T00:00:00Z']) assert.equal(normalizeTimestamp(bad), undefined, bad);
    assert.equal(normalizeTimestamp('2024-03-01T01:30:00.5+01:30'), '2024-03-01T00:00:00.500000Z');
  });

  it('refuses what text and jsonb cannot hold, nesting past the limit, and infinite numbers', async () => {
    assert.equal(textProblem('plain ü 😀'), undefined);
    assert.match(textProblem('a\u0000b')!, /NUL/);
    assert.match(textProblem('a\ud800b')!, /surrogate/);
    assert.match(textProblem('\udc00')!, /surrogate/);
    assert.match(textProblem('😀'.slice(0, 1))!, /surrogate/);
    // What PostgreSQL does with them, so the refusal is not stricter than needed.
    await assert.rejects(client.query('SELECT $1::text', ['a\u0000b']), /invalid byte sequence|0x00/);
    await assert.rejects(client.query("SELECT '\"\\u0000\"'::jsonb"), /unsupported Unicode escape sequence/);
    await assert.rejects(client.query("SELECT '\"\\ud800\"'::jsonb"), /surrogate|invalid input syntax for type json/);

    const deep = (n: number) => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n)) as unknown;
    assert.throws(() => JSON.stringify(deep(5000)), RangeError, 'the reason for the limit');
    assert.match(jsonProblem(deep(5000))!, /nested deeper than 64/);
    assert.match(jsonProblem(JSON.parse('['.repeat(5000) + ']'.repeat(5000)))!, /nested deeper/);
    assert.equal(jsonProblem(deep(MAX_JSON_DEPTH)), undefined);
    assert.match(jsonProblem(deep(MAX_JSON_DEPTH + 1))!, /nested deeper/);
    assert.match(jsonProblem({ d: { 'k\u0000': 1 } })!, /a key in d contains a NUL/);
    assert.match(jsonProblem({ d: ['ok', '\ud800'] })!, /d\[1\] contains an unpaired/);
    assert.match(jsonProblem(JSON.parse('{"n": 1e400}'))!, /n is a number out of range/);
    assert.equal(jsonProblem({ a: [1, 'x', null, true, { b: -0.5e300 }] }), undefined);
  });

  it('takes UUIDs only in their canonical 8-4-4-4-12 form', async () => {
    const id = '0b7e8c2a-5f7d-4d3e-9a61-3c1f0e2d4b5a';
    assert.equal(canonicalUuid(id), id);
    assert.equal(canonicalUuid(id.toUpperCase()), id);
    // All of these PostgreSQL's uuid type accepts: they are not the API's form.
    for (const other of [id.replace(/-/g, ''), `{${id}}`, `${id.slice(0, 8)}${id.slice(9)}`, id.slice(0, 4) + '-' + id.slice(4)]) {
      await client.query('SELECT $1::uuid', [other]);
      assert.equal(canonicalUuid(other), undefined, other);
    }
    for (const bad of ['00000000-0000-0000-0000-00000000000G', '-'.repeat(36), `${id}\n`, ` ${id}`, `urn:uuid:${id}`, '', '１'.repeat(8) + id.slice(8)]) assert.equal(canonicalUuid(bad), undefined, bad);
  });
});
