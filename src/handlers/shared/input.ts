/**
 * Checks for hostile input, written against what PostgreSQL will do with a value: anything accepted
 * here is stored exactly as given, and anything PostgreSQL would reject (which would surface as a
 * 500) is refused first with a reason. Pure functions, no I/O.
 */

/** Deepest nesting accepted in a request body; JSON.stringify overflows the stack near 5,000. */
export const MAX_JSON_DEPTH = 64;

// PostgreSQL text and jsonb cannot hold U+0000, and a lone UTF-16 surrogate is either turned into
// U+FFFD on the wire (text) or rejected by the JSON parser (jsonb): both are refused here.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` cannot be stored as PostgreSQL text, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  const m = UNSTORABLE.exec(s);
  if (!m) return undefined;
  return m[0] === '\u0000' ? 'contains a NUL character' : 'contains an unpaired UTF-16 surrogate';
}

// A field's place for messages, cut short: a 5,000-deep path is not worth echoing.
const at = (path: string, key: string): string => {
  if (path.endsWith('…')) return path;
  const next = key.startsWith('[') ? `${path}${key}` : path ? `${path}.${key}` : key;
  return next.length > 60 ? `${next.slice(0, 60)}…` : next;
};

/**
 * Walks a parsed JSON value without recursion (a deep value must not overflow this check either)
 * and returns the first problem: nesting beyond `maxDepth`, a key or string PostgreSQL cannot store,
 * or a number JSON.parse turned into ±Infinity (it would be stored as null).
 */
export function jsonProblem(root: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: root, depth: 0, path: '' }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p) return `${path || 'body'} ${p}`;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${path || 'body'} is a number out of range`;
    } else if (v !== null && typeof v === 'object') {
      if (depth >= maxDepth) return `${path || 'body'} is nested deeper than ${maxDepth} levels`;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) stack.push({ v: v[i], depth: depth + 1, path: at(path, `[${i}]`) });
      } else {
        for (const [k, child] of Object.entries(v)) {
          const p = textProblem(k);
          if (p) return `a key in ${path || 'body'} ${p}`;
          stack.push({ v: child, depth: depth + 1, path: at(path, k) });
        }
      }
    }
  }
  return undefined;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A UUID in its canonical 8-4-4-4-12 form (either case), returned in lower case; undefined otherwise. */
export function canonicalUuid(s: string): string | undefined {
  return UUID.test(s) ? s.toLowerCase() : undefined;
}

// RFC 3339 date-time. PostgreSQL reads far more (`now`, `epoch`, `Jan 8 1999`, `24:00:00`, `+1400`),
// so only this strict form is accepted, and the value sent on is re-written in UTC by us.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const daysInMonth = (y: number, m: number) => (m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

// Instants are kept to years 0001–9999 in UTC: PostgreSQL has no year 0, and the API writes
// timestamps as 4-digit-year ISO text, which the two ends of this range bound.
const MIN_SECONDS = daysFromCivil(1, 1, 1) * 86400;
const MAX_SECONDS = daysFromCivil(9999, 12, 31) * 86400 + 86399;

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * An RFC 3339 timestamp with a zone (`Z` or ±hh:mm up to PostgreSQL's ±15:59), a real calendar
 * date, hours 00–23 and seconds 00–59, rounded to PostgreSQL's microseconds, as the UTC text
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ` that PostgreSQL reads back as the same instant; undefined otherwise.
 */
export function normalizeTimestamp(s: string): string | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (y! < 1 || mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(y!, mo!) || h! > 23 || mi! > 59 || sec! > 59) return undefined;
  let offsetSeconds = 0;
  if (m[8]) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 15 || om > 59) return undefined;
    offsetSeconds = (m[8] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const frac = (m[7] ?? '').padEnd(9, '0');
  let micros = Number(frac.slice(0, 6)) + (Number(frac[6]) >= 5 ? 1 : 0);
  let seconds = daysFromCivil(y!, mo!, d!) * 86400 + h! * 3600 + mi! * 60 + sec! - offsetSeconds;
  if (micros === 1_000_000) {
    micros = 0;
    seconds += 1;
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  const days = Math.floor(seconds / 86400);
  const rest = seconds - days * 86400;
  const [yy, mm, dd] = civilFromDays(days);
  return `${pad(yy, 4)}-${pad(mm, 2)}-${pad(dd, 2)}T${pad(Math.floor(rest / 3600), 2)}:${pad(Math.floor((rest % 3600) / 60), 2)}:${pad(rest % 60, 2)}.${pad(micros, 6)}Z`;
}
