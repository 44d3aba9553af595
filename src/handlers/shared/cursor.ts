/**
 * Opaque keyset cursors: the last id of a page, bound to the tenant by an HMAC-SHA256 under a key
 * kept in the database (`cursor_key`, migration 2). A cursor edited by hand, minted for another
 * tenant, or forged without the key is a 400, and never reaches PostgreSQL's uuid parser.
 *
 * Wire form: base64url (no padding) of 35 bytes = version 1 (1 byte) · key id (2 bytes, big-endian)
 * · the id's 16 bytes · the first 16 bytes of HMAC(key, "catalog-cursor-v1" 0 tenant 0 key id · id).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { badRequest } from './http.ts';

const VERSION = 1;
const BYTES = 35;
const CHARS = 47; // ceil(35 * 4 / 3), unpadded
const MAC_BYTES = 16;
const CONTEXT = Buffer.from('catalog-cursor-v1\0');

export interface CursorKeys {
  /** The key new cursors are signed with: the newest. */
  current: { id: number; secret: Buffer };
  byId: Map<number, Buffer>;
}

interface Queryable {
  query<R extends object>(config: { name?: string; text: string }): Promise<{ rows: R[] }>;
}

// Keys are read on a container's first list request, again every 10 minutes (so a key added by
// rotation signs everywhere within that time), and early, at most every 30 s, when a cursor names a
// key id this container has not seen yet.
export const KEY_TTL_MS = 10 * 60_000;
const UNKNOWN_KEY_RELOAD_MS = 30_000;
let cached: { keys: CursorKeys; at: number } | undefined;

export async function cursorKeys(db: Queryable, wantId?: number, now = Date.now()): Promise<CursorKeys> {
  const age = cached ? now - cached.at : Infinity;
  const unknown = cached !== undefined && wantId !== undefined && !cached.keys.byId.has(wantId);
  if (cached && age < KEY_TTL_MS && !(unknown && age >= UNKNOWN_KEY_RELOAD_MS)) return cached.keys;
  const { rows } = await db.query<{ id: number; secret: Buffer }>({ name: 'cursor-keys', text: 'SELECT id, secret FROM cursor_key ORDER BY id' });
  if (rows.length === 0) throw new Error('cursor_key has no key: run the migrations');
  const byId = new Map(rows.map((r) => [r.id, r.secret]));
  const last = rows[rows.length - 1]!;
  cached = { keys: { current: { id: last.id, secret: last.secret }, byId }, at: now };
  return cached.keys;
}

/** For tests: forget the cached keys. */
export function clearCursorKeys(): void {
  cached = undefined;
}

function mac(secret: Buffer, tenant: string, keyAndId: Buffer): Buffer {
  return createHmac('sha256', secret).update(CONTEXT).update(tenant).update('\0').update(keyAndId).digest().subarray(0, MAC_BYTES);
}

const UUID_HEX = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/;

export function encodeCursor(keys: CursorKeys, tenant: string, lastId: string): string {
  const m = UUID_HEX.exec(lastId);
  if (!m) throw new Error(`cannot make a cursor from a non-UUID id`);
  const buf = Buffer.alloc(BYTES);
  buf[0] = VERSION;
  buf.writeUInt16BE(keys.current.id, 1);
  buf.write(m.slice(1).join(''), 3, 'hex');
  mac(keys.current.secret, tenant, buf.subarray(1, 19)).copy(buf, 19);
  return buf.toString('base64url');
}

export interface ParsedCursor {
  keyId: number;
  bytes: Buffer;
}

const BAD = () => badRequest('invalid_cursor', 'cursor is malformed');

/** The syntax check, done before any database work: length, alphabet, canonical encoding, version. */
export function parseCursor(cursor: string): ParsedCursor {
  if (cursor.length !== CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw BAD();
  const bytes = Buffer.from(cursor, 'base64url');
  // base64url leaves two spare bits in the last character: only the canonical spelling is accepted.
  if (bytes.length !== BYTES || bytes.toString('base64url') !== cursor || bytes[0] !== VERSION) throw BAD();
  return { keyId: bytes.readUInt16BE(1), bytes };
}

/** The last id of the previous page, once the MAC checks out under the key the cursor names. */
export function verifyCursor(keys: CursorKeys, tenant: string, c: ParsedCursor): string {
  const secret = keys.byId.get(c.keyId);
  if (!secret || !timingSafeEqual(mac(secret, tenant, c.bytes.subarray(1, 19)), c.bytes.subarray(19))) throw BAD();
  const h = c.bytes.subarray(3, 19).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
