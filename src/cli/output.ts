/**
 * The CLI's reporter: the one place progress events become text. Plain lines when stdout is not a
 * terminal (CI, pipes); colour when it is and NO_COLOR is unset.
 */
import type { ReportEvent, Reporter } from '../reporter.ts';

const useColour = (): boolean => process.stdout.isTTY === true && !process.env.NO_COLOR;

const paint: Record<ReportEvent['level'], (s: string) => string> = {
  step: (s) => `\x1b[1m${s}\x1b[0m`,
  info: (s) => s,
  ok: (s) => `\x1b[32m${s}\x1b[0m`,
  warn: (s) => `\x1b[33m${s}\x1b[0m`,
  progress: (s) => `\x1b[2m${s}\x1b[0m`,
};

const prefix: Record<ReportEvent['level'], string> = { step: '▸ ', info: '  ', ok: '✔ ', warn: '! ', progress: '… ' };

export function cliReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  const colour = useColour();
  return {
    report(e: ReportEvent) {
      const line = `${prefix[e.level]}${e.message}`;
      stream.write(`${colour ? paint[e.level](line) : line}\n`);
    },
  };
}
