/**
 * Deterministic env-file mutations for the fuzzer (./fuzz.test.ts). A seeded PRNG picks what to
 * mutate in the real env files (each env over envs/_base.yaml, the base itself, and each env
 * flattened into one standalone file); the same seed always gives the same cases, byte for byte.
 * Besides the random mutations, every case issue 11 and 15 name is listed explicitly.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, stringify } from 'yaml';

export interface FuzzCase {
  id: number;
  kind: string;
  /** File name → content, written into the case's own directory. */
  files: Record<string, string | Buffer>;
  /** The file given to `render --env-path` (relative to the case directory, or absolute). */
  target: string;
  /** Special files the harness creates: a FIFO, or a directory, at `target`. */
  special?: 'fifo' | 'dir';
}

/** mulberry32: small, fast, and the same sequence on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Obj = Record<string, unknown>;

const BASE = readFileSync('envs/_base.yaml', 'utf8');
const LEAVES: Record<string, string> = Object.fromEntries(['dev', 'staging', 'prod'].map((e) => [e, readFileSync(`envs/${e}.yaml`, 'utf8')]));

/** An env merged with the base by hand (maps deep, lists whole, null removes), as one standalone file. */
function flatten(leaf: string): string {
  const merge = (a: unknown, b: unknown): unknown => {
    if (!a || !b || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return b;
    const out: Obj = { ...(a as Obj) };
    for (const [k, v] of Object.entries(b as Obj)) {
      if (v === null) delete out[k];
      else out[k] = k in out ? merge(out[k], v) : v;
    }
    return out;
  };
  const data = merge(parseDocument(BASE).toJS(), parseDocument(leaf).toJS()) as Obj;
  delete data.extends;
  return stringify(data);
}
const FLAT: Record<string, string> = Object.fromEntries(Object.entries(LEAVES).map(([e, t]) => [e, flatten(t)]));

const UNICODE = ['\u202e', '\u2066', '\u200f', '\u061c', '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u200b', '\ufeff', 'é', 'ß', 'ﬁ', '𝔘', '😀', 'e\u0301', '\u2028', '中文', 'עברית', '\t', '\r'];
const YAML_CHARS = [':', '-', '[', ']', '{', '}', '"', "'", '&', '*', '!', '|', '>', '#', '%', '@', '`', '\\', '\n', ' ', ',', '?', '<<', '---', '...'];

export function generateCases(seed: number, count: number): FuzzCase[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const cases: FuzzCase[] = [];
  const add = (kind: string, files: FuzzCase['files'], target: string, special?: FuzzCase['special']) => cases.push({ id: cases.length, kind, files, target, ...(special ? { special } : {}) });
  /** A leaf env with the real base next to it. */
  const leaf = (kind: string, text: string | Buffer) => add(kind, { 'env.yaml': text, '_base.yaml': BASE }, 'env.yaml');
  const flat = (kind: string, text: string | Buffer) => add(kind, { 'env.yaml': text }, 'env.yaml');
  /** The base mutated, under a real leaf. */
  const base = (kind: string, text: string | Buffer) => add(kind, { 'env.yaml': LEAVES[pick(Object.keys(LEAVES))]!, '_base.yaml': text }, 'env.yaml');
  const env = () => pick(Object.keys(LEAVES));
  const setIn = (text: string, path: (string | number)[], value: unknown) => {
    const doc = parseDocument(text);
    doc.setIn(path, value);
    return doc.toString();
  };

  // --- Every case the issues name, explicitly. -------------------------------------------------
  const f = FLAT.dev!;
  flat('named:region-typo', setIn(f, ['account', 'region'], 'us-east-7'));
  flat('named:100-tags', setIn(f, ['tags'], Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`Tag${i}`, 'x']))));
  flat('named:10k-tags', setIn(f, ['tags'], Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`Tag${i}`, 'x']))));
  flat('named:aws-tag-key', setIn(f, ['tags', 'aws:owner'], 'x'));
  flat('named:aws-tag-value', setIn(f, ['tags', 'Owner'], 'AwS:x'));
  flat('named:nul-tag-value', f.replace('Owner: platform-foundation', 'Owner: "platform\\0foundation"'));
  flat('named:bidi-tag-value', f.replace('Owner: platform-foundation', 'Owner: "platform\\u202Efoundation"'));
  flat('named:nul-audience', f.replace('audience: catalog-api', 'audience: "catalog\\x00api"'));
  flat('named:bidi-audience-raw', f.replace('audience: catalog-api', 'audience: catalog\u2067api'));
  flat('named:misaligned-subnet', f.replace('10.10.1.0/24', '10.10.1.7/24'));
  flat('named:misaligned-vpc', f.replace('10.10.0.0/16', '10.10.3.0/16'));
  flat('named:jwks-port', f.replace('https://auth.dev.platform.example.com/.well-known', 'https://auth.dev.platform.example.com:99999999999/.well-known'));
  flat('named:port-0', f.replace('https://kb.dev.platform.example.com', 'https://kb.dev.platform.example.com:0'));
  flat('named:prefix-newline', setIn(f, ['artifacts', 'prefix'], 'catalog/dev\nrm'));
  flat('named:prefix-star', setIn(f, ['artifacts', 'prefix'], 'catalog/*'));
  flat('named:prefix-dotdot', setIn(f, ['artifacts', 'prefix'], 'catalog/../dev'));
  flat('named:invalid-utf8', Buffer.concat([Buffer.from(f.slice(0, 200)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(f.slice(200))]));
  flat('named:overlong-utf8', Buffer.concat([Buffer.from(f.replace('catalog-api', 'catalog')), Buffer.from('# '), Buffer.from([0xc0, 0xaf]), Buffer.from('\n')]));
  flat('named:surrogate-utf8', Buffer.concat([Buffer.from('# '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\n'), Buffer.from(f)]));
  flat('named:undefined-alias', f.replace('readPageLimit: 500', 'readPageLimit: *nope'));
  flat('named:alias-bomb', `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n${f}`);
  flat('named:self-alias', `x: &x [1, *x]\n${f}`);
  flat('named:10mb', `# ${'x'.repeat(10 * 1024 * 1024)}\n${f}`);
  flat('named:just-over-cap', `${f}# ${'y'.repeat(256 * 1024 - f.length)}\n`);
  flat('named:misspelled-top', f.replace(/^lambda:/m, 'lamda:'));
  flat('named:misspelled-deep', f.replace('timeoutSeconds: 20', 'timeoutSecond: 20'));
  flat('named:unquoted-version', f.replace(/engineVersion: .*/, 'engineVersion: 17.9'));
  flat('named:unclosed-quote', f.replace('audience: catalog-api', 'audience: "catalog-api'));
  base('named:unclosed-bracket', BASE.replace('[10, 50, 100]', '[10, 50, 100'));
  flat('named:deep-flow', `name: dev\ntags: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
  flat('named:deep-block', `name: dev\n${Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`);
  flat('named:proto-key', `__proto__: { polluted: 1 }\nconstructor: { prototype: { polluted: 1 } }\n${f}`);
  flat('named:multi-doc', `${f}---\nname: other\n`);
  flat('named:empty', '');
  flat('named:only-comments', '# nothing\n# here\n');
  flat('named:top-list', '- name: dev\n');
  flat('named:top-scalar', 'dev\n');
  flat('named:unknown-tag', f.replace('audience: catalog-api', 'audience: !!binary Y2F0YWxvZw=='));
  flat('valid:crlf', f.replace(/\n/g, '\r\n'));
  flat('valid:bom', `\ufeff${f}`);
  leaf('named:extends-missing', LEAVES.dev!.replace('extends: _base.yaml', 'extends: _missing.yaml'));
  add('named:extends-cycle', { 'env.yaml': LEAVES.dev!.replace('extends: _base.yaml', 'extends: _a.yaml'), '_a.yaml': 'extends: _b.yaml\n', '_b.yaml': 'extends: _a.yaml\n' }, 'env.yaml');
  add('named:extends-self', { 'env.yaml': LEAVES.dev!.replace('extends: _base.yaml', 'extends: env.yaml') }, 'env.yaml');
  add('named:extends-chain-10', { 'env.yaml': LEAVES.dev!.replace('extends: _base.yaml', 'extends: _0.yaml'), ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`_${i}.yaml`, `extends: _${i + 1}.yaml\n`])), '_10.yaml': BASE }, 'env.yaml');
  leaf('named:extends-dev-zero', LEAVES.dev!.replace('extends: _base.yaml', 'extends: /dev/zero'));
  leaf('named:extends-list', LEAVES.dev!.replace('extends: _base.yaml', 'extends: [_base.yaml]'));
  leaf('named:null-deletes-required', LEAVES.dev!.replace('name: dev', 'name: dev\napp: null'));
  add('named:fifo', {}, 'env.yaml', 'fifo');
  add('named:directory', {}, 'env.yaml', 'dir');
  add('named:dev-zero', {}, '/dev/zero');
  add('named:missing-file', {}, 'nothing-here.yaml');
  // Files that must render: the real ones, and the same bytes with CRLF line ends or a BOM.
  for (const e of Object.keys(LEAVES)) {
    leaf('real:leaf', LEAVES[e]!);
    flat('real:flat', FLAT[e]!);
  }

  // --- Random mutations. ------------------------------------------------------------------------
  const textMutations: Record<string, (t: string) => string | Buffer> = {
    'text:delete-line': (t) => lines(t, (ls) => ls.splice(int(ls.length), 1)),
    'text:duplicate-line': (t) => lines(t, (ls) => ls.splice(int(ls.length), 0, ls[int(ls.length)]!)),
    'text:swap-lines': (t) => lines(t, (ls) => {
      const [i, j] = [int(ls.length), int(ls.length)];
      [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    }),
    'text:reindent': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      ls[i] = rnd() < 0.5 ? `${' '.repeat(1 + int(3))}${ls[i]}` : ls[i]!.replace(/^ {1,2}/, '');
    }),
    'text:tab-indent': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      ls[i] = ls[i]!.replace(/^ +/, '\t');
    }),
    'text:truncate': (t) => t.slice(0, int(t.length)),
    'text:delete-char': (t) => {
      const i = int(t.length);
      return t.slice(0, i) + t.slice(i + 1);
    },
    'text:insert-yaml-char': (t) => {
      const i = int(t.length);
      return t.slice(0, i) + pick(YAML_CHARS) + t.slice(i);
    },
    'text:insert-unicode': (t) => {
      const i = int(t.length);
      return t.slice(0, i) + pick(UNICODE) + t.slice(i);
    },
    'text:invalid-byte': (t) => {
      const b = Buffer.from(t);
      const i = int(b.length);
      return Buffer.concat([b.subarray(0, i), Buffer.from([0x80 + int(0x80)]), b.subarray(i)]);
    },
    'text:unclosed-quote': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      ls[i] = ls[i]!.replace(/: (\S)/, `: ${pick(['"', "'"])}$1`);
    }),
    'text:anchor-and-alias': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      const j = int(ls.length);
      ls[i] = ls[i]!.replace(/: (\S.*)$/, ': &x $1');
      ls[j] = ls[j]!.replace(/: (\S.*)$/, ': *x');
    }),
    'text:merge-key': (t) => t.replace(/^database:\n/m, 'database:\n  <<: { multiAz: true }\n'),
    'text:tag': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      ls[i] = ls[i]!.replace(/: (\S)/, `: ${pick(['!!str', '!!int', '!!float', '!!bool', '!!null', '!!binary', '!!set', '!!omap', '!foo', '!!timestamp'])} $1`);
    }),
    'text:directive': (t) => `${pick(['%YAML 1.1', '%YAML 1.2', '%TAG ! tag:x,2024:', '%FOO bar'])}\n---\n${t}`,
    'text:huge-line': (t) => lines(t, (ls) => {
      const i = int(ls.length);
      ls[i] = ls[i]!.replace(/: (\S.*)$/, `: ${'a'.repeat(1000 + int(200_000))}`);
    }),
    'text:deep-flow': (t) => {
      const n = 10 + int(3000);
      return t.replace(/^tags:.*$/m, `tags: ${'['.repeat(n)}${']'.repeat(n)}`);
    },
    'text:alias-fanout': (t) => {
      const depth = 2 + int(5);
      const fan = 3 + int(10);
      let s = `a0: &a0 [${Array(fan).fill('x').join(', ')}]\n`;
      for (let d = 1; d < depth; d++) s += `a${d}: &a${d} [${Array(fan).fill(`*a${d - 1}`).join(', ')}]\n`;
      return `${s}${t}`;
    },
  };
  const structMutations: Record<string, (d: Obj) => void> = {
    'struct:delete-key': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent) delete parent[key];
    },
    'struct:rename-key': (d) => {
      const [parent, key] = randomEntry(d);
      if (!parent) return;
      const v = parent[key];
      delete parent[key];
      parent[typo(key)] = v;
    },
    'struct:add-key': (d) => {
      const [parent] = randomMap(d);
      parent[pick(['extra', 'Name', 'lambda', 'enabled', typo('database'), '', ' ', '0', 'aws:x', 'a'.repeat(300)])] = randomValue();
    },
    'struct:type-swap': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent) parent[key] = randomValue();
    },
    'struct:number-as-string': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent && typeof parent[key] === 'number') parent[key] = String(parent[key]);
      else if (parent && typeof parent[key] === 'string' && /^\d+(\.\d+)?$/.test(parent[key] as string)) parent[key] = Number(parent[key]);
    },
    'struct:wrap': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent) parent[key] = rnd() < 0.5 ? [parent[key]] : { value: parent[key] };
    },
    'struct:deep-nest': (d) => {
      const [parent, key] = randomEntry(d);
      if (!parent) return;
      let v: unknown = parent[key];
      for (let i = 0, n = 2 + int(60); i < n; i++) v = rnd() < 0.5 ? { a: v } : [v];
      parent[key] = v;
    },
    'struct:huge-string': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent) parent[key] = pick(['a', '/', '.', 'https://', '1', 'é', '-', '@a.']).repeat(1000 + int(60_000));
    },
    'struct:unicode-string': (d) => {
      const [parent, key] = randomEntry(d);
      if (!parent) return;
      const s = typeof parent[key] === 'string' ? (parent[key] as string) : 'value';
      const i = int(s.length + 1);
      parent[key] = s.slice(0, i) + pick(UNICODE) + s.slice(i);
    },
    'struct:edge-number': (d) => {
      const [parent, key] = randomEntry(d);
      if (parent) parent[key] = pick([0, -1, -0, 0.5, 1e308, -1e308, Infinity, -Infinity, NaN, 2 ** 53 + 1, 99999999999, 1.0000001]);
    },
    'struct:list-length': (d) => {
      const [parent, key] = randomList(d);
      if (!parent) return;
      const list = parent[key] as unknown[];
      if (rnd() < 0.5) list.length = int(list.length);
      else for (let i = 0, n = 1 + int(30); i < n; i++) list.push(list[0] ?? 'x');
    },
    'struct:aws-value': (d) => {
      const r = int(8);
      const o = d as Record<string, Record<string, unknown>>;
      if (r === 0 && o.account) o.account.region = pick(['us-east-7', 'US-EAST-1', 'eu-west', 'mars-north-1', 'us-gov-west-1', 'cn-north-1', 'aws-global', '']);
      if (r === 1) o.tags = Object.fromEntries(Array.from({ length: int(120) }, (_, i) => [`T${i}${pick(['', ':', ' x', '@', '#', 'é', 'aws:'])}`, pick(['v', '', 'aws:v', 'a'.repeat(257), 'x\u202ey', 'x\u0000'])]));
      if (r === 2 && o.network) (o.network as Obj).vpcCidr = `${int(256)}.${int(256)}.${int(256)}.${int(256)}/${int(33)}`;
      if (r === 3 && o.network) (o.network as Obj).privateSubnetCidrs = [`10.10.${int(300)}.${int(256)}/${16 + int(14)}`, `10.10.2.0/${int(40)}`];
      if (r === 4 && o.auth) (o.auth as Obj).jwksUri = `https://${pick(['a', 'a..b', '-a', 'a_b', 'xn--a', '1.2.3.4', '[::1]', 'a'.repeat(300)])}:${pick(['', '0', '65535', '65536', '99999999999', 'x'])}/${pick(['', 'p q', 'p\u202e', 'p?x#y'])}`;
      if (r === 5 && o.artifacts) (o.artifacts as Obj).prefix = pick(['', '/', 'a/', '/a', 'a//b', 'a/./b', 'a/../b', 'a*', 'a?', "a'b", 'a\nb', 'ü', 'a'.repeat(201), 'a b']);
      if (r === 6 && o.artifacts) (o.artifacts as Obj).bucket = pick(['ab', 'a'.repeat(64), 'xn--abc', 'abc-s3alias', 'a..b', '192.168.5.4', 'Abc', 'abc.mrap', 'abc--x-s3', 'sthree-abc', 'amzn-s3-demo-x']);
      if (r === 7 && o.evidenceLedger) (o.evidenceLedger as Obj).busArn = `arn:${pick(['aws', 'aws-cn', 'aws-us-gov', 'aws-x'])}:events:${pick(['us-east-1', 'cn-north-1', 'us-gov-west-1', 'us-east-7'])}:${pick(['111111111111', '1'])}:event-bus/${pick(['x', 'a b', ''])}`;
    },
  };

  while (cases.length < count) {
    const r = rnd();
    if (r < 0.45) {
      const kind = pick(Object.keys(textMutations));
      const where = int(3);
      const e = env();
      const m = textMutations[kind]!;
      if (where === 0) leaf(kind, m(LEAVES[e]!));
      else if (where === 1) flat(kind, m(FLAT[e]!));
      else base(kind, m(BASE));
    } else if (r < 0.9) {
      const kind = pick(Object.keys(structMutations));
      const where = int(3);
      const e = env();
      const src = where === 0 ? LEAVES[e]! : where === 1 ? FLAT[e]! : BASE;
      const data = parseDocument(src).toJS() as Obj;
      structMutations[kind]!(data);
      const text = stringify(data, { lineWidth: 0 });
      if (where === 0) leaf(kind, text);
      else if (where === 1) flat(kind, text);
      else base(kind, text);
    } else {
      // Several mutations stacked on one file.
      let t: string | Buffer = FLAT[env()]!;
      const kinds: string[] = [];
      for (let i = 0, n = 2 + int(4); i < n && typeof t === 'string'; i++) {
        const kind = pick(Object.keys(textMutations));
        kinds.push(kind);
        t = textMutations[kind]!(t);
      }
      flat(`stacked:${kinds.length}`, t);
    }
  }
  return cases;

  function lines(t: string, edit: (ls: string[]) => void): string {
    const ls = t.split('\n');
    edit(ls);
    return ls.join('\n');
  }
  function typo(k: string): string {
    const i = int(Math.max(1, k.length));
    switch (int(4)) {
      case 0:
        return k.slice(0, i) + k.slice(i + 1);
      case 1:
        return k.slice(0, i) + pick(['a', 'e', 'x', '_', '-']) + k.slice(i);
      case 2:
        return k.slice(0, i) + (k[i + 1] ?? '') + (k[i] ?? '') + k.slice(i + 2);
      default:
        return k.toUpperCase();
    }
  }
  function randomValue(): unknown {
    return pick<unknown>([null, true, false, 0, -5, 3.5, '', 'x', '17.9', [], {}, [1, 2], { a: 1 }, 'a'.repeat(300)]);
  }
  /** A random [parent object or list, key] somewhere in the data. */
  function randomEntry(d: Obj): [Obj | undefined, string] {
    let parent: Obj = d;
    for (;;) {
      const keys = Object.keys(parent);
      if (keys.length === 0) return [undefined, ''];
      const key = pick(keys);
      const v = parent[key];
      if (v && typeof v === 'object' && rnd() < 0.6) {
        if (Object.keys(v).length === 0) return [parent, key];
        parent = v as Obj;
        continue;
      }
      return [parent, key];
    }
  }
  function randomMap(d: Obj): [Obj] {
    let m = d;
    for (;;) {
      const subs = Object.values(m).filter((v): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v));
      if (!subs.length || rnd() < 0.4) return [m];
      m = pick(subs);
    }
  }
  function randomList(d: Obj): [Obj | undefined, string] {
    const found: [Obj, string][] = [];
    const walk = (o: Obj) => {
      for (const [k, v] of Object.entries(o)) {
        if (Array.isArray(v)) found.push([o, k]);
        else if (v && typeof v === 'object') walk(v as Obj);
      }
    };
    walk(d);
    return found.length ? pick(found) : [undefined, ''];
  }
}

/** For an assertion message: a case in a few words. */
export function describeCase(c: FuzzCase): string {
  const body = c.files[c.target];
  const size = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  return `#${c.id} ${c.kind} (${c.target}, ${size} bytes)`;
}

