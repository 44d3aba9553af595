/**
 * The CLI's reporter: the one place progress events become text. On a terminal, `progress` events
 * redraw one live line and colour marks the levels (unless NO_COLOR); elsewhere (CI, pipes) every
 * event is a plain line of its own.
 */
import type { ReportEvent, Reporter } from '../reporter.ts';

const paint: Record<ReportEvent['level'], (s: string) => string> = {
  step: (s) => `\x1b[1m${s}\x1b[0m`,
  info: (s) => s,
  ok: (s) => `\x1b[32m${s}\x1b[0m`,
  warn: (s) => `\x1b[33m${s}\x1b[0m`,
  progress: (s) => `\x1b[2m${s}\x1b[0m`,
};

const prefix: Record<ReportEvent['level'], string> = { step: '▸ ', info: '  ', ok: '✔ ', warn: '! ', progress: '… ' };

export function cliReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  const tty = stream.isTTY === true;
  const colour = tty && !process.env.NO_COLOR;
  let live = false;
  return {
    report(e: ReportEvent) {
      const line = `${prefix[e.level]}${e.message}`;
      const text = colour ? paint[e.level](line) : line;
      if (tty && e.level === 'progress') {
        stream.write(`\r\x1b[K${text}`);
        live = true;
        return;
      }
      stream.write(`${live ? '\r\x1b[K' : ''}${text}\n`);
      live = false;
    },
  };
}

/**
 * `--json` for commands that run for a while (deploy, release, rollback): every event as one JSON
 * line on stdout as it happens (`{"type":"event",…}`), then one summary line
 * (`{"type":"summary",…}`) from `summary()`. Human progress stays off stdout, so
 * `… --json | jq` always reads a stream of whole objects.
 */
export interface JsonLinesReporter extends Reporter {
  summary(result: Record<string, unknown>): void;
}

export function jsonLinesReporter(stream: NodeJS.WritableStream = process.stdout): JsonLinesReporter {
  const write = (o: Record<string, unknown>) => stream.write(`${JSON.stringify(o)}\n`);
  return {
    report(e: ReportEvent) {
      write({ type: 'event', level: e.level, topic: e.topic, message: e.message, ...(e.data ? { data: e.data } : {}) });
    },
    summary(result: Record<string, unknown>) {
      write({ type: 'summary', ...result });
    },
  };
}
