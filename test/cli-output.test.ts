/**
 * The CLI's output rules in-process, on recording streams: colour decisions (flag, FORCE_COLOR,
 * NO_COLOR, TERM=dumb, terminal or not), the live progress line and its three ways of drawing,
 * the guard that erases it before any other write, and EPIPE. The same rules through the built
 * CLI on a real pseudo-terminal and real pipes: test/cli/conventions.test.ts.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { chalkFor, clearLive, cliReporter, colorEnabled, installOutputGuards, jsonLinesReporter, setColorFlag } from '../src/cli/output.ts';

/** A stream that records what is written, into its own list or a transcript shared with another. */
function fakeStream(isTTY: boolean, transcript: string[] = [], columns?: number) {
  const stream = Object.assign(new EventEmitter(), {
    isTTY,
    columns,
    write: (s: string) => {
      transcript.push(s);
      return true;
    },
  });
  return { chunks: transcript, stream: stream as unknown as NodeJS.WriteStream };
}

const KEYS = ['NO_COLOR', 'FORCE_COLOR', 'TERM'] as const;

/** Runs `fn` with exactly these colour variables set (the others unset), then puts everything back. */
function withEnv(vars: Partial<Record<(typeof KEYS)[number], string>>, fn: () => void | Promise<void>) {
  return async () => {
    const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));
    for (const k of KEYS) delete process.env[k];
    Object.assign(process.env, { TERM: 'xterm-256color' }, vars);
    try {
      await fn();
    } finally {
      clearLive();
      setColorFlag(true);
      for (const k of KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  };
}

describe('CLI output: colour', () => {
  const cases: [string, Partial<Record<(typeof KEYS)[number], string>>, boolean, boolean][] = [
    // name, env, on a terminal, expected
    ['a terminal', {}, true, true],
    ['a pipe', {}, false, false],
    ['NO_COLOR=1 on a terminal', { NO_COLOR: '1' }, true, false],
    ['NO_COLOR=0 (any value) on a terminal', { NO_COLOR: '0' }, true, false],
    ['NO_COLOR empty (not set, per no-color.org)', { NO_COLOR: '' }, true, true],
    ['FORCE_COLOR=0 on a terminal', { FORCE_COLOR: '0' }, true, false],
    ['TERM=dumb on a terminal', { TERM: 'dumb' }, true, false],
    ['FORCE_COLOR=1 into a pipe', { FORCE_COLOR: '1' }, false, true],
    ['FORCE_COLOR=1 over TERM=dumb', { FORCE_COLOR: '1', TERM: 'dumb' }, false, true],
  ];
  for (const [name, env, tty, expected] of cases) {
    it(`${expected ? 'colours' : 'does not colour'} on ${name}`, withEnv(env, async () => {
      assert.equal(colorEnabled({ isTTY: tty }), expected);
      assert.equal((await chalkFor({ isTTY: tty })).level > 0, expected);
    }));
  }

  it('--no-color wins over FORCE_COLOR=1', withEnv({ FORCE_COLOR: '1' }, () => {
    setColorFlag(false);
    assert.equal(colorEnabled({ isTTY: true }), false);
    const { chunks, stream } = fakeStream(true);
    cliReporter(stream).report({ level: 'progress', topic: 't', message: 'waiting' });
    clearLive();
    assert.ok(chunks.every((c) => !c.includes('\x1b')), JSON.stringify(chunks));
  }));
});

