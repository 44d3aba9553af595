/**
 * Runs the env-file JSON Schema and turns every error into a problem at a key path, in words: the
 * validator is ajv "standalone" code generated at build time with `allErrors`
 * (scripts/gen-env-validator.mjs → env-schema.validator.js), so the CLI never loads or compiles ajv
 * at start-up. The schema object itself (for allowed keys and `x-hint`s) is built only when there
 * is an error to explain.
 */
import validate, { awsRegions } from './env-schema.validator.js';
import { envSchemaFor, type AwsRegion } from './schema.ts';
import { closest } from './suggest.ts';

export type ConfigPath = readonly (string | number)[];

export interface ConfigProblem {
  path: ConfigPath;
  message: string;
  /** Point at the key itself (default) or at its value. */
  at?: 'key' | 'value';
  /** The key whose value is wrong when it is not `path` (a missing key: `path` is its parent). */
  subject?: ConfigPath;
}

/** The regions the validator was generated with (AWS SDK partition metadata). */
export const AWS_REGIONS: readonly AwsRegion[] = awsRegions;

type Json = Record<string, unknown>;
let schemaCache: Json | undefined;
const schema = (): Json => (schemaCache ??= envSchemaFor(AWS_REGIONS) as unknown as Json);

/** The subschema an ajv `schemaPath` (`#/properties/a/items/pattern`) points into, minus its keyword. */
function subschema(schemaPath: string): Json | undefined {
  const segs = schemaPath.replace(/^#\/?/, '').split('/').slice(0, -1);
  let node: unknown = schema();
  for (const s of segs) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Json)[s.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node && typeof node === 'object' ? (node as Json) : undefined;
}

/** Path segments of an ajv instancePath, numbers where the data holds a list. */
function toPath(instancePath: string, data: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  let node = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node && typeof node === 'object' ? (node as Json)[seg] : undefined;
    }
  }
  return out;
}

function valueAt(data: unknown, path: ConfigPath): unknown {
  let node = data;
  for (const seg of path) node = node && typeof node === 'object' ? (node as Json)[seg as string] : undefined;
  return node;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  object: 'a mapping (key: value)',
  array: 'a list',
  null: 'empty',
};

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Every schema problem of `data`, one per place, in words. `scalarSource` gives the YAML text of
 * the scalar at a path (`17.90` as written, not the number 17.9), for the hint to quote it.
 */
export function schemaProblems(data: unknown, scalarSource: (path: ConfigPath) => string | undefined): { problems: ConfigProblem[]; failed: ConfigPath[] } {
  if (validate(data)) return { problems: [], failed: [] };
  const errors = validate.errors ?? [];
  const mode = valueAt(data, ['network', 'mode']);
  const problems: (ConfigProblem & { suggests?: string; missing?: string })[] = [];
  for (const e of errors) {
    if (e.keyword === 'if' || e.keyword === 'propertyNames' || e.keyword === 'allOf') continue;
    // With an unknown network.mode only the mode is wrong; the branch for the other mode is noise.
    if (/^#\/properties\/network\/(then|else)\//.test(e.schemaPath) && mode !== 'create' && mode !== 'adopt') continue;
    const path = toPath(e.instancePath, data);
    const params = e.params;
    const sub = subschema(e.schemaPath);
    const hint = typeof sub?.['x-hint'] === 'string' ? (sub['x-hint'] as string) : undefined;
    const value = valueAt(data, path);
    const quoteHint = (candidates?: readonly unknown[]): string | undefined => {
      if (typeof value !== 'number' && typeof value !== 'boolean') return undefined;
      const src = scalarSource(path) ?? String(value);
      if (candidates && !candidates.includes(src)) return undefined;
      return `must be a string: quote it (${JSON.stringify(src)})`;
    };
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(params.additionalProperty);
        const allowed = Object.keys((sub?.properties as Json | undefined) ?? {});
        // A typo usually stands where the key it misspells is missing: prefer those.
        const here = value && typeof value === 'object' ? (value as Json) : {};
        const guess = closest(key, allowed.filter((k) => !Object.prototype.hasOwnProperty.call(here, k))) ?? closest(key, allowed);
        const message = guess ? `unknown key (did you mean ${guess}?)` : allowed.length ? `unknown key (allowed: ${allowed.join(', ')})` : 'unknown key';
        problems.push({ path: [...path, key], message, suggests: guess });
        break;
      }
      case 'required':
        problems.push({ path, message: `missing required key ${String(params.missingProperty)}`, missing: String(params.missingProperty), subject: [...path, String(params.missingProperty)] });
        break;
      case 'type': {
        const want = String(params.type);
        const message = (want.split(',').includes('string') && quoteHint()) || `must be ${want.split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`;
        problems.push({ path, message, at: 'key' });
        break;
      }
      case 'enum': {
        const allowed = params.allowedValues as unknown[];
        const quoted = quoteHint(allowed);
        if (quoted) problems.push({ path, message: quoted });
        else if (allowed.length > 25) {
          const guess = typeof value === 'string' ? closest(value, allowed.map(String)) : undefined;
          const examples = allowed.slice(0, 3).map(show).join(', ');
          problems.push({ path, message: `${hint ?? `is not one of the ${allowed.length} accepted values`} (${guess ? `did you mean ${guess}?` : `e.g. ${examples}, …`})` });
        } else problems.push({ path, message: `must be one of ${allowed.map(show).join(', ')}` });
        break;
      }
      case 'const':
        problems.push({ path, message: `must be ${show(params.allowedValue)}` });
        break;
      case 'pattern':
      case 'not': {
        // Inside propertyNames, ajv names the offending key in the error's propertyName.
        const name = e.propertyName ?? params.propertyName;
        const at = name === undefined ? path : [...path, String(name)];
        problems.push({ path: at, message: hint ?? (e.keyword === 'not' ? 'is a reserved value' : `must match ${String(params.pattern)}`) });
        break;
      }
      case 'maxProperties':
        problems.push({ path, message: hint ?? `must have at most ${String(params.limit)} keys` });
        break;
      case 'maxLength':
        problems.push({ path, message: `must be at most ${String(params.limit)} characters` });
        break;
      case 'minLength':
        problems.push({ path, message: `must be at least ${String(params.limit)} character(s)` });
        break;
      case 'uniqueItems':
        problems.push({ path, message: `must not repeat an item (items ${String(params.j)} and ${String(params.i)} are the same)` });
        break;
      default:
        problems.push({ path, message: e.message ?? 'is invalid' });
    }
  }
  // `lamda:` is one mistake: say "did you mean lambda?" there, not also "missing lambda" at its parent.
  const suggested = new Set(problems.filter((p) => p.suggests).map((p) => `${p.path.slice(0, -1).join('\u0000')}\u0000${p.suggests}`));
  const seen = new Set<string>();
  // Every key found wrong, including a missing one whose report the typo replaced: rules must not read them.
  const failed = problems.map((p) => p.subject ?? p.path);
  const shown = problems
    .filter((p) => !(p.missing && suggested.has(`${p.path.join('\u0000')}\u0000${p.missing}`)))
    .filter((p) => {
      const k = `${p.path.join('\u0000')}\u0001${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .map(({ suggests: _s, missing: _m, ...p }) => p);
  return { problems: shown, failed };
}
