/**
 * Opaque keyset cursors: the last id of a page, bound to the tenant by a checksum, so a cursor
 * edited by hand or carried to another tenant is a 400, not a different page.
 */
import { createHash } from 'node:crypto';
import { badRequest } from './http.ts';

const sum = (tenant: string, id: string) => createHash('sha256').update(`${tenant}\0${id}`).digest('base64url').slice(0, 16);

export function encodeCursor(tenant: string, lastId: string): string {
  return Buffer.from(`${lastId}.${sum(tenant, lastId)}`).toString('base64url');
}

export function decodeCursor(tenant: string, cursor: string): string {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw badRequest('invalid_cursor', 'cursor is malformed');
  const [id, check] = Buffer.from(cursor, 'base64url').toString('utf8').split('.');
  if (!id || !check || !/^[0-9a-f-]{36}$/.test(id) || check !== sum(tenant, id)) throw badRequest('invalid_cursor', 'cursor is malformed');
  return id;
}
