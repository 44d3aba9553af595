/**
 * A stand-in for CloudWatch's metric math, for GetMetricData against the emulator: moto 5.2.1
 * evaluates an Expression only when it is the bare Id of another query (it returns nothing for
 * anything else). This evaluates the subset the release state machine's queries use, with the
 * semantics the CloudWatch User Guide documents ("Metric math syntax and functions"):
 *
 * - arithmetic `+ - * /` on time series and scalars: a value missing from one series counts as 0
 *   where the other has one; a division by zero drops the data point;
 * - comparisons `== != < <= > >=` and `AND`/`&&`, `OR`/`||`: 1 or 0 per data point, a value missing
 *   from one series counting as 0;
 * - `IF(condition, a, b)`: per data point of the condition, a where it is non-zero, else b; a missing
 *   data point of a reads 0, a missing (or omitted) b drops the point;
 * - `MAX([s1, s2, …])` the largest value at each time stamp; `MAX(s)` a scalar.
 *
 * Anything else is an error, so a query the stand-in cannot answer fails loudly instead of
 * returning a wrong number.
 */
export type Series = Map<number, number>;
type Value = number | Series | Series[];

const isSeries = (v: Value): v is Series => v instanceof Map;

function combine(a: Value, b: Value, op: (x: number, y: number) => number | undefined): Value {
  if (Array.isArray(a) || Array.isArray(b)) throw new Error('metric math stand-in: arrays of series only inside MAX([...])');
  if (typeof a === 'number' && typeof b === 'number') return op(a, b) ?? NaN;
  const out: Series = new Map();
  const stamps = new Set<number>([...(isSeries(a) ? a.keys() : []), ...(isSeries(b) ? b.keys() : [])]);
  for (const t of stamps) {
    const x = typeof a === 'number' ? a : (a.get(t) ?? 0);
    const y = typeof b === 'number' ? b : (b.get(t) ?? 0);
    const r = op(x, y);
    if (r !== undefined && Number.isFinite(r)) out.set(t, r);
  }
  return out;
}

const BINARY: Record<string, (x: number, y: number) => number | undefined> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => (y === 0 ? undefined : x / y),
  '==': (x, y) => +(x === y),
  '!=': (x, y) => +(x !== y),
  '<': (x, y) => +(x < y),
  '<=': (x, y) => +(x <= y),
  '>': (x, y) => +(x > y),
  '>=': (x, y) => +(x >= y),
  AND: (x, y) => +(x !== 0 && y !== 0),
  OR: (x, y) => +(x !== 0 || y !== 0),
};

function tokenize(text: string): string[] {
  const re = /\s*(&&|\|\||==|!=|<=|>=|[-+*/<>(),[\]]|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*)/y;
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (/^\s*$/.test(text.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new Error(`metric math stand-in: cannot read "${text.slice(i)}"`);
    out.push(m[1]!);
    i = re.lastIndex;
  }
  return out;
}

/** Evaluates `expression` over the series (by query Id) already fetched. */
export function evaluate(expression: string, series: Record<string, Series>): Value {
  const tokens = tokenize(expression);
  let p = 0;
  const peek = () => tokens[p];
  const take = (want?: string) => {
    const t = tokens[p++];
    if (want !== undefined && t !== want) throw new Error(`metric math stand-in: expected ${want} in "${expression}", got ${t ?? 'the end'}`);
    return t!;
  };
  const level = (ops: string[], next: () => Value) => (): Value => {
    let v = next();
    for (;;) {
      const t = peek();
      const op = t === '&&' ? 'AND' : t === '||' ? 'OR' : t;
      if (op === undefined || !ops.includes(op)) return v;
      take();
      v = combine(v, next(), BINARY[op]!);
    }
  };
  const primary = (): Value => {
    const t = take();
    if (t === undefined) throw new Error(`metric math stand-in: expected a value in "${expression}", got the end`);
    if (t === '(') {
      const v = or();
      take(')');
      return v;
    }
    if (t === '-') return combine(0, primary(), BINARY['-']!);
    if (t === '[') {
      const items: Series[] = [];
      do {
        const v = or();
        if (!isSeries(v)) throw new Error('metric math stand-in: [...] holds time series only');
        items.push(v);
      } while (peek() === ',' && take());
      take(']');
      return items;
    }
    if (/^\d/.test(t)) return Number(t);
    if (t === 'IF' || t === 'MAX') {
      take('(');
      const args: Value[] = [or()];
      while (peek() === ',') {
        take();
        args.push(or());
      }
      take(')');
      return t === 'IF' ? ifSeries(args) : max(args);
    }
    const s = series[t];
    if (!s) throw new Error(`metric math stand-in: no query with Id ${t} (or unsupported function) in "${expression}"`);
    return s;
  };
  const mul = level(['*', '/'], primary);
  const add = level(['+', '-'], mul);
  const cmp = level(['==', '!=', '<', '<=', '>', '>='], add);
  const and = level(['AND'], cmp);
  const or = level(['OR'], and);
  const v = or();
  if (p !== tokens.length) throw new Error(`metric math stand-in: unexpected ${tokens[p]} in "${expression}"`);
  return v;
}

function ifSeries(args: Value[]): Series {
  const [cond, a, b] = args;
  if (!cond || !isSeries(cond)) throw new Error('metric math stand-in: IF needs a time series condition');
  const out: Series = new Map();
  for (const [t, c] of cond) {
    const branch = c !== 0 ? a : b;
    if (branch === undefined) continue;
    if (typeof branch === 'number') out.set(t, branch);
    else if (isSeries(branch)) {
      if (branch.has(t)) out.set(t, branch.get(t)!);
      else if (c !== 0) out.set(t, 0);
    }
  }
  return out;
}

function max(args: Value[]): Value {
  const [x] = args;
  if (Array.isArray(x)) {
    const out: Series = new Map();
    for (const s of x) for (const [t, v] of s) out.set(t, Math.max(out.get(t) ?? -Infinity, v));
    return out;
  }
  if (x && isSeries(x)) return Math.max(...x.values());
  throw new Error('metric math stand-in: MAX needs a time series or an array of them');
}
