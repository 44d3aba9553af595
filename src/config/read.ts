/**
 * Reading an env file as hostile input: only a regular file (a FIFO, a device or a directory is
 * refused at once, without blocking: the file is opened non-blocking and checked with fstat before
 * any read), at most MAX_ENV_FILE_BYTES, strictly UTF-8 (an invalid byte is an error at its
 * line:col, never a silent U+FFFD), and free of control and bidirectional-override characters,
 * which can make a file read differently from what it means.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { EnvFileError, MAX_PROBLEMS, type EnvProblem } from './errors.ts';

/** Real env files are about 3 KB; the cap keeps a mistaken or hostile file from eating time and memory. */
export const MAX_ENV_FILE_BYTES = 256 * 1024;

/**
 * C0 controls but tab, LF and CR; DEL and C1 controls; the Unicode bidirectional controls
 * (embeddings, overrides, isolates and marks: the "Trojan Source" characters, CVE-2021-42574).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const FORBIDDEN_TEXT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;
/** The same in a parsed value or key, where tab and line breaks are refused too. */
// eslint-disable-next-line no-control-regex -- as above
export const FORBIDDEN_IN_VALUE = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

export function describeForbidden(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp >= 0x200e || cp === 0x061c ? `bidirectional control character ${hex}` : `control character ${hex}`;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The bytes of a regular file of at most MAX_ENV_FILE_BYTES; `shown` names it in errors. */
export function readEnvBytes(path: string, shown: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw EnvFileError.file(shown, `cannot read env file (${code ?? (err as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw EnvFileError.file(shown, `not a regular file (${kindOf(st)}): env files must be regular files`);
    if (st.size > MAX_ENV_FILE_BYTES) throw EnvFileError.file(shown, tooLarge(`${st.size}`));
    // Read one byte past the cap, in case the file grew since fstat.
    const buf = Buffer.alloc(Math.min(st.size, MAX_ENV_FILE_BYTES) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === buf.length) {
        if (n > MAX_ENV_FILE_BYTES) throw EnvFileError.file(shown, tooLarge(`more than ${MAX_ENV_FILE_BYTES}`));
        break;
      }
    }
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof EnvFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw EnvFileError.file(shown, `cannot read env file (${code ?? (err as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

function tooLarge(bytes: string): string {
  return `${bytes} bytes: env files are limited to ${MAX_ENV_FILE_BYTES / 1024} KiB`;
}

/** Offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [need, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

/** 1-based line and column (in code points) of a byte offset. */
function bytePos(b: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  const prefix = new TextDecoder('utf-8').decode(b.subarray(start, offset));
  return { line, col: [...prefix].length + 1 };
}

/** 1-based line and column (in code points) of a string offset. */
export function textPos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: [...text.slice(start, offset)].length + 1 };
}

/** Strict UTF-8 text of the bytes (a leading BOM dropped), with no forbidden characters. */
export function decodeEnvText(bytes: Uint8Array, shown: string): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad !== -1) {
    const { line, col } = bytePos(bytes, bad);
    throw EnvFileError.at(shown, line, col, '', `invalid UTF-8 (byte 0x${bytes[bad]!.toString(16).padStart(2, '0')}): env files must be UTF-8`);
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  const problems: EnvProblem[] = [];
  for (const m of text.matchAll(FORBIDDEN_TEXT)) {
    // Positions for the ones shown; the rest only counted (each position costs a scan).
    const { line, col } = problems.length < MAX_PROBLEMS ? textPos(text, m.index) : { line: 0, col: 0 };
    problems.push({ file: shown, line, col, keyPath: '', detail: `${describeForbidden(m[0])} is not allowed in env files` });
  }
  if (problems.length) throw new EnvFileError(problems);
  return text;
}
