/**
 * An env's files as read: the env file first, then the bases it `extends`, each parsed with
 * positions, and their settings merged. Problems found later at a key path are located here in
 * whichever file holds the value.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import { EnvFileError, type EnvProblem } from './errors.ts';
import { decodeEnvText, readEnvBytes } from './read.ts';
import type { ConfigPath, ConfigProblem } from './validate-schema.ts';
import { linePos, parseYaml, type ParsedYaml } from './yaml.ts';

/** How many bases one env may stack (`extends` of an `extends` …). */
export const MAX_EXTENDS_DEPTH = 8;

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export function formatKeyPath(path: ConfigPath): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** One file of an env: the env itself first, then its bases. */
export interface EnvLayer {
  /** The path as given or resolved (for reading and for `extends` relative to it). */
  path: string;
  shown: string;
  yaml: ParsedYaml;
  /** The file's settings without `extends`. */
  data: Record<string, unknown>;
}

/** An env's files and their merged settings, before validation. */
export interface EnvSource {
  layers: EnvLayer[];
  data: Record<string, unknown>;
}

type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sets an own property even for `__proto__`, which plain assignment would treat as the prototype. */
export function setOwn(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Mappings merge key by key (base order first, then new keys); `null` removes a key the base has; the rest replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over;
  const out: Obj = {};
  for (const [k, v] of Object.entries(base)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(over)) {
    const inherited = Object.prototype.hasOwnProperty.call(base, k);
    if (v === null && inherited) delete out[k];
    else setOwn(out, k, inherited ? merge(base[k], v) : v);
  }
  return out;
}

/** The key and value nodes at `path`, or undefined when the file does not hold that path. */
function nodeAt(doc: Document, path: ConfigPath): { key?: YamlNode; value: YamlNode | null } | undefined {
  let node: unknown = doc.contents;
  let found: { key?: YamlNode; value: YamlNode | null } = { value: node as YamlNode | null };
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return undefined;
      found = { key: pair.key as YamlNode, value: pair.value as YamlNode | null };
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) return undefined;
      found = { value: item };
      node = item;
    } else {
      return undefined;
    }
  }
  return found;
}

/** Where a problem at `path` is reported: the deepest part of the path any file holds, the env's own file first. */
function locate(layers: readonly EnvLayer[], path: ConfigPath, at: 'key' | 'value'): { layer: EnvLayer; line: number; col: number } {
  for (let len = path.length; len >= 0; len--) {
    for (const layer of layers) {
      const hit = nodeAt(layer.yaml.doc, path.slice(0, len));
      if (!hit) continue;
      const node = (len === path.length && at === 'value' ? hit.value : undefined) ?? hit.key ?? hit.value;
      const offset = node?.range?.[0] ?? 0;
      return { layer, ...linePos(layer.yaml.lineCounter, layer.yaml.text, offset) };
    }
  }
  return { layer: layers[0]!, line: 1, col: 1 };
}

/** The YAML source of the scalar at `path` in whichever file holds it (`17.90`, not 17.9). */
export function scalarSource(layers: readonly EnvLayer[], path: ConfigPath): string | undefined {
  for (const layer of layers) {
    const hit = nodeAt(layer.yaml.doc, path);
    if (!hit) continue;
    const range = hit.value?.range;
    return isScalar(hit.value) && range ? layer.yaml.text.slice(range[0], range[1]).trim() : undefined;
  }
  return undefined;
}

export function problemAt(layers: readonly EnvLayer[], p: ConfigProblem): EnvProblem {
  const { layer, line, col } = locate(layers, p.path, p.at ?? 'key');
  return { file: layer.shown, line, col, keyPath: formatKeyPath(p.path), detail: p.message };
}

/**
 * Files parsed during one load of several envs, by absolute path: envs sharing a base parse it
 * once. Only for one batch: a later load must see later edits.
 */
export type LayerCache = Map<string, EnvLayer | EnvFileError>;

function readLayer(path: string, text: string | undefined, cache: LayerCache | undefined): EnvLayer {
  const key = resolve(path);
  const hit = text === undefined ? cache?.get(key) : undefined;
  if (hit instanceof EnvFileError) throw hit;
  if (hit) return hit;
  const shown = displayPath(path);
  try {
    const yaml = parseYaml(text ?? decodeEnvText(readEnvBytes(path, shown), shown), shown);
    if (!isObj(yaml.data)) {
      const offset = (yaml.doc.contents as YamlNode | null)?.range?.[0] ?? 0;
      const { line, col } = linePos(yaml.lineCounter, yaml.text, offset);
      throw EnvFileError.at(shown, line, col, '', 'must be a YAML mapping of settings');
    }
    const data: Obj = {};
    for (const [k, v] of Object.entries(yaml.data)) if (k !== 'extends') setOwn(data, k, v);
    const layer: EnvLayer = { path, shown, yaml, data };
    if (text === undefined) cache?.set(key, layer);
    return layer;
  } catch (err) {
    if (err instanceof EnvFileError && text === undefined) cache?.set(key, err);
    throw err;
  }
}

/** Reads one file (and, through `extends`, its bases); `text` replaces reading the first one. */
function readLayers(path: string, text: string | undefined, chain: readonly string[], cache: LayerCache | undefined): EnvLayer[] {
  const layer = readLayer(path, text, cache);
  const yaml = layer.yaml as ParsedYaml & { data: Obj };
  if (!Object.prototype.hasOwnProperty.call(yaml.data, 'extends')) return [layer];

  const ext = yaml.data.extends;
  const here = [layer];
  const fail = (detail: string): never => {
    throw new EnvFileError([problemAt(here, { path: ['extends'], message: detail, at: 'value' })]);
  };
  if (typeof ext !== 'string' || ext.trim() === '') fail('must be the path of a base env file, relative to this file');
  const base = resolve(dirname(path), ext as string);
  const seen = [...chain, resolve(path)];
  if (seen.includes(base)) fail(`extends cycle: ${[...seen, base].map(displayPath).join(' → ')}`);
  if (seen.length > MAX_EXTENDS_DEPTH) fail(`more than ${MAX_EXTENDS_DEPTH} levels of extends`);
  try {
    return [layer, ...readLayers(base, undefined, seen, cache)];
  } catch (err) {
    // A base that cannot be read at all is reported where it is named.
    if (err instanceof EnvFileError && err.problems.length === 1 && err.line === 0 && err.file === displayPath(base)) fail(`${err.file}: ${err.detail}`);
    throw err;
  }
}

/** An env file and its bases, merged, not yet validated. Throws EnvFileError for unreadable files and YAML problems. */
export function readEnvSource(path: string, text?: string, cache?: LayerCache): EnvSource {
  const layers = readLayers(path, text, [], cache);
  // Always a fresh top-level object: layers may be shared through the cache and are never changed.
  const data = layers.reduceRight<unknown>((acc, l) => merge(acc, l.data), {}) as Obj;
  return { layers, data };
}

