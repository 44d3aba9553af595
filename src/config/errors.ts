/**
 * Bad input in env files: each problem is one line naming the place, `file:line:col key: problem`
 * (or `file: problem` when it is about the whole file), and an EnvFileError carries every problem
 * found in one pass (at most MAX_PROBLEMS lines, sorted by position).
 */
import { UserInputError } from '../errors.ts';

/** How many problems one error shows; the rest are counted in a last line. */
export const MAX_PROBLEMS = 20;

export interface EnvProblem {
  /** The file as shown to the user (relative to the working directory when inside it). */
  file: string;
  /** 1-based; 0 when the problem is about the whole file (unreadable, too large, …). */
  line: number;
  col: number;
  /** Dotted key path (`api.cache.sizeGb`, `routes[1]`); empty for syntax and file problems. */
  keyPath: string;
  detail: string;
}

export function formatProblem(p: EnvProblem): string {
  if (p.line === 0) return `${p.file}: ${p.keyPath ? `${p.keyPath}: ` : ''}${p.detail}`;
  return `${p.file}:${p.line}:${p.col} ${p.keyPath ? `${p.keyPath}: ` : ''}${p.detail}`;
}

/** Bad input in one or more env files; the first problem's fields are repeated on the error for convenience. */
export class EnvFileError extends UserInputError {
  readonly problems: readonly EnvProblem[];
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly keyPath: string;
  readonly detail: string;

  constructor(problems: readonly EnvProblem[]) {
    const first = problems[0];
    if (!first) throw new Error('EnvFileError needs at least one problem');
    const shown = problems.slice(0, MAX_PROBLEMS).map(formatProblem);
    if (problems.length > MAX_PROBLEMS) shown.push(`${first.file}: ${problems.length - MAX_PROBLEMS} more problem(s) not shown`);
    super(shown.join('\n'));
    this.problems = problems;
    ({ file: this.file, line: this.line, col: this.col, keyPath: this.keyPath, detail: this.detail } = first);
  }

  /** One problem. */
  static at(file: string, line: number, col: number, keyPath: string, detail: string): EnvFileError {
    return new EnvFileError([{ file, line, col, keyPath, detail }]);
  }

  /** A problem with the whole file. */
  static file(file: string, detail: string): EnvFileError {
    return new EnvFileError([{ file, line: 0, col: 0, keyPath: '', detail }]);
  }
}

/** Several files' errors as one: every line of each, files in the order given. */
export function combineEnvErrors(errors: readonly EnvFileError[]): EnvFileError {
  if (errors.length === 1) return errors[0]!;
  return new EnvFileError(errors.flatMap((e) => e.problems.slice(0, MAX_PROBLEMS)));
}
