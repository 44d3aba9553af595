/**
 * render: env files → canonical JSON on disk. Every env asked for is loaded and validated before
 * anything is written, so a bad file leaves the output untouched; each file is written atomically.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { listEnvs, loadEnvFile, loadEnvs } from '../config/load.ts';
import type { EnvConfig } from '../config/types.ts';
import { UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';
import { buildTemplates } from '../templates/index.ts';
import { atomicWrite } from '../util/atomic-write.ts';
import { canonicalJson } from '../util/canonical-json.ts';

export interface EnvSelection {
  env?: string;
  all?: boolean;
  /** An env file anywhere on disk (`--env-path`). */
  envPath?: string;
  envDir?: string;
}

/**
 * Loads the selected env files, reporting every problem of every bad one, before anything is
 * rendered. `--env` and `--all` also refuse envs of the env dir that would share stacks or an
 * artifact prefix; `--env-path` loads one file on its own.
 */
export async function loadSelected(sel: EnvSelection): Promise<EnvConfig[]> {
  const chosen = [sel.env !== undefined, sel.all === true, sel.envPath !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new UserInputError('choose exactly one of --env <name>, --all, --env-path <path>');
  const envDir = sel.envDir ?? 'envs';
  if (sel.envPath !== undefined) return [await loadEnvFile(sel.envPath)];
  if (sel.env !== undefined) return loadEnvs([sel.env], { envDir });
  const names = await listEnvs(envDir);
  if (names.length === 0) throw new UserInputError(`--all: no env files in ${envDir}/`);
  return loadEnvs(names, { envDir });
}

/**
 * `--out` must lead to directories: the nearest existing ancestor of each env's output directory is
 * checked before anything is written, so `--out some-file/x` is bad input, not a half-written tree.
 */
export async function checkOutDir(outDir: string, envs: readonly string[]): Promise<void> {
  for (const env of envs) {
    for (let dir = join(outDir, env); ; dir = dirname(dir)) {
      const st = await stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : err));
      if (st instanceof Error) {
        if ((st as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw new UserInputError(`--out ${outDir}: cannot use ${dir} (${(st as NodeJS.ErrnoException).code ?? st.message})`);
      }
      if (st && !st.isDirectory()) throw new UserInputError(`--out ${outDir}: ${dir} is not a directory`);
      if (st || dirname(dir) === dir) break;
    }
  }
}

/** File name → exact bytes, for one env. Pure. (canonicalJson serialises the typed templates itself.) */
export function renderFiles(config: EnvConfig): Map<string, string> {
  const rendered = buildTemplates(config) as Record<string, unknown>;
  return new Map(Object.keys(rendered).sort().map((name) => [name, canonicalJson(rendered[name])]));
}

export interface RenderResult {
  env: string;
  dir: string;
  written: string[];
  unchanged: string[];
}

const OUT_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOSPC', 'EDQUOT', 'ENAMETOOLONG']);

export async function renderToDisk(configs: EnvConfig[], outDir: string, reporter: Reporter): Promise<RenderResult[]> {
  // Render everything in memory first: a builder failure must not leave half an env on disk.
  const all = configs.map((c) => ({ config: c, files: renderFiles(c) }));
  await checkOutDir(outDir, configs.map((c) => c.name));
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
      await atomicWrite(path, bytes).catch((err: NodeJS.ErrnoException) => {
        // Where the output goes is the user's choice: an unwritable place is bad input.
        if (err.code && OUT_ERRORS.has(err.code)) throw new UserInputError(`--out ${outDir}: cannot write ${path} (${err.code})`);
        throw err;
      });
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
  await checkOutDir(outDir, configs.map((c) => c.name));
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
