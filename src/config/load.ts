/**
 * Loads envs/<env>.yaml into a frozen EnvConfig. YAML is parsed with a line counter so every
 * error, from a syntax slip to a cross-field rule, is reported as one line naming the place:
 * `envs/prod.yaml:14:7 api.cache.sizeGb: must be one of 0.5, 1.6, …`.
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, join, relative, isAbsolute } from 'node:path';
import { isMap, isSeq, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { UserInputError } from '../errors.ts';
import { validateEnvSchema, type SchemaError } from './validate-schema.ts';
import { DEFAULT_STACK_PREFIX, type EnvConfig } from './types.ts';

export type ConfigPath = readonly (string | number)[];

export interface ConfigProblem {
  path: ConfigPath;
  message: string;
  /** Point at the key itself (default) or at its value. */
  at?: 'key' | 'value';
}

/** Bad input in an env file: carries the location and the dotted key path for tests and reports. */
export class EnvFileError extends UserInputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly keyPath: string,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col} ${keyPath ? `${keyPath}: ` : ''}${detail}`);
  }
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export function formatKeyPath(path: ConfigPath): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** Offset of the key (or value) at `path`; the deepest existing ancestor when the path is missing. */
function locate(doc: Document, path: ConfigPath, at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return offset;
      const key = pair.key as YamlNode;
      const value = pair.value as YamlNode | null;
      offset = key.range?.[0] ?? offset;
      if (at === 'value' && seg === path[path.length - 1] && value?.range) offset = value.range[0];
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

/** Parse and validate env file text. `file` is only used in messages. */
export function parseEnvConfig(text: string, file: string, opts: { expectName?: string } = {}): EnvConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const shown = displayPath(file);
  const fail = (path: ConfigPath, message: string, at: 'key' | 'value' = 'key'): never => {
    const pos = lineCounter.linePos(locate(doc, path, at));
    throw new EnvFileError(shown, pos.line, pos.col, formatKeyPath(path), message);
  };

  const syntax = doc.errors[0];
  if (syntax) {
    const pos = syntax.linePos?.[0] ?? lineCounter.linePos(syntax.pos[0]);
    const first = syntax.message.split('\n')[0] ?? syntax.message;
    throw new EnvFileError(shown, pos.line, pos.col, '', `YAML: ${first.replace(/ at line \d+, column \d+.*$/, '')}`);
  }
  const data: unknown = doc.toJS({ maxAliasCount: 50 });
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new EnvFileError(shown, 1, 1, '', 'must be a YAML mapping of settings');
  }

  const schemaError = validateEnvSchema(data);
  if (schemaError) {
    const p = problemFromSchema(schemaError);
    fail(p.path, p.message, p.at);
  }
  const config = data as EnvConfig;
  config.stackPrefix ??= DEFAULT_STACK_PREFIX;
  const crossField = crossFieldProblems(config, opts.expectName);
  if (crossField[0]) fail(crossField[0].path, crossField[0].message, crossField[0].at);
  return deepFreeze(config);
}

function problemFromSchema(e: SchemaError): ConfigProblem {
  const path: (string | number)[] = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = e.allowed?.length ? ` (allowed: ${e.allowed.join(', ')})` : '';
      return { path: [...path, String(params.additionalProperty)], message: `unknown key${allowed}` };
    }
    case 'required':
      return { path, message: `missing required key ${String(params.missingProperty)}` };
    case 'enum':
      return { path, message: `must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}` };
    case 'const':
      return { path, message: `must be ${String(params.allowedValue)}` };
    case 'pattern':
      return { path, message: `${e.patternHint ?? 'has an invalid format'}`, at: 'key' };
    case 'not':
      return { path, message: 'is a reserved value' };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

function ipv4(cidr: string): { base: number; bits: number } {
  const [addr, bits] = cidr.split('/');
  const base = (addr ?? '').split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return { base, bits: Number(bits) };
}

function cidrRange(cidr: string): [number, number] {
  const { base, bits } = ipv4(cidr);
  const size = 2 ** (32 - bits);
  const start = base - (base % size);
  return [start, start + size - 1];
}

/** Rules that span several keys; each names the key to fix. */
export function crossFieldProblems(c: EnvConfig, expectName?: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (expectName !== undefined && c.name !== expectName) {
    out.push({ path: ['name'], message: `must be ${expectName} to match the file name`, at: 'value' });
  }
  const net = c.network;
  if (net.mode === 'create') {
    const [vs, ve] = cidrRange(net.vpcCidr);
    const ranges = net.privateSubnetCidrs.map(cidrRange);
    ranges.forEach(([s, e], i) => {
      if (s < vs || e > ve) out.push({ path: ['network', 'privateSubnetCidrs', i], message: `must lie inside vpcCidr ${net.vpcCidr}` });
    });
    const [a, b] = ranges;
    if (a && b && a[0] <= b[1] && b[0] <= a[1]) out.push({ path: ['network', 'privateSubnetCidrs', 1], message: 'must not overlap the first subnet' });
  }
  if (c.database.maxAllocatedStorageGb < c.database.allocatedStorageGb) {
    out.push({ path: ['database', 'maxAllocatedStorageGb'], message: `must be >= allocatedStorageGb (${c.database.allocatedStorageGb})` });
  }
  if (c.api.cache.enabled && c.api.cache.sizeGb === undefined) {
    out.push({ path: ['api', 'cache', 'enabled'], message: 'cache enabled but sizeGb is missing' });
  }
  if (!c.api.cache.enabled && c.api.cache.sizeGb !== undefined) {
    out.push({ path: ['api', 'cache', 'sizeGb'], message: 'set while the cache is disabled; remove it or enable the cache' });
  }
  const seen = new Set<string>();
  c.api.throttling.routes.forEach((r, i) => {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) out.push({ path: ['api', 'throttling', 'routes', i], message: `duplicate override for ${key}` });
    seen.add(key);
    if (r.burstLimit > c.api.throttling.burstLimit * 10) out.push({ path: ['api', 'throttling', 'routes', i, 'burstLimit'], message: 'must not exceed 10× the stage burst limit' });
  });
  if (c.lambda.provisionedConcurrency > c.lambda.accountConcurrencyLimit) {
    out.push({ path: ['lambda', 'provisionedConcurrency'], message: `must be <= accountConcurrencyLimit (${c.lambda.accountConcurrencyLimit})` });
  }
  const steps = c.release.trafficSteps;
  steps.forEach((s, i) => {
    if (i > 0 && s <= (steps[i - 1] ?? 0)) out.push({ path: ['release', 'trafficSteps', i], message: 'traffic steps must be strictly increasing' });
  });
  if (steps[steps.length - 1] !== 100) out.push({ path: ['release', 'trafficSteps'], message: 'the last traffic step must be 100' });
  if (c.poller.backoff && c.poller.backoff.maxIntervalSeconds < c.poller.intervalSeconds) {
    out.push({ path: ['poller', 'backoff', 'maxIntervalSeconds'], message: `must be >= poller.intervalSeconds (${c.poller.intervalSeconds})` });
  }
  if (c.database.appUsername === c.database.masterUsername) {
    out.push({ path: ['database', 'appUsername'], message: 'must differ from masterUsername (the app user is least-privilege)' });
  }
  if (c.name === 'prod') {
    if (!c.database.multiAz) out.push({ path: ['database', 'multiAz'], message: 'must be true for prod' });
    if (!c.database.deletionProtection) out.push({ path: ['database', 'deletionProtection'], message: 'must be true for prod' });
    if (!c.release.requireApproval) out.push({ path: ['release', 'requireApproval'], message: 'must be true for prod' });
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export async function loadEnvFile(path: string, opts: { expectName?: string } = {}): Promise<EnvConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserInputError(`${displayPath(path)}: cannot read env file (${code ?? (err as Error).message})`);
  }
  return parseEnvConfig(text, path, opts);
}

/** Loads envs/<name>.yaml; the file's `name` must match. */
export async function loadEnv(name: string, opts: { envDir?: string } = {}): Promise<EnvConfig> {
  const envDir = opts.envDir ?? 'envs';
  if (!/^[a-z][a-z0-9-]{1,15}$/.test(name)) throw new UserInputError(`--env ${name}: not an environment name`);
  const known = await listEnvs(envDir);
  if (!known.includes(name)) {
    throw new UserInputError(`--env ${name}: no ${join(envDir, `${name}.yaml`)} (known: ${known.join(', ') || 'none'})`);
  }
  return loadEnvFile(join(envDir, `${name}.yaml`), { expectName: name });
}

/** Environment names with a file in envDir, sorted. */
export async function listEnvs(envDir = 'envs'): Promise<string[]> {
  try {
    return (await readdir(envDir))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => basename(f, '.yaml'))
      .sort();
  } catch {
    return [];
  }
}
