/**
 * Loads envs/<env>.yaml into a frozen EnvConfig. Every problem, from an unreadable file or a syntax
 * slip to a cross-field rule, is one line naming the place (`envs/prod.yaml:14:7 api.cache.sizeGb:
 * must be one of 0.5, 1.6, …`), and all of a file's problems are reported at once, sorted by
 * position.
 *
 * `extends: <file>` (relative to the file) names a base the env only states differences from:
 * mappings merge key by key, anything else (lists, scalars) is replaced whole, and `key: null`
 * removes an inherited key. A problem is reported in whichever file holds the value. Files whose
 * name starts with `_` are bases, never envs (`--all` leaves them out). Both `.yaml` and `.yml`
 * are env files; two files for one env are an error.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserInputError } from '../errors.ts';
import { envCollisions } from './collisions.ts';
import { combineEnvErrors, EnvFileError } from './errors.ts';
import { forbiddenCharProblems, ruleProblems } from './rules.ts';
import { formatKeyPath, problemAt, readEnvSource, scalarSource, setOwn, type EnvSource, type LayerCache } from './source.ts';
import { DEFAULT_STACK_PREFIX, type EnvConfig } from './types.ts';
import { schemaProblems } from './validate-schema.ts';

export { EnvFileError, combineEnvErrors, formatProblem, type EnvProblem } from './errors.ts';
export type { ConfigPath, ConfigProblem } from './validate-schema.ts';
export { displayPath, formatKeyPath, readEnvSource, MAX_EXTENDS_DEPTH, type EnvLayer, type EnvSource } from './source.ts';

const ENV_NAME = /^[a-z][a-z0-9-]{1,15}$/;
const ENV_FILE = /^(?!_)(.+)\.ya?ml$/;

/** Validates merged settings; returns the frozen config or throws every problem at once. */
function validateSource(src: EnvSource, expectName?: string): EnvConfig {
  const { layers, data } = src;
  const chars = forbiddenCharProblems(data);
  const charPaths = new Set(chars.map((p) => formatKeyPath(p.path)));
  const checked = schemaProblems(data, (p) => scalarSource(layers, p));
  const schema = checked.problems.filter((p) => !charPaths.has(formatKeyPath(p.path)));
  const failed = [...chars.map((p) => p.path), ...checked.failed];
  const config = data as unknown as EnvConfig;
  if (config.stackPrefix === undefined) setOwn(data, 'stackPrefix', DEFAULT_STACK_PREFIX);
  const rules = ruleProblems(config, failed, expectName);
  const problems = [...chars, ...schema, ...rules].map((p) => problemAt(layers, p));
  if (problems.length) {
    const order = new Map(layers.map((l, i) => [l.shown, i]));
    problems.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.col - b.col);
    throw new EnvFileError(problems);
  }
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Parse and validate env file text. `file` names it in messages and anchors `extends`, whose
 * bases are read from disk.
 */
export function parseEnvConfig(text: string, file: string, opts: { expectName?: string } = {}): EnvConfig {
  return validateSource(readEnvSource(file, text), opts.expectName);
}

/** An env file anywhere on disk, with its bases. */
export async function loadEnvFile(path: string, opts: { expectName?: string } = {}): Promise<EnvConfig> {
  return validateSource(readEnvSource(path), opts.expectName);
}

/** `<name>` → its file in envDir; bases (`_*`) left out; two files for one env are an error. */
export async function envFiles(envDir = 'envs'): Promise<Map<string, string>> {
  let entries: string[];
  try {
    entries = await readdir(envDir);
  } catch {
    return new Map();
  }
  const files = new Map<string, string>();
  for (const f of entries.sort()) {
    const name = ENV_FILE.exec(f)?.[1];
    if (name === undefined) continue;
    const other = files.get(name);
    if (other) throw new UserInputError(`${join(envDir, other)} and ${join(envDir, f)} both define env ${name}: keep one`);
    files.set(name, f);
  }
  // Env names are [a-z0-9-]: code-point order, not localeCompare (whose first call loads ICU's collator).
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, f]) => [n, join(envDir, f)]));
}

/** Environment names with a file in envDir, sorted. */
export async function listEnvs(envDir = 'envs'): Promise<string[]> {
  return [...(await envFiles(envDir)).keys()];
}

async function envPath(name: string, envDir: string): Promise<string> {
  if (!ENV_NAME.test(name)) throw new UserInputError(`--env ${name}: not an environment name`);
  const files = await envFiles(envDir);
  const file = files.get(name);
  if (!file) throw new UserInputError(`--env ${name}: no ${join(envDir, `${name}.yaml`)} (known: ${[...files.keys()].join(', ') || 'none'})`);
  return file;
}

/** Loads envs/<name>.yaml (or .yml); the file's `name` must match. */
export async function loadEnv(name: string, opts: { envDir?: string } = {}): Promise<EnvConfig> {
  return loadEnvFile(await envPath(name, opts.envDir ?? 'envs'), { expectName: name });
}

/**
 * Loads several envs of one env dir, reporting every bad file at once, then refuses envs that
 * would act on each other's AWS resources (./collisions.ts checks them against every env in the dir).
 */
export async function loadEnvs(names: readonly string[], opts: { envDir?: string } = {}): Promise<EnvConfig[]> {
  const envDir = opts.envDir ?? 'envs';
  const paths = await Promise.all(names.map((n) => envPath(n, envDir)));
  const errors: EnvFileError[] = [];
  const loaded: { name: string; source: EnvSource; config: EnvConfig }[] = [];
  const cache: LayerCache = new Map();
  paths.forEach((path, i) => {
    try {
      const source = readEnvSource(path, undefined, cache);
      loaded.push({ name: names[i]!, source, config: validateSource(source, names[i]) });
    } catch (err) {
      if (!(err instanceof EnvFileError)) throw err;
      errors.push(err);
    }
  });
  if (errors.length) throw combineEnvErrors(errors);
  const clashes = envCollisions(loaded, await envFiles(envDir), cache);
  if (clashes.length) throw new EnvFileError(clashes);
  return loaded.map((l) => l.config);
}

