/**
 * What `catalogctl validate` runs: load every env file asked for (schema, cross-field rules, and
 * envs of the dir that would share stacks or an artifact prefix), render each in memory, and hand
 * everything to `validateRendered`. A bad env file is bad input (exit 2, every problem of every
 * file listed), as it is for render and every other command that loads one: the checkers only run
 * on envs that load. The builders come in as a `Renderer` (./templates.ts wires the real ones), so
 * this module loads no template code itself.
 */
import { join } from 'node:path';
import { listEnvs, loadEnvs } from '../config/load.ts';
import type { EnvConfig } from '../config/types.ts';
import { UserInputError } from '../errors.ts';
import type { Finding, RenderedFiles, Suppression } from './report.ts';
import { plainFiles, STATE_MACHINE_FILE, validateRendered, type EnvInput, type ValidateOptions, type ValidationReport } from './index.ts';
import { collectSuppressions, suppressionsMarkdown } from './suppressions.ts';

/** The template side of validation: rendering, and the templates' own invariants. */
export interface Renderer {
  render(config: EnvConfig): RenderedFiles;
  invariants(env: EnvInput): Finding[];
}

export interface ValidateEnvsOptions extends Omit<ValidateOptions, 'preFindings' | 'extraEnvNames' | 'invariants'> {
  envDir?: string;
}

/** Names of the envs to validate: the ones asked for (each must exist), or all of them. */
export async function resolveEnvNames(selection: { envs?: readonly string[]; all?: boolean }, envDir = 'envs'): Promise<string[]> {
  const known = [...(await listEnvs(envDir))];
  if (selection.all) {
    if (known.length === 0) throw new UserInputError(`${envDir}: no env files found`);
    return known;
  }
  const wanted = selection.envs ?? [];
  if (wanted.length === 0) throw new UserInputError('give --env <name> (repeatable) or --all');
  for (const name of wanted) {
    if (!known.includes(name)) throw new UserInputError(`--env ${name}: no ${join(envDir, `${name}.yaml`)}; known envs: ${known.join(', ')}`);
  }
  return [...new Set(wanted)];
}

export async function validateEnvs(names: readonly string[], renderer: Renderer, opts: ValidateEnvsOptions = {}): Promise<ValidationReport> {
  const configs = await loadEnvs(names, { envDir: opts.envDir ?? 'envs' });
  const inputs: EnvInput[] = configs.map((config, i) => ({ name: names[i]!, config, rendered: renderer.render(config) }));
  return validateInputs(inputs, renderer, opts);
}

/** `validateRendered` with the templates' invariants plugged in: what the command runs after rendering. */
export function validateInputs(inputs: readonly EnvInput[], renderer: Renderer, opts: ValidateOptions = {}): Promise<ValidationReport> {
  return validateRendered(inputs, { ...opts, invariants: (e) => renderer.invariants(e) });
}

/** The suppressions the templates of these envs declare, as the Markdown table the docs carry. */
export async function listSuppressions(names: readonly string[], renderer: Renderer, envDir = 'envs'): Promise<string> {
  const all: Suppression[] = [];
  const configs = await loadEnvs(names, { envDir });
  for (const [i, name] of names.entries()) {
    const rendered = plainFiles(renderer.render(configs[i]!));
    for (const [file, template] of Object.entries(rendered)) {
      if (file === STATE_MACHINE_FILE) continue;
      all.push(...collectSuppressions(name, file.replace(/\.json$/, ''), template).suppressions);
    }
  }
  return suppressionsMarkdown(all, names);
}