describe('CLI output: reporter', () => {
  it('prints every event as a plain line when not on a terminal', withEnv({}, () => {
    const { chunks, stream } = fakeStream(false);
    const r = cliReporter(stream);
    r.report({ level: 'progress', topic: 'package', message: 'bundling a' });
    r.report({ level: 'ok', topic: 'package', message: 'done' });
    assert.deepEqual(chunks, ['… bundling a\n', '✔ done\n']);
  }));

  it('colours those lines with FORCE_COLOR=1 into a pipe', withEnv({ FORCE_COLOR: '1' }, () => {
    const { chunks, stream } = fakeStream(false);
    cliReporter(stream).report({ level: 'ok', topic: 'render', message: 'dev' });
    assert.deepEqual(chunks, ['\x1b[32m✔ dev\x1b[0m\n']);
  }));

  it('redraws one live line for progress on a terminal, and erases it before the next event', withEnv({}, () => {
    const { chunks, stream } = fakeStream(true);
    const r = cliReporter(stream);
    r.report({ level: 'progress', topic: 'package', message: 'bundling a' });
    r.report({ level: 'progress', topic: 'package', message: 'bundling b' });
    r.report({ level: 'ok', topic: 'package', message: 'done' });
    assert.deepEqual(chunks, ['\r\x1b[K\x1b[2m… bundling a\x1b[0m', '\r\x1b[K\x1b[2m… bundling b\x1b[0m', '\r\x1b[K', '\x1b[32m✔ done\x1b[0m\n']);
  }));

  for (const env of [{ NO_COLOR: '1' }, { FORCE_COLOR: '0' }]) {
    it(`keeps the live line without any escape sequence on a terminal with ${Object.entries(env)[0]!.join('=')}`, withEnv(env, () => {
      const { chunks, stream } = fakeStream(true);
      const r = cliReporter(stream);
      r.report({ level: 'progress', topic: 'package', message: 'bundling the pg layer' });
      r.report({ level: 'progress', topic: 'package', message: 'bundling a' });
      r.report({ level: 'ok', topic: 'package', message: 'done' });
      // The shorter line pads over the longer one; erasing is spaces between carriage returns.
      assert.deepEqual(chunks, ['\r… bundling the pg layer', `\r… bundling a${' '.repeat(11)}`, `\r${' '.repeat(12)}\r`, '✔ done\n']);
    }));
  }

  it('draws no live line on TERM=dumb: plain lines, no carriage returns', withEnv({ TERM: 'dumb' }, () => {
    const { chunks, stream } = fakeStream(true);
    const r = cliReporter(stream);
    r.report({ level: 'progress', topic: 'validate', message: 'running cfn-lint' });
    r.report({ level: 'info', topic: 'validate', message: 'cfn-lint: 0 finding(s)' });
    assert.deepEqual(chunks, ['… running cfn-lint\n', '  cfn-lint: 0 finding(s)\n']);
  }));

  it('counts the seconds of a wait from its startedAt, and cuts the line to the terminal width', withEnv({ NO_COLOR: '1' }, () => {
    const { chunks, stream } = fakeStream(true, [], 20);
    cliReporter(stream).report({ level: 'progress', topic: 'validate', message: 'running cfn-lint', data: { startedAt: Date.now() - 5_400 } });
    // 19 columns: one short of the terminal's 20, so the cursor never wraps.
    assert.equal(chunks[0], '\r… running cfn-lint ');
    const wide = fakeStream(true, [], 80);
    cliReporter(wide.stream).report({ level: 'progress', topic: 'validate', message: 'running cfn-lint', data: { startedAt: Date.now() - 5_400 } });
    assert.deepEqual(wide.chunks, ['\r… running cfn-lint  5s']);
  }));

  it('ticks the elapsed seconds while nothing else is written', withEnv({ NO_COLOR: '1' }, async () => {
    const { chunks, stream } = fakeStream(true);
    cliReporter(stream).report({ level: 'progress', topic: 'validate', message: 'running checkov', data: { startedAt: Date.now() - 900 } });
    await new Promise((r) => setTimeout(r, 1_150));
    assert.deepEqual(chunks.slice(0, 2), ['\r… running checkov', '\r… running checkov  1s']);
  }));
});

describe('CLI output: guards', () => {
  it('erases the live line before any write to stdout or stderr, from any path', withEnv({}, () => {
    const terminal: string[] = [];
    const out = fakeStream(true, terminal);
    const err = fakeStream(true, terminal);
    installOutputGuards([out.stream, err.stream]);
    cliReporter(err.stream).report({ level: 'progress', topic: 'deploy', message: 'creating change set' });
    // A printer that knows nothing of the reporter (as deploy's plan printer), on the other stream.
    out.stream.write('catalog-network: 2 changes\n');
    err.stream.write('a second write finds nothing to erase\n');
    assert.deepEqual(terminal, ['\r\x1b[K\x1b[2m… creating change set\x1b[0m', '\r\x1b[K', 'catalog-network: 2 changes\n', 'a second write finds nothing to erase\n']);
  }));

  it('leaves the live line alone when the other stream goes to a file or a pipe', withEnv({}, () => {
    const terminal: string[] = [];
    const file: string[] = [];
    const out = fakeStream(false, file);
    const err = fakeStream(true, terminal);
    installOutputGuards([out.stream, err.stream]);
    cliReporter(err.stream).report({ level: 'progress', topic: 'validate', message: 'running cfn-lint' });
    out.stream.write('{"ok": true}\n');
    assert.deepEqual(terminal, ['\r\x1b[K\x1b[2m… running cfn-lint\x1b[0m']);
    assert.deepEqual(file, ['{"ok": true}\n']);
  }));

  it('ends the output quietly when the reader goes away (EPIPE), and still raises anything else', () => {
    const { stream } = fakeStream(false);
    installOutputGuards([stream]);
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.throws(() => stream.emit('error', Object.assign(new Error('write EIO'), { code: 'EIO' })), /EIO/);
  });
});

describe('CLI output: --json lines', () => {
  it('writes each event as one JSON object per line, then the summary', () => {
    const { chunks, stream } = fakeStream(false);
    const r = jsonLinesReporter(stream);
    r.report({ level: 'step', topic: 'deploy', message: 'catalog-network', data: { stack: 'catalog-network' } });
    r.report({ level: 'ok', topic: 'deploy', message: 'no changes' });
    r.summary({ outcome: 'ok', stacks: 1 });
    const lines = chunks.join('').split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      [
        { type: 'event', level: 'step', topic: 'deploy', message: 'catalog-network', data: { stack: 'catalog-network' } },
        { type: 'event', level: 'ok', topic: 'deploy', message: 'no changes' },
        { type: 'summary', outcome: 'ok', stacks: 1 },
      ],
    );
  });
});
