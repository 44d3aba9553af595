/**
 * render: env files → canonical JSON on disk. Every env asked for is loaded and validated before
 * anything is written, so a bad file leaves the output untouched; each file is written atomically.
 */
import { readFile, readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { listEnvs, loadEnv, loadEnvFile } from '../config/load.ts';
import type { EnvConfig } from '../config/types.ts';
import { UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { renderEnvironment } from '../templates/index.ts';
import { atomicWrite } from '../util/atomic-write.ts';
import { canonicalJson } from '../util/canonical-json.ts';

export interface EnvSelection {
  env?: string;
  all?: boolean;
  envFile?: string;
  envDir?: string;
}

/** Loads the selected env files; throws on the first bad one, before anything is rendered. */
export async function loadSelected(sel: EnvSelection): Promise<EnvConfig[]> {
  const chosen = [sel.env !== undefined, sel.all === true, sel.envFile !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new UserInputError('choose exactly one of --env <name>, --all, --env-file <path>');
  const envDir = sel.envDir ?? 'envs';
  if (sel.envFile) return [await loadEnvFile(sel.envFile)];
  if (sel.env) return [await loadEnv(sel.env, { envDir })];
  const names = await listEnvs(envDir);
  if (names.length === 0) throw new UserInputError(`--all: no env files in ${envDir}/`);
  return Promise.all(names.map((n) => loadEnv(n, { envDir })));
}

/** File name → exact bytes, for one env. Pure. */
export function renderFiles(config: EnvConfig): Map<string, string> {
  const rendered = renderEnvironment(config) as Record<string, unknown>;
  return new Map(Object.keys(rendered).sort().map((name) => [name, canonicalJson(rendered[name])]));
}

export interface RenderResult {
  env: string;
  dir: string;
  written: string[];
  unchanged: string[];
}

export async function renderToDisk(configs: EnvConfig[], outDir: string, reporter: Reporter): Promise<RenderResult[]> {
  // Render everything in memory first: a builder failure must not leave half an env on disk.
  const all = configs.map((c) => ({ config: c, files: renderFiles(c) }));
  const results: RenderResult[] = [];
  for (const { config, files } of all) {
    const dir = join(outDir, config.name);
    const result: RenderResult = { env: config.name, dir, written: [], unchanged: [] };
    for (const [name, bytes] of files) {
      const path = join(dir, name);
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current === bytes) {
        result.unchanged.push(name);
        continue;
      }
      await atomicWrite(path, bytes);
      result.written.push(name);
    }
    reporter.report({
      level: 'ok',
      topic: 'render',
      message: `${config.name}: ${result.written.length} written, ${result.unchanged.length} unchanged → ${dir}`,
      data: { ...result },
    });
    results.push(result);
  }
  return results;
}

export interface StaleFile {
  env: string;
  file: string;
  kind: 'changed' | 'missing' | 'extra';
  diff: string;
}

/** Compares what render would write with what is on disk; writes nothing. */
export async function checkRendered(configs: EnvConfig[], outDir: string): Promise<StaleFile[]> {
  const stale: StaleFile[] = [];
  for (const config of configs) {
    const dir = join(outDir, config.name);
    const files = renderFiles(config);
    for (const [name, bytes] of files) {
      const path = join(dir, name);
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current === undefined) {
        stale.push({ env: config.name, file: path, kind: 'missing', diff: `missing: ${path}\n` });
      } else if (current !== bytes) {
        stale.push({ env: config.name, file: path, kind: 'changed', diff: unifiedDiff(path, current, bytes) });
      }
    }
    const present = await readdir(dir).catch(() => [] as string[]);
    for (const name of present.filter((f) => f.endsWith('.json') && !files.has(f)).sort()) {
      stale.push({ env: config.name, file: join(dir, name), kind: 'extra', diff: `extra: ${join(dir, name)} (render no longer produces it)\n` });
    }
  }
  return stale;
}

/** A git-style unified diff (on disk → what render gives), without jsdiff's `====` banner. */
function unifiedDiff(path: string, current: string, rendered: string): string {
  const [a, b] = isAbsolute(path) ? [path, path] : [`a/${path}`, `b/${path}`];
  return createTwoFilesPatch(a, b, current, rendered, 'on disk', 'rendered', { context: 3 }).replace(/^(Index: .*\n)?=+\n/, '');
}
