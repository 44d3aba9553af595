/**
 * Runs the built CLI (dist/catalogctl.mjs, made by `npm run build`) in a child process, the way a
 * user does, and captures its exit code and output.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, resolve } from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const CLI = resolve('dist/catalogctl.mjs');

/** `bin`: run the file itself, as the installed `catalogctl` runs (its shebang starts node), instead of `node dist/catalogctl.mjs`. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; bin?: boolean } = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
  return new Promise((res, rej) => {
    // The shebang finds `node` on PATH: make it this Node.
    const path = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
    const child = spawn(opts.bin ? CLI : process.execPath, opts.bin ? args : [CLI, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, NO_COLOR: '1', ...(opts.bin ? { PATH: path } : {}), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
