/**
 * The CLI's terminal output, in one place: whether to colour, the one live progress line, and what
 * happens when a reader goes away.
 *
 * - Colour: `--no-color` wins; then FORCE_COLOR (`0`/`false` off, anything else on, even into a
 *   pipe); then NO_COLOR (set and not empty, per no-color.org) and TERM=dumb turn it off; otherwise
 *   colour only on a terminal. Colour off means no escape sequence at all, the redraws included.
 * - Progress: on a terminal (not TERM=dumb) a `progress` event is one live line, redrawn in place
 *   with the seconds it has been waiting; any other output to the terminal — the reporter's next
 *   event, a printer, or anything written to stdout/stderr once `installOutputGuards` ran — erases
 *   it first, so the line never runs into what follows (output redirected to a file leaves it).
 *   Elsewhere (CI, pipes) every event is a plain line of its own.
 * - Pipes: a reader that closes early (`… | head -1`) is not an error: the rest of the output is
 *   dropped and the command ends with its own exit code.
 */
import type { ReportEvent, Reporter } from '../reporter.ts';

type Stream = NodeJS.WriteStream;

let colourFlag: boolean | undefined;

/** `--no-color` (the global flag): set once, before a command's action runs. */
export function setColorFlag(on: boolean): void {
  colourFlag = on;
}

/** Whether output to this stream may carry colour (see the header for the order of the rules). */
export function colorEnabled(stream: { isTTY?: boolean } = process.stdout): boolean {
  if (colourFlag === false) return false;
  const force = process.env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (process.env.NO_COLOR) return false;
  if (process.env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** How the live progress line is drawn: with escapes, with `\r` and spaces only, or not at all. */
function liveMode(stream: { isTTY?: boolean }): 'ansi' | 'plain' | 'off' {
  if (stream.isTTY !== true || process.env.TERM === 'dumb') return 'off';
  return colorEnabled(stream) ? 'ansi' : 'plain';
}

/** A chalk instance for this stream that follows the rules above (chalk alone ignores NO_COLOR and --no-color). */
export async function chalkFor(stream: { isTTY?: boolean } = process.stdout): Promise<import('chalk').ChalkInstance> {
  const { Chalk, default: chalk } = await import('chalk');
  return new Chalk({ level: colorEnabled(stream) ? chalk.level || 1 : 0 });
}

/** Writes that bypass the guard (the live line's own drawing), per stream. */
const rawWrites = new WeakMap<object, (s: string) => boolean>();
const rawWrite = (stream: Stream, s: string): boolean => (rawWrites.get(stream) ?? ((t: string) => stream.write(t)))(s);

interface Live {
  stream: Stream;
  mode: 'ansi' | 'plain';
  text: string;
  startedAt: number;
  /** Columns drawn last, for erasing without escapes. */
  drawn: number;
  timer: NodeJS.Timeout;
}

let live: Live | undefined;

function drawLive(l: Live): void {
  const seconds = Math.floor((Date.now() - l.startedAt) / 1000);
  let chars = [...(seconds >= 1 ? `${l.text}  ${seconds}s` : l.text)];
  // A line wider than the terminal wraps, and `\r` can then erase only its last row.
  const width = (l.stream.columns ?? 0) - 1;
  if (width > 0 && chars.length > width) chars = chars.slice(0, width);
  const text = chars.join('');
  if (l.mode === 'ansi') rawWrite(l.stream, `\r\x1b[K\x1b[2m${text}\x1b[0m`);
  else rawWrite(l.stream, `\r${text}${' '.repeat(Math.max(0, l.drawn - chars.length))}`);
  l.drawn = chars.length;
}

/** Erase the live progress line, if one is showing; everything that writes calls this first. */
export function clearLive(): void {
  const l = live;
  if (!l) return;
  live = undefined;
  clearInterval(l.timer);
  rawWrite(l.stream, l.mode === 'ansi' ? '\r\x1b[K' : `\r${' '.repeat(l.drawn)}\r`);
}

function showLive(stream: Stream, mode: 'ansi' | 'plain', text: string, startedAt: number): void {
  const drawn = live?.stream === stream && live.mode === mode ? live.drawn : 0;
  if (live && live.stream !== stream) clearLive();
  if (live) clearInterval(live.timer);
  const l: Live = { stream, mode, text, startedAt, drawn, timer: setInterval(() => live === l && drawLive(l), 1000) };
  l.timer.unref();
  live = l;
  drawLive(l);
}

/** Erase the live line before text goes to `stream`, when that text lands on a terminal (a file or pipe leaves it be). */
function clearLiveFor(stream: { isTTY?: boolean }): void {
  if (live && (stream.isTTY === true || live.stream === stream)) clearLive();
}

/** Text for stdout, after erasing the live line. */
export function writeOut(text: string): void {
  clearLiveFor(process.stdout);
  process.stdout.write(text);
}

/** Text for stderr, after erasing the live line. */
export function writeErr(text: string): void {
  clearLiveFor(process.stderr);
  process.stderr.write(text);
}

/**
 * For the bin only: every write to stdout/stderr, from any path (commander, printers, console),
 * erases the live line first; a reader that went away (EPIPE) ends the output quietly.
 */
export function installOutputGuards(streams: Stream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (rawWrites.has(stream)) continue;
    const original = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    rawWrites.set(stream, (s: string) => original(s));
    stream.write = ((...args: unknown[]) => {
      clearLiveFor(stream);
      return original(...args);
    }) as Stream['write'];
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // The reader closed its end (`| head`): drop the rest; the command keeps its exit code.
      if (err.code === 'EPIPE') return;
      throw err;
    });
  }
}

const paint: Record<ReportEvent['level'], (s: string) => string> = {
  step: (s) => `\x1b[1m${s}\x1b[0m`,
  info: (s) => s,
  ok: (s) => `\x1b[32m${s}\x1b[0m`,
  warn: (s) => `\x1b[33m${s}\x1b[0m`,
  progress: (s) => `\x1b[2m${s}\x1b[0m`,
};

const prefix: Record<ReportEvent['level'], string> = { step: '▸ ', info: '  ', ok: '✔ ', warn: '! ', progress: '… ' };

/**
 * Progress events as text on `stream` (stderr). A `progress` event's `data.startedAt` (epoch ms)
 * says since when the wait has lasted; the live line counts the seconds from it (from the event
 * otherwise).
 */
export function cliReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  return {
    report(e: ReportEvent) {
      const line = `${prefix[e.level]}${e.message}`;
      const mode = liveMode(stream);
      if (e.level === 'progress' && mode !== 'off') {
        const startedAt = typeof e.data?.startedAt === 'number' ? e.data.startedAt : Date.now();
        showLive(stream, mode, line, startedAt);
        return;
      }
      clearLive();
      rawWrite(stream, `${colorEnabled(stream) ? paint[e.level](line) : line}\n`);
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
