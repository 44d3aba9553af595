/**
 * Errors the tool expects. Each carries the exit code it maps to; `src/cli/main.ts` is the one
 * place that turns them into `process.exitCode` and a one-line message.
 *
 * Exit codes (DESIGN.md): 0 ok / nothing to do, 1 internal error, 2 bad input, 3 AWS or deploy
 * failure (incl. an alarm-triggered rollback), 4 a check found problems, 130 interrupted.
 */
export const ExitCode = {
  Ok: 0,
  Internal: 1,
  BadInput: 2,
  DeployFailed: 3,
  CheckFailed: 4,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class CatalogError extends Error {
  abstract readonly exitCode: ExitCode;
  /** Whether the user (bad input, failed check) or the tool/AWS is at fault. */
  abstract readonly fault: 'user' | 'tool' | 'aws';
}

/** Bad input: an env file, a flag, an account mismatch. Message is one line naming the place. */
export class UserInputError extends CatalogError {
  readonly exitCode = ExitCode.BadInput;
  readonly fault = 'user' as const;
}

/** An AWS call or a deployment step failed, or an alarm forced a rollback. */
export class DeployError extends CatalogError {
  readonly exitCode = ExitCode.DeployFailed;
  readonly fault = 'aws' as const;
}

/** A check found problems: stale rendered output, validation findings, failed verification. */
export class CheckFailedError extends CatalogError {
  readonly exitCode = ExitCode.CheckFailed;
  readonly fault = 'user' as const;
}

/** SIGINT/SIGTERM arrived and the command stopped after restoring a safe state. */
export class InterruptedError extends CatalogError {
  readonly exitCode = ExitCode.Interrupted;
  readonly fault = 'user' as const;
}

/** A place in a source file, 1-based, for messages like `envs/prod.yaml:14:7 key: problem`. */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}
