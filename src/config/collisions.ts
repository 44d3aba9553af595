/**
 * Envs of one env dir must never act on each other's AWS resources:
 * - the same account, region and stackPrefix means the same five stack names, so one env's deploy,
 *   diff, status or rollback would act on the other's stacks;
 * - the same artifact bucket with the same (or a nested) key prefix means shared release manifests
 *   (`<prefix>/releases/`, `latest.json`) and one release lock (`<prefix>/release.lock`): a rollback
 *   of one env would read the other's history, and their releases would block each other.
 * Envs that are not being loaded are read leniently (merged YAML, no validation) just for these
 * keys; one that cannot be read is skipped here and reported when it is loaded itself.
 */
import type { EnvProblem } from './errors.ts';
import { isObj, problemAt, readEnvSource, type EnvSource, type LayerCache } from './source.ts';
import { DEFAULT_STACK_PREFIX, type EnvConfig } from './types.ts';

interface Identity {
  name: string;
  source: EnvSource;
  account?: string;
  region?: string;
  stackPrefix: string;
  bucket?: string;
  prefix?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function identity(name: string, source: EnvSource): Identity {
  const d = source.data;
  const account = isObj(d.account) ? d.account : {};
  const artifacts = isObj(d.artifacts) ? d.artifacts : {};
  return {
    name,
    source,
    account: str(account.id),
    region: str(account.region),
    stackPrefix: str(d.stackPrefix) ?? DEFAULT_STACK_PREFIX,
    bucket: str(artifacts.bucket),
    prefix: str(artifacts.prefix)?.replace(/\/+$/, ''),
  };
}

/** `a` equals `b` or one is a folder of the other (`catalog` and `catalog/dev`). */
const nested = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/**
 * Problems for every pair of envs (at least one of them loaded) that would share stacks or an
 * artifact prefix; each names both files and the key, at the later env's file.
 */
export function envCollisions(loaded: readonly { name: string; source: EnvSource; config: EnvConfig }[], files: ReadonlyMap<string, string>, cache?: LayerCache): EnvProblem[] {
  const ids = loaded.map((l) => identity(l.name, l.source));
  const selected = new Set(ids.map((i) => i.name));
  for (const [name, path] of files) {
    if (selected.has(name)) continue;
    try {
      ids.push(identity(name, readEnvSource(path, undefined, cache)));
    } catch {
      // Unreadable or broken: that env reports its own problems when it is rendered or validated.
    }
  }
  ids.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // [a-z0-9-]: no collator needed
  const out: EnvProblem[] = [];
  for (let j = 0; j < ids.length; j++) {
    for (let i = 0; i < j; i++) {
      const [a, b] = [ids[i]!, ids[j]!];
      if (!selected.has(a.name) && !selected.has(b.name)) continue;
      const other = a.source.layers[0]!.shown;
      if (a.account && a.account === b.account && a.region && a.region === b.region && a.stackPrefix === b.stackPrefix) {
        const key = b.source.layers.some((l) => 'stackPrefix' in l.data) ? ['stackPrefix'] : ['account', 'id'];
        out.push(
          problemAt(b.source.layers, {
            path: key,
            message: `same account ${b.account}, region ${b.region} and stackPrefix ${b.stackPrefix} as ${other}: both would use the stacks ${b.stackPrefix}-network, …; give one env its own stackPrefix`,
          }),
        );
      }
      if (a.bucket && a.bucket === b.bucket && a.prefix && b.prefix && nested(a.prefix, b.prefix)) {
        out.push(
          problemAt(b.source.layers, {
            path: ['artifacts', 'prefix'],
            message: `${a.prefix === b.prefix ? 'same' : 'nested'} artifact prefix as ${other} (s3://${a.bucket}/${a.prefix}): release manifests and the release lock live there; give each env its own prefix`,
          }),
        );
      }
    }
  }
  return out;
}
