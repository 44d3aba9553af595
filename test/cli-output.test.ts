import { strict as assert } from 'node:assert';
import { cliReporter } from '../src/cli/output.ts';

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream };
}

describe('CLI output', () => {
  it('prints every event as a plain line when not on a terminal', () => {
    const { chunks, stream } = fakeStream(false);
    const r = cliReporter(stream);
    r.report({ level: 'progress', topic: 'package', message: 'bundling a' });
    r.report({ level: 'ok', topic: 'package', message: 'done' });
    assert.deepEqual(chunks, ['… bundling a\n', '✔ done\n']);
  });

  it('redraws one live line for progress on a terminal, then clears it', () => {
    const { chunks, stream } = fakeStream(true);
    process.env.NO_COLOR = '1';
    try {
      const r = cliReporter(stream);
      r.report({ level: 'progress', topic: 'package', message: 'bundling a' });
      r.report({ level: 'progress', topic: 'package', message: 'bundling b' });
      r.report({ level: 'ok', topic: 'package', message: 'done' });
    } finally {
      delete process.env.NO_COLOR;
    }
    assert.deepEqual(chunks, ['\r\x1b[K… bundling a', '\r\x1b[K… bundling b', '\r\x1b[K✔ done\n']);
  });
});

describe('CLI output: --json lines', () => {
  it('writes each event as one JSON object per line, then the summary', async () => {
    const { jsonLinesReporter } = await import('../src/cli/output.ts');
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
