/**
 * The external Python checkers (cfn-lint, checkov) live in the project's virtualenv, installed
 * from the pinned requirements-dev.txt by scripts/setup-python.sh. This module finds them and runs
 * them as child processes.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CatalogError, ExitCode } from '../errors.ts';

export type PythonTool = 'cfn-lint' | 'checkov';

/** The tool environment is broken (missing, crashed, unparseable output): not a template finding. */
export class ToolError extends CatalogError {
  readonly exitCode: ExitCode = ExitCode.Internal;
  readonly fault = 'tool' as const;
}

/** The tool is not installed: something the user sets up (exit 2, with the command that does it), not a bug. */
export class ToolMissingError extends ToolError {
  override readonly exitCode: ExitCode = ExitCode.BadInput;
}

export const INSTALL_HINT =
  'run `bash scripts/setup-python.sh` (installs the pinned tools from requirements-dev.txt into .venv; `npm test` does this too)';

/**
 * Where to look for `.venv/bin/<tool>`: $CATALOGCTL_VENV, then every ancestor of the working
 * directory and of this module (the bundle sits in dist/, the source in src/validate/).
 */
export function venvCandidates(cwd = process.cwd()): string[] {
  const out: string[] = [];
  if (process.env.CATALOGCTL_VENV) out.push(resolve(process.env.CATALOGCTL_VENV));
  for (const start of [cwd, dirname(fileURLToPath(import.meta.url))]) {
    let dir = resolve(start);
    for (;;) {
      const venv = join(dir, '.venv');
      if (!out.includes(venv)) out.push(venv);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return out;
}

export async function findTool(tool: PythonTool, candidates = venvCandidates()): Promise<string> {
  for (const venv of candidates) {
    const bin = join(venv, 'bin', tool);
    try {
      await access(bin, constants.X_OK);
      return bin;
    } catch {
      // keep looking
    }
  }
  throw new ToolMissingError(`${tool} not found in ${candidates[0] ?? '.venv'}/bin: ${INSTALL_HINT}`);
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, capturing output; a signal or spawn failure is a ToolError. */
export function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<ProcessResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => rej(new ToolError(`${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === null) {
        rej(new ToolError(`${cmd} stopped by ${signal ?? 'a signal'}`));
        return;
      }
      res({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** The last few lines of a tool's stderr, for error messages. */
export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
