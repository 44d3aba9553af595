/**
 * The catalogctl entry point: builds the command tree and maps errors to exit codes in one place.
 * Each command module registers its flags here and lazily imports its core code in the action,
 * so `render` never pays for loading an AWS SDK client.
 */
import { Command, CommanderError } from 'commander';
import { CatalogError, ExitCode } from '../errors.ts';
import { registerCommands } from './commands/index.ts';
import { installOutputGuards, setColorFlag, writeErr } from './output.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('catalogctl')
    .description('Render, validate, package, release and roll back the Catalog service')
    .version('0.1.0')
    .option('--no-color', 'no colour and no escape sequences in any output (as NO_COLOR, FORCE_COLOR=0 or TERM=dumb)')
    .configureHelp({ showGlobalOptions: true })
    // Commander's own errors (unknown option, missing value…) as one line, like every other error.
    .configureOutput({ outputError: (text, write) => write(`catalogctl: ${text.trim().replace(/^error: /, '')} (see --help)\n`) })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Exit codes (every command): 0 ok or nothing to do, 1 internal error (a bug: please report it),
2 bad input (a flag, an env file, an account mismatch, a missing tool, a busy port), 3 AWS or
deploy failure (incl. an alarm rollback), 4 a check found problems, 130 interrupted.
Output: results on stdout, progress and errors on stderr; colour only on a terminal, never with
--no-color, NO_COLOR or TERM=dumb; FORCE_COLOR=0 turns it off, FORCE_COLOR=1 on (even into a pipe).

Examples:
  $ catalogctl render --all && catalogctl validate --all
  $ catalogctl diff --env staging --profile staging
  $ catalogctl render --help
  $ source <(catalogctl completion bash)`,
  );
  // Global: accepted before or after the command name, applied before any action runs.
  program.hook('preAction', () => setColorFlag(program.opts<{ color: boolean }>().color));
  registerCommands(program);
  return program;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH']);

/**
 * An AWS SDK service error (it carries `$metadata`) or a network failure reaching AWS, as one line;
 * undefined for anything else. Commands wrap the calls they expect to fail; this catches the rest,
 * so an AWS failure is never reported as an internal error.
 */
function awsFailure(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const oneLine = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();
  if (e.$metadata) {
    const id = e.$metadata.requestId ? `, request ${e.$metadata.requestId}` : '';
    return `AWS error ${e.name ?? 'unknown'} (HTTP ${e.$metadata.httpStatusCode ?? '?'}${id}): ${oneLine(e.message) || 'no message'}`;
  }
  if (e.code && NETWORK_CODES.has(e.code)) return `cannot reach AWS (${e.code}): ${oneLine(e.message)}`;
  return undefined;
}

const FS_CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'name too long',
};

/**
 * A file-system call that failed on a path the user chose (`--out`, `--state-dir`, …): one line
 * naming the path (exit 2), not an internal error with a stack.
 */
function fsFailure(err: unknown): string | undefined {
  const e = err as { code?: string; path?: string; syscall?: string } | null;
  if (!e || typeof e.path !== 'string' || typeof e.syscall !== 'string' || !e.code || !(e.code in FS_CODES)) return undefined;
  return `${e.path}: ${FS_CODES[e.code]} (${e.syscall})`;
}

/** Turn any thrown value into a one-line message and an exit code. */
export function exitCodeFor(err: unknown): { code: number; message?: string } {
  if (err instanceof CatalogError) return { code: err.exitCode, message: err.message };
  if (err instanceof CommanderError) {
    // --help and --version are exits with code 0; everything else commander rejects is bad input.
    if (err.exitCode === 0) return { code: ExitCode.Ok };
    return { code: ExitCode.BadInput };
  }
  const fs = fsFailure(err);
  if (fs) return { code: ExitCode.BadInput, message: fs };
  const aws = awsFailure(err);
  if (aws) return { code: ExitCode.DeployFailed, message: aws };
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { code: ExitCode.Internal, message: `internal error: ${message}` };
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    const { code, message } = exitCodeFor(err);
    if (message) writeErr(`catalogctl: ${message}\n`);
    return code;
  }
}

// Run when executed as the bin (the bundle's entry), not when imported by tests.
if (process.argv[1] && /catalogctl(\.mjs)?$|main\.ts$/.test(process.argv[1])) {
  // The pinned AWS SDK supports Node 20; its notice that later SDK releases will need Node 22
  // would otherwise print eight lines before every AWS command's output. Set it to "false" to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  installOutputGuards();
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
