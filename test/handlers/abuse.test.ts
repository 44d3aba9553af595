/**
 * The API abuse test (issue 11): crafted requests over HTTP through `catalogctl local`'s gateway
 * (in-process) to the real authorizer and handlers on a real PostgreSQL, then the database made
 * unavailable the ways it fails in production. Every case is fixed (no randomness), and for every
 * response: no 5xx for bad input, the expected status, no internal detail (stack, SQL, driver
 * message) in the body, and nothing of the other tenant. The database cases answer 503 with
 * Retry-After, before the function's timeout, and leave nothing half-written.
 */
import { strict as assert } from 'node:assert';
import { createHash, createHmac, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, SignJWT } from 'jose';
import pg from 'pg';
import { handler as authorizer } from '../../src/handlers/authorizer/index.ts';
import { handler as checkCatalogStatus } from '../../src/handlers/check-catalog-status/index.ts';
import { handler as getDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { handler as migrate } from '../../src/handlers/migrate/index.ts';
import { handler as updateCatalogDb } from '../../src/handlers/update-catalog-db/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { clearCursorKeys } from '../../src/handlers/shared/cursor.ts';
import { isDatabaseUnavailable, resetPool } from '../../src/handlers/shared/db.ts';
import type { ProxyEvent, ProxyResult } from '../../src/handlers/shared/http.ts';
import { forgetFunctionTimeout } from '../../src/handlers/shared/timeouts.ts';
import { loadOrCreateKey, LOCAL_AUDIENCE, LOCAL_ISSUER, type LocalKey } from '../../src/local/keys.ts';
import { startLocal, type HandlerSet, type LocalServer } from '../../src/local/server.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';
import { captureLogs } from './env.ts';
import { send, type Req, type Res } from './send.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const BASE = '/storage/v1/catalog';
const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** A response body that names an internal: a stack frame, a source file, SQL, a driver or network message. */
const INTERNAL = /\bat \S+ \(|node_modules|\.[cm]?[jt]s:\d|\b(SELECT|INSERT|UPDATE|DELETE FROM|WHERE)\b|syntax error|violates|relation "|column "|duplicate key|invalid input|ECONN|ETIMEDOUT|EPIPE|Connection terminated|postgres|pg_|SQLSTATE|TypeError|RangeError|ReferenceError|stack/i;
/**
 * The body as INTERNAL reads it: a `next_cursor` is an opaque base64url token (an HMAC and a keyed
 * position), whose random characters can spell `pg_` or `stack`; it carries no text of ours.
 */
const withoutCursor = (body: string) => body.replace(/"next_cursor":"[A-Za-z0-9_-]*"/g, '"next_cursor":"…"');

describe('API abuse: crafted requests through the local gateway to the real authorizer and handlers', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let local: LocalServer;
  let key: LocalKey;
  let stateDir: string;
  let logs: ReturnType<typeof captureLogs>;
  const tokens: Record<string, string> = {};
  let aIds: string[] = [];
  let bIds: string[] = [];
  const bNames: string[] = [];
  let aCursor = '';
  let bCursor = '';
  let count = 0;
  const started = performance.now();

  /** A token signed with the local key; `claims` override the defaults, `undefined` removes one. */
  async function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const now = nowS();
    const base: Record<string, unknown> = { iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, sub: 'alice', tenant_id: 'tenant-a', roles: ['owner'], iat: now, nbf: now - 5, exp: now + 600, ...claims };
    for (const [k, v] of Object.entries(base)) if (v === undefined) delete base[k];
    return new SignJWT(base).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
  }

  before(async () => {
    logs = captureLogs();
    stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-abuse-'));
    key = await loadOrCreateKey(stateDir);
    db = await createTestDatabase('abuse');
    await resetPool();
    clearCursorKeys();
    forgetFunctionTimeout();
    const handlers = { 'list-datasets': listDatasets, 'get-dataset': getDataset, 'write-dataset': writeDataset, authorizer, 'check-catalog-status': checkCatalogStatus, 'update-catalog-db': updateCatalogDb, migrate } as unknown as HandlerSet;
    local = await startLocal({ port: 0, databaseUrl: db.url, stateDir, loadHandlers: async () => handlers, reporter: new RecordingReporter(), app: { readPageLimit: 500, cacheTtlSec: 60, drrIntegration: true, auditAsync: false, dbMaxConn: 5 } });
    tokens.a = await sign({});
    tokens.aReader = await sign({ sub: 'rita', roles: ['reader'] });
    tokens.b = await sign({ sub: 'bob', tenant_id: 'tenant-b' });
    for (let i = 0; i < 3; i++) {
      const r = await send(local.url, { method: 'POST', path: `${BASE}/datasets`, token: tokens.a, body: JSON.stringify({ name: `a-${i}`, sla_minutes: 60, last_refreshed_at: '2024-05-01T12:00:00Z' }) });
      assert.equal(r.status, 201, r.body);
      aIds.push((JSON.parse(r.body) as { id: string }).id);
      bNames.push(`tenant-b-secret-${i}`);
      const rb = await send(local.url, { method: 'POST', path: `${BASE}/datasets`, token: tokens.b, body: JSON.stringify({ name: bNames[i], description: 'tenant-b-only' }) });
      assert.equal(rb.status, 201, rb.body);
      bIds.push((JSON.parse(rb.body) as { id: string }).id);
    }
    aIds = aIds.sort();
    bIds = bIds.sort();
    aCursor = (JSON.parse((await send(local.url, { method: 'GET', path: `${BASE}/datasets?limit=1`, token: tokens.a })).body) as { next_cursor: string }).next_cursor;
    bCursor = (JSON.parse((await send(local.url, { method: 'GET', path: `${BASE}/datasets?limit=1`, token: tokens.b })).body) as { next_cursor: string }).next_cursor;
  });

  after(async () => {
    await local?.stop();
    await resetPool();
    clearCursorKeys();
    await db?.drop();
    rmSync(stateDir, { recursive: true, force: true });
    logs.restore();
    console.log(`      API abuse: ${count} crafted requests through the gateway in ${((performance.now() - started) / 1000).toFixed(1)} s (set-up included)`);
  });

  /** Sends `r` and checks the invariants every response must hold, then the expected status. */
  async function expect(name: string, r: Req, status: number | number[], check?: (res: Res) => void): Promise<Res> {
    const res = await send(local.url, r);
    count++;
    const where = `${name}: ${r.method} ${r.path.slice(0, 120)} → ${res.status} ${res.body.slice(0, 300)}`;
    assert.ok(res.status < 500, `no 5xx for bad input — ${where}`);
    assert.ok((Array.isArray(status) ? status : [status]).includes(res.status), `expected ${String(status)} — ${where}`);
    assert.doesNotMatch(withoutCursor(res.body), INTERNAL, `no internal detail — ${where}`);
    if (r.token !== tokens.b) {
      for (const s of [...bIds, ...bNames, 'tenant-b']) assert.ok(!res.body.includes(s), `nothing of tenant-b — ${where}`);
    }
    if (res.status >= 400 && res.headers['x-amzn-requestid']) {
      const e = JSON.parse(res.body) as { error?: { code?: string; requestId?: string } };
      assert.ok(e.error?.code && e.error.requestId, `a stable error code and the request id — ${where}`);
    }
    check?.(res);
    return res;
  }
  const code = (want: string) => (res: Res) => assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, want);

  it('rejects every forged, expired, misissued or malformed token with 401 (the JWT attack list)', async () => {
    const now = nowS();
    const pub = await exportSPKI(createPublicKey(key.privateKey));
    const hsHeader = b64({ alg: 'HS256', kid: key.kid, typ: 'JWT' });
    const payload = b64({ sub: 'alice', tenant_id: 'tenant-a', roles: ['platform'], iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, exp: now + 60 });
    const [h, , s] = tokens.a!.split('.');
    const { generateKeyPair } = await import('jose');
    const other = await generateKeyPair('RS256');
    const attacks: [string, string | null, Record<string, string>?][] = [
      ['no Authorization header', null],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`],
      ['HS256 keyed with the public PEM', `${hsHeader}.${payload}.${createHmac('sha256', pub).update(`${hsHeader}.${payload}`).digest('base64url')}`],
      ['HS256 keyed with the JWK', `${hsHeader}.${payload}.${createHmac('sha256', JSON.stringify(key.publicJwk)).update(`${hsHeader}.${payload}`).digest('base64url')}`],
      ['expired', await sign({ exp: now - 60 })],
      ['not yet valid (nbf)', await sign({ nbf: now + 600 })],
      ['issued a year ahead (iat)', await sign({ iat: now + 365 * 86400 })],
      ['issued a minute ahead (iat)', await sign({ iat: now + 60 })],
      ['iat not a number', await sign({ iat: 'yesterday' })],
      ['no exp', await sign({ exp: undefined })],
      ['wrong issuer', await sign({ iss: 'https://evil.example.com/' })],
      ['wrong audience', await sign({ aud: 'another-api' })],
      ['unknown kid', await sign({}, { kid: 'unknown-key' })],
      ['tampered payload', `${h}.${b64({ sub: 'alice', tenant_id: 'tenant-b', roles: ['platform'], iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, exp: now + 60 })}.${s}`],
      ['another key, same kid', await new SignJWT({ sub: 'a', tenant_id: 'tenant-a' }).setProtectedHeader({ alg: 'RS256', kid: key.kid }).setIssuer(LOCAL_ISSUER).setAudience(LOCAL_AUDIENCE).setExpirationTime('5m').sign(other.privateKey)],
      ['no tenant', await sign({ tenant_id: undefined })],
      ['tenant with a slash', await sign({ tenant_id: 'tenant-a/../tenant-b' })],
      ['tenant with NUL', await sign({ tenant_id: 'tenant-a\u0000' })],
      ['tenant 129 characters', await sign({ tenant_id: 'a'.repeat(129) })],
      ['no sub', await sign({ sub: undefined })],
      ['sub with NUL', await sign({ sub: 'alice\u0000admin' })],
      ['sub with a newline', await sign({ sub: 'alice\nadmin' })],
      ['sub with a lone surrogate', await sign({ sub: 'alice\ud800' })],
      ['sub 257 characters', await sign({ sub: 'x'.repeat(257) })],
      ['sub a number', await sign({ sub: 42 })],
      ['garbage', 'not-a-jwt'],
      ['three empty parts', '..'],
      ['bearer without a token', ''],
      ['8 KB of padding', `${h}.${'A'.repeat(8000)}.${s}`],
      ['signature stripped', `${h}.${tokens.a!.split('.')[1]}.`],
    ];
    for (const [name, token] of attacks) {
      await expect(`JWT: ${name}`, { method: 'GET', path: `${BASE}/datasets`, token }, 401);
    }
    for (const [name, auth] of [['Basic scheme', `Basic ${b64('alice:secret')}`], ['lower-case bearer', `bearer ${tokens.a}`], ['two tokens', `Bearer ${tokens.a} Bearer ${tokens.a}`]] as const) {
      await expect(`JWT: ${name}`, { method: 'GET', path: `${BASE}/datasets`, token: null, headers: { authorization: auth } }, 401);
    }
    // Inside the clock skew (5 s) a token is fine, and a roles claim that is not a list gives no roles.
    await expect('JWT: iat 3 s ahead', { method: 'GET', path: `${BASE}/datasets`, token: await sign({ iat: now + 3 }) }, 200);
    await expect('JWT: roles as a string', { method: 'POST', path: `${BASE}/datasets`, token: await sign({ roles: 'platform,owner' }), body: '{"name":"x"}' }, 403);
    const decisions = local.decisions.summary(0);
    assert.ok(decisions.counts.error === 0, 'the authorizer never failed: every rejection is a 401');
  });

  it('list: malformed limits and cursors are 400; forged, edited or foreign cursors never page', async () => {
    for (const limit of ['0', '-1', 'abc', '1.5', '1e3', '9999999', '%00', '%201', '1%20', '0x10', '%EF%BC%91', '1,2']) {
      await expect(`limit=${limit}`, { method: 'GET', path: `${BASE}/datasets?limit=${limit}`, token: tokens.a }, 400, code('invalid_limit'));
    }
    for (const limit of ['', '500', '999999', '001']) await expect(`limit=${limit}`, { method: 'GET', path: `${BASE}/datasets?limit=${limit}`, token: tokens.a }, 200);
    const raw = Buffer.from(aCursor, 'base64url');
    const unkeyed = (tenant: string, id: string) => Buffer.from(`${id}.${createHash('sha256').update(`${tenant}\0${id}`).digest('base64url').slice(0, 16)}`).toString('base64url');
    const cursors: [string, string][] = [
      ['one character', 'x'],
      ['SQL', "' OR 1=1 --"],
      ['the old unkeyed sha256 form', unkeyed('tenant-a', aIds[0]!)],
      ['old form, not a UUID', Buffer.from('00000000-0000-0000-0000-00000000000G.AAAAAAAAAAAAAAAA').toString('base64url')],
      ['tenant-b\'s cursor', bCursor],
      ['all zeros', Buffer.alloc(35).toString('base64url')],
      ['version 2', Buffer.concat([Buffer.from([2]), raw.subarray(1)]).toString('base64url')],
      ['a key id that does not exist', Buffer.concat([raw.subarray(0, 1), Buffer.from([0xff, 0xff]), raw.subarray(3)]).toString('base64url')],
      ['non-canonical last character', aCursor.slice(0, -1) + String.fromCharCode(aCursor.charCodeAt(aCursor.length - 1) ^ 1)],
      ['one byte short', raw.subarray(0, 34).toString('base64url')],
      ['one byte long', Buffer.concat([raw, Buffer.from([0])]).toString('base64url')],
      ['padded', `${aCursor}=`],
      ['base64 not base64url', aCursor.replace(/-/g, '+').replace(/_/g, '/') + (aCursor.includes('-') || aCursor.includes('_') ? '' : '+')],
      ['5,000 characters', 'A'.repeat(5000)],
      ['NUL', '%00'],
      ['unicode', encodeURIComponent('é'.repeat(47))],
    ];
    for (let i = 0; i < raw.length; i++) {
      const flipped = Buffer.from(raw);
      flipped[i]! ^= 0x01;
      cursors.push([`byte ${i} flipped`, flipped.toString('base64url')]);
    }
    for (const [name, cursor] of cursors) {
      await expect(`cursor: ${name}`, { method: 'GET', path: `${BASE}/datasets?cursor=${encodeURIComponent(cursor)}`, token: tokens.a }, 400, code('invalid_cursor'));
    }
    const next = await expect('cursor: a real one', { method: 'GET', path: `${BASE}/datasets?limit=1&cursor=${aCursor}`, token: tokens.a }, 200);
    assert.deepEqual((JSON.parse(next.body) as { items: { id: string }[] }).items.map((x) => x.id), [aIds[1]]);
    const own = await expect('tenant-b lists its own', { method: 'GET', path: `${BASE}/datasets`, token: tokens.b }, 200);
    assert.deepEqual((JSON.parse(own.body) as { items: { id: string }[] }).items.map((x) => x.id), bIds);
  });

  it('describe: only canonical UUIDs; another tenant\'s dataset is a 404', async () => {
    const id = aIds[0]!;
    const bad = ['1', encodeURIComponent("1' OR '1'='1"), id.replace(/-/g, ''), `%7B${id}%7D`, `urn:uuid:${id}`, `${id}0`, id.slice(1), '00000000-0000-0000-0000-00000000000G', '-'.repeat(36), `${id}%00`, encodeURIComponent('１'.repeat(8)) + id.slice(8), 'NaN', 'null', '%00'];
    for (const x of bad) await expect(`id=${x}`, { method: 'GET', path: `${BASE}/datasets/${x}`, token: tokens.a }, 400, code('invalid_id'));
    // The local gateway's policy check refuses a method ARN with a newline before the handler sees it.
    await expect('id with a newline', { method: 'GET', path: `${BASE}/datasets/${id}%0A`, token: tokens.a }, [400, 403]);
    await expect('upper-case id', { method: 'GET', path: `${BASE}/datasets/${id.toUpperCase()}`, token: tokens.a }, 200);
    for (const b of bIds) await expect('tenant-b\'s id', { method: 'GET', path: `${BASE}/datasets/${b}`, token: tokens.a }, 404, code('not_found'));
    await expect('an id nobody has', { method: 'GET', path: `${BASE}/datasets/00000000-0000-4000-8000-000000000000`, token: tokens.a }, 404);
    // Dot segments are resolved before routing, as URL parsing does: never a dataset id.
    await expect('path traversal to the list', { method: 'GET', path: `${BASE}/datasets/../datasets`, token: tokens.a }, 200);
    for (const x of ['..', '%2e%2e']) await expect(`id=${x}`, { method: 'GET', path: `${BASE}/datasets/${x}`, token: tokens.a }, 403);
  });

  it('writes: NUL, lone surrogates, deep nesting, dates PostgreSQL would reject and odd bodies are 400; too large is 413', async () => {
    const post = (name: string, body: string | Buffer, status: number | number[], headers?: Record<string, string>) =>
      expect(name, { method: 'POST', path: `${BASE}/datasets`, token: tokens.a, body, headers }, status);
    let n = 0;
    const field = (k: string, v: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ name: `case-${++n}`, ...extra, [k]: v });
    const nest = (open: string, close: string, n: number, leaf = '1') => open.repeat(n) + leaf + close.repeat(n);
    const cases: [string, string, number][] = [
      ['NUL in name', JSON.stringify({ name: 'a\u0000b' }), 400],
      ['NUL in description', field('description', 'x\u0000'), 400],
      ['NUL in a descriptor key', field('descriptor', { 'k\u0000': 1 }), 400],
      ['NUL in a descriptor value', field('descriptor', { k: ['ok', 'v\u0000'] }), 400],
      ['escaped NUL', `{"name":"case-esc","description":"\\u0000"}`, 400],
      ['lone high surrogate', `{"name":"x\\ud800"}`, 400],
      ['lone low surrogate in a descriptor', `{"name":"case-sur","descriptor":{"k":"\\udc00"}}`, 400],
      ['descriptor 5,000 objects deep', `{"name":"case-deep","descriptor":${nest('{"a":', '}', 5000)}}`, 400],
      ['descriptor 5,000 arrays deep', `{"name":"case-deep2","descriptor":{"a":${nest('[', ']', 5000, '')}}}`, 400],
      ['descriptor 64 deep', `{"name":"case-deep3","descriptor":${nest('{"a":', '}', 64)}}`, 400],
      ['descriptor 63 deep', `{"name":"case-deep4","descriptor":${nest('{"a":', '}', 63)}}`, 201],
      ['number beyond a double', `{"name":"case-inf","descriptor":{"n":1e400}}`, 400],
      ['descriptor an array', field('descriptor', [1]), 400],
      ['descriptor a string', field('descriptor', '{}'), 400],
      ['descriptor null', field('descriptor', null), 400],
      ['name missing', '{}', 400],
      ['name empty', JSON.stringify({ name: '' }), 400],
      ['name 257 characters', JSON.stringify({ name: 'n'.repeat(257) }), 400],
      ['name a number', JSON.stringify({ name: 5 }), 400],
      ['unknown field', field('owner', 'mallory'), 400],
      ['__proto__ field', `{"name":"case-proto","__proto__":{"polluted":true}}`, 400],
      ['tenant_id field', field('tenant_id', 'tenant-b'), 400],
      ['not JSON', '{not json', 400],
      ['a JSON array', '[]', 400],
      ['JSON null', 'null', 400],
      ['a JSON string', '"x"', 400],
      ['empty body', '', 400],
      ['trailing garbage', '{"name":"x"} x', 400],
      ['sla 0', field('sla_minutes', 0), 400],
      ['sla negative', field('sla_minutes', -1), 400],
      ['sla fractional', field('sla_minutes', 1.5), 400],
      ['sla a string', field('sla_minutes', '5'), 400],
      ['sla over a year', field('sla_minutes', 525_601), 400],
      ['sla 2^31', field('sla_minutes', 2 ** 31), 400],
      ['sla 1e400', `{"name":"case-sla","sla_minutes":1e400}`, 400],
    ];
    for (const d of ['1', '2024-02-30', '2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', 'now', 'epoch', 'infinity', '-infinity', 'today', '2024-01-01', '2024-01-01T00:00:00', '0000-01-01T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T23:59:60Z', '2024-01-01T00:00:00+16:00', '2024-01-01T00:00:00+1400', '9999-12-31T23:59:59.9999999Z', '10000-01-01T00:00:00Z', 'Jan 8 1999 04:05:06 PST', '2024-01-01T00:00:00Z ', ' 2024-01-01T00:00:00Z', '', 'T']) {
      cases.push([`last_refreshed_at ${JSON.stringify(d)}`, field('last_refreshed_at', d), 400]);
    }
    for (const v of [12345, true, {}, []]) cases.push([`last_refreshed_at ${JSON.stringify(v)}`, field('last_refreshed_at', v), 400]);
    for (const d of ['2024-02-29T00:00:00Z', '2024-05-01T12:00:00.123456789+05:30', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z', '2024-05-01t12:00:00z']) {
      cases.push([`last_refreshed_at ${JSON.stringify(d)}`, field('last_refreshed_at', d), 201]);
    }
    for (const [name, body, status] of cases) await post(name, body, status);
    // Stored as the instant given: read back in UTC.
    const stored = await post('stored instant', field('last_refreshed_at', '2024-05-01T12:00:00.5-02:30'), 201);
    assert.equal((JSON.parse(stored.body) as { freshness: { last_refreshed_at: string } }).freshness.last_refreshed_at, '2024-05-01T14:30:00.500Z');

    await post('64 KB + 1 (the handler\'s limit)', JSON.stringify({ name: 'big', description: 'd'.repeat(64 * 1024) }), 413);
    const huge = await post('10 MB + 1 (API Gateway\'s limit)', Buffer.alloc(10 * 1024 * 1024 + 1, 0x20), 413);
    assert.deepEqual(JSON.parse(huge.body), { message: 'Request Too Long' });
    // Chunked, with no Content-Length: the gateway counts as it reads, and still answers 413.
    const chunked = await new Promise<Res>((resolve, reject) => {
      const u = new URL(local.url);
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: `${BASE}/datasets`, headers: { authorization: `Bearer ${tokens.a}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      const mb = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 10; i++) req.write(mb);
      req.end(Buffer.from(' '));
    });
    count++;
    assert.equal(chunked.status, 413);
    assert.deepEqual(JSON.parse(chunked.body), { message: 'Request Too Long' });
    await post('binary body, not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400, { 'content-type': 'application/octet-stream' });

    const target = aIds[0]!;
    const etag = (await send(local.url, { method: 'GET', path: `${BASE}/datasets/${target}`, token: tokens.a })).headers.etag as string;
    const put = (name: string, body: string, headers: Record<string, string>, status: number, token = tokens.a) =>
      expect(name, { method: 'PUT', path: `${BASE}/datasets/${target}`, token, body, headers }, status);
    await put('PUT a bad date', JSON.stringify({ last_refreshed_at: '2024-02-30' }), { 'if-match': etag }, 400);
    await put('PUT NUL', JSON.stringify({ description: '\u0000' }), { 'if-match': etag }, 400);
    await put('PUT If-Match garbage', JSON.stringify({ description: 'x' }), { 'if-match': '"garbage", W/"x", *x' }, 412);
    await put('PUT without If-Match', JSON.stringify({ description: 'x' }), {}, 428);
    await put('PUT by tenant-b', JSON.stringify({ description: 'x' }), { 'if-match': '*' }, 404, tokens.b);
    await put('PUT by a reader', JSON.stringify({ description: 'x' }), { 'if-match': '*' }, 403, tokens.aReader);
    await expect('DELETE tenant-b\'s dataset', { method: 'DELETE', path: `${BASE}/datasets/${bIds[0]}`, token: tokens.a, headers: { 'if-match': '*' } }, 404);
    await expect('DELETE a bad id', { method: 'DELETE', path: `${BASE}/datasets/not-a-uuid`, token: tokens.a, headers: { 'if-match': '*' } }, 400);
    for (const [name, body] of [['NUL', JSON.stringify({ catalog_name: 'c\u0000' })], ['slash', JSON.stringify({ catalog_name: '../etc' })], ['129 characters', JSON.stringify({ catalog_name: 'c'.repeat(129) })], ['extra field', JSON.stringify({ catalog_name: 'ok', tenant_id: 'tenant-b' })], ['deep', `{"catalog_name":${nest('[', ']', 5000, '')}}`]]) {
      await expect(`catalog ${name}`, { method: 'POST', path: `${BASE}/catalogs`, token: tokens.a, body }, 400);
    }
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    const { rows } = await check.query<{ n: string; names: string[] }>("SELECT count(*) AS n, array_agg(name ORDER BY name) AS names FROM catalog_dataset WHERE tenant_id = 'tenant-b'");
    await check.end();
    assert.deepEqual(rows[0], { n: '3', names: bNames }, 'tenant-b untouched');
  });

  it('left no error log without a reason and no token in any log line', () => {
    const lines = logs.raw.join('\n');
    for (const t of Object.values(tokens)) assert.ok(!lines.includes(t), 'a token in the logs');
    assert.ok(!logs.lines.some((l) => l.status !== undefined && Number(l.status) >= 500), 'a 5xx was logged');
  });
});

