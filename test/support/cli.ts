/**
 * Runs the built CLI (dist/catalogctl.mjs, made by `npm run build`) in a child process, the way a
 * user does, and captures its exit code and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, resolve } from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const CLI = resolve('dist/catalogctl.mjs');

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run the file itself, as the installed `catalogctl` runs (its shebang starts node), instead of `node dist/catalogctl.mjs`. */
  bin?: boolean;
  /** Give Node the tsx loader too, for a `--handlers-module` written in TypeScript; the CLI is still the built one. */
  tsx?: boolean;
}

/** The built CLI as a child process with piped stdio, not waited for. */
export function spawnCli(args: string[], opts: CliOptions = {}): ChildProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
  // The shebang finds `node` on PATH: make it this Node.
  const path = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  return spawn(opts.bin ? CLI : process.execPath, opts.bin ? args : [...(opts.tsx ? ['--import', 'tsx'] : []), CLI, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, NO_COLOR: '1', ...(opts.bin ? { PATH: path } : {}), ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function runCli(args: string[], opts: CliOptions & { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** A running `catalogctl local`, started by startLocalCli once its banner says it serves. */
export interface LocalCli {
  proc: ChildProcess;
  /** The API's base URL from the banner. */
  url: string;
  /** The port of the throwaway PostgreSQL it started, from the banner (undefined with --database-url). */
  dbPort: number | undefined;
  /** Everything it printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** SIGINT (Ctrl-C) and its exit code; SIGKILL when it has not stopped after 15 s. */
  stop(): Promise<number | null>;
}

/**
 * `catalogctl local <args>` from the built CLI, waited for until it serves. The environment is the
 * test's without DATABASE_URL (local starts its own database unless told otherwise), plus `env`.
 */
export async function startLocalCli(args: string[], opts: Omit<CliOptions, 'bin'> & { timeoutMs?: number } = {}): Promise<LocalCli> {
  const env: NodeJS.ProcessEnv = { DATABASE_URL: undefined, ...opts.env };
  const proc = spawnCli(['local', ...args], { ...opts, env });
  proc.stdin!.end();
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  while (!/Ctrl-C to stop/.test(stdout)) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      await stop();
      throw new Error(`local did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const db = /127\.0\.0\.1:(\d+)\/catalog/.exec(stdout);
  return {
    proc,
    url: /Catalog API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!,
    dbPort: db ? Number(db[1]) : undefined,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    stop,
  };
}
