/**
 * Questions on a terminal, and values read from stdin: a yes/no confirmation, input that is not
 * echoed (a secret typed on a terminal), and stdin read whole with a size cap. Streams are passed
 * in so tests can drive them.
 */
import { InterruptedError, UserInputError } from '../errors.ts';

export interface PromptIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream;
}

const defaultIo = (): PromptIo => ({ input: process.stdin, output: process.stderr });

/** Asks `question`; true only for y / yes. End of input is no. */
export async function confirm(question: string, io: PromptIo = defaultIo()): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: io.input, output: io.output, terminal: false });
  try {
    io.output.write(question);
    const answer = await new Promise<string>((res) => {
      rl.once('line', res);
      rl.once('close', () => res(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * Reads one line from a terminal without echoing it: raw mode, so the characters never reach the
 * screen (nor a terminal recording). Backspace edits, Enter ends, Ctrl-C is exit 130, Ctrl-D on an
 * empty line ends with nothing.
 */
export function readHidden(prompt: string, io: PromptIo = defaultIo()): Promise<string> {
  const { input, output } = io;
  if (!input.setRawMode) throw new Error('readHidden needs a terminal');
  output.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.removeListener('data', onData);
      input.setRawMode!(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new InterruptedError('interrupted; nothing was set'));
        if (ch === '\u0004') {
          if (value === '') return done();
          continue;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** All of stdin, refusing more than `maxBytes` (exit 2) rather than holding an unbounded input. */
export async function readAll(input: NodeJS.ReadableStream, maxBytes: number, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > maxBytes) throw new UserInputError(`${what}: more than ${maxBytes} bytes on stdin`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