describe('API abuse: the database unavailable (real PostgreSQL behind a TCP proxy)', function () {
  this.timeout(60_000);
  // A 2 s function: connect 0.5 s, statement 1 s, 1.2 s for each request's database work.
  const TIMEOUT_MS = 2000;
  let db: TestDatabase;
  let proxy: TcpProxy;
  let admin: pg.Pool;
  let logs: ReturnType<typeof captureLogs>;
  let id = '';
  let etag = '';
  let cases = 0;
  const saved = process.env.DATABASE_URL;

  const who = { principalId: 'alice', tenantId: 'tenant-a', roles: 'owner' };
  const ctx = () => {
    const end = Date.now() + TIMEOUT_MS;
    return { awsRequestId: 'r', getRemainingTimeInMillis: () => end - Date.now() };
  };
  const ev = (method: string, resource: string, extra: Partial<ProxyEvent> = {}): ProxyEvent => ({ httpMethod: method, resource, requestContext: { requestId: `down-${cases}`, authorizer: who }, ...extra });
  const list = () => listDatasets(ev('GET', `${BASE}/datasets`), ctx());
  const describe_ = () => getDataset(ev('GET', `${BASE}/datasets/{id}`, { pathParameters: { id } }), ctx());
  const create = () => writeDataset(ev('POST', `${BASE}/datasets`, { body: JSON.stringify({ name: `down-${cases}` }) }), ctx());
  const update = () => writeDataset(ev('PUT', `${BASE}/datasets/{id}`, { pathParameters: { id }, headers: { 'If-Match': '*' }, body: JSON.stringify({ description: `down-${cases}` }) }), ctx());

  async function unavailable(name: string, call: () => Promise<ProxyResult>): Promise<void> {
    const t0 = performance.now();
    const res = await call();
    const ms = performance.now() - t0;
    cases++;
    const where = `${name}: ${res.statusCode} ${res.body} after ${ms.toFixed(0)} ms`;
    assert.equal(res.statusCode, 503, where);
    assert.equal(res.headers['Retry-After'], '5', where);
    assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'database_unavailable', where);
    assert.doesNotMatch(withoutCursor(res.body), INTERNAL, where);
    assert.ok(ms < TIMEOUT_MS, `answered before the function's timeout — ${where}`);
  }
  async function recovered(name: string): Promise<void> {
    for (const [route, call] of [['list', list], ['describe', describe_]] as const) {
      const res = await call();
      cases++;
      assert.equal(res.statusCode, 200, `${name}, then ${route} works again without a restart: ${res.body}`);
    }
  }

  before(async () => {
    logs = captureLogs();
    db = await createTestDatabase('abuse_down');
    proxy = await startTcpProxy(db.url);
    admin = new pg.Pool({ connectionString: db.url, max: 2 });
    process.env.DATABASE_URL = proxy.url;
    await resetPool();
    clearCursorKeys();
    forgetFunctionTimeout();
    await migrate();
    await resetPool();
    forgetFunctionTimeout();
    const r = await create();
    assert.equal(r.statusCode, 201, r.body);
    id = (JSON.parse(r.body) as { id: string }).id;
    etag = r.headers.ETag!;
    assert.ok(etag);
    await recovered('set-up');
  });
  after(async () => {
    await resetPool();
    clearCursorKeys();
    forgetFunctionTimeout();
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
    await proxy?.close();
    await admin?.end();
    await db?.drop();
    logs.restore();
    console.log(`      database unavailable: ${cases} requests, every failure a 503 with Retry-After`);
  });

  it('nothing listening (connection refused): list, describe and writes are 503', async () => {
    await proxy.down();
    await unavailable('refused list', list);
    await unavailable('refused describe', describe_);
    await unavailable('refused create', create);
    await unavailable('refused update', update);
    await proxy.up();
    await recovered('refused');
  });

  it('a black hole (connections accepted, never answered): 503 within the connect timeout', async () => {
    await resetPool();
    proxy.setMode('blackhole');
    await unavailable('black hole list', list);
    await unavailable('black hole create', create);
    proxy.setMode('pass');
    await recovered('black hole');
  });

  it('the server freezes mid-request: 503 at the request deadline, and the write left nothing behind', async () => {
    const before = (await admin.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset')).rows[0]!.n;
    await recovered('warm pool');
    proxy.freeze();
    await unavailable('frozen describe', describe_);
    await unavailable('frozen create', create);
    proxy.thaw();
    await recovered('frozen');
    assert.equal((await admin.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset')).rows[0]!.n, before, 'no half-written dataset');
  });

  it('a lock held elsewhere: the statement timeout ends the wait with a 503', async () => {
    const holder = await admin.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM catalog_dataset WHERE id = $1 FOR UPDATE', [id]);
      await unavailable('lock wait update', update);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await recovered('lock wait');
  });

  it('PostgreSQL terminates the backend mid-query (57P01): 503', async () => {
    const holder = await admin.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM catalog_dataset WHERE id = $1 FOR UPDATE', [id]);
      const pending = update();
      // Wait until the update is blocked on the lock, then terminate exactly that backend.
      let pid: number | undefined;
      for (let i = 0; i < 100 && !pid; i++) {
        pid = (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0]?.pid;
        if (!pid) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(pid, 'the update waited on the lock');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await unavailable('terminated update', () => pending);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await recovered('terminated');
  });

  it('classifies what means "unavailable" and nothing else', () => {
    for (const e of [{ code: 'ECONNREFUSED' }, { code: '57P01' }, { code: '57014' }, { code: '53300' }, { code: '08006' }, { code: '40001' }, { code: '25006' }, new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect'), Object.assign(new Error('x'), { errors: [{ code: 'ECONNREFUSED' }, { code: 'EHOSTUNREACH' }] })]) {
      assert.ok(isDatabaseUnavailable(e), JSON.stringify(e) + String(e));
    }
    for (const e of [{ code: '23505' }, { code: '22P02' }, { code: '42601' }, { code: '28P01' }, new TypeError('x is undefined'), new RangeError('Maximum call stack size exceeded'), null, 'ECONNREFUSED', { errors: [] }]) {
      assert.ok(!isDatabaseUnavailable(e), JSON.stringify(e) + String(e));
    }
  });
});
