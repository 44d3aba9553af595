/**
 * Checks for flag values several commands share, each a one-line UserInputError (exit 2) that
 * names the flag, so the same mistake reads the same everywhere.
 */
import { UserInputError } from '../errors.ts';

export function wholeNumber(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UserInputError(`${flag}: must be a whole number from ${min} to ${max}, got "${text}"`);
  return Number(text);
}

export function httpUrl(flag: string, text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UserInputError(`${flag}: "${text}" is not a URL${/^[\w.-]+(:\d+)?(\/.*)?$/.test(text) ? `; did you mean http://${text}?` : ''}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserInputError(`${flag}: must be an http(s) URL, got "${text}"`);
  return text;
}

export function databaseUrl(flag: string, text: string): string {
  if (!/^postgres(ql)?:\/\/\S+$/.test(text)) throw new UserInputError(`${flag}: must be a postgres:// URL`);
  return text;
}

/** PostgreSQL or network error codes that mean the URL does not lead to a usable database. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', '28P01', '28000', '3D000', '57P03']);

/** The one-line reason when `err` is a failure to connect to PostgreSQL; undefined for anything else. */
export function cannotConnect(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown; errors?: { message?: string }[] } | undefined;
  if (typeof e?.code !== 'string' || !CONNECT_CODES.has(e.code)) return undefined;
  // Node reports a refused dual-stack connection as an AggregateError with an empty message.
  const message = (typeof e.message === 'string' && e.message) || e.errors?.map((x) => x.message).join('; ') || e.code;
  return message.replace(/\s+/g, ' ').trim();
}
