/**
 * The env-file fuzzer: deterministic mutations of the real env files (./fuzz-cases.ts, seeded),
 * every one loaded and rendered in process the way `render --env-path <file> --out <dir>` does.
 * Each must either render or fail as bad input (exit-2 class) with lines that name a file of the
 * case, no stack trace, and nothing written; none may be an internal error or take 5 s (a hang
 * guard, not a performance figure: bench/ measures speed). A sample goes through the built CLI.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { loadSelected, renderToDisk } from '../../src/render/index.ts';
import { UserInputError } from '../../src/errors.ts';
import { silentReporter } from '../../src/reporter.ts';
import { runCli } from '../support/cli.ts';
import { describeCase, generateCases, type FuzzCase } from './fuzz-cases.ts';
import { RENDERED_FILES } from '../../src/templates/index.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const COUNT = Number(process.env.FUZZ_CASES ?? 1200);
const HANG_MS = 5_000;
const CLI_SAMPLE = 20;

interface Outcome {
  c: FuzzCase;
  target: string;
  ms: number;
  kind: 'ok' | 'bad-input' | 'internal';
  message: string;
}

describe('env-file fuzzer', function () {
  this.timeout(600_000);
  let root: string;
  const outcomes: Outcome[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'catalogctl-fuzz-'));
    const cases = generateCases(SEED, COUNT);
    for (const c of cases) {
      const dir = join(root, `case-${c.id}`);
      await mkdir(dir);
      for (const [name, body] of Object.entries(c.files)) await writeFile(join(dir, name), body);
      const target = isAbsolute(c.target) ? c.target : join(dir, c.target);
      if (c.special === 'fifo') execFileSync('mkfifo', [target]);
      if (c.special === 'dir') await mkdir(target);
      const out = join(dir, 'out');
      const t0 = performance.now();
      let kind: Outcome['kind'] = 'ok';
      let message = '';
      try {
        await renderToDisk(await loadSelected({ envPath: target }), out, silentReporter);
      } catch (err) {
        kind = err instanceof UserInputError ? 'bad-input' : 'internal';
        message = kind === 'internal' ? String((err as Error)?.stack ?? err) : (err as Error).message;
      }
      const ms = performance.now() - t0;
      outcomes.push({ c, target, ms, kind, message });
      if (kind === 'ok') assert.deepEqual((await readdir(join(out, (await readdir(out))[0]!))).length, RENDERED_FILES.length, `${describeCase(c)} rendered ${RENDERED_FILES.length} files`);
      else await assert.rejects(readdir(out), /ENOENT/, `${describeCase(c)}: nothing written on failure`);
      await rm(dir, { recursive: true, force: true });
    }
    const total = outcomes.reduce((s, o) => s + o.ms, 0);
    const slowest = outcomes.reduce((a, b) => (b.ms > a.ms ? b : a));
    const count = (k: Outcome['kind']) => outcomes.filter((o) => o.kind === k).length;
    console.log(
      `      fuzz seed ${SEED}: ${outcomes.length} cases, ${count('ok')} rendered, ${count('bad-input')} bad input, ${count('internal')} internal; ` +
        `${(total / 1000).toFixed(1)} s in load+render, slowest ${describeCase(slowest.c)} ${slowest.ms.toFixed(0)} ms`,
    );
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it(`generates at least 1,000 cases, including every named case, the same for the same seed`, () => {
    assert.ok(outcomes.length >= 1000);
    const named = outcomes.filter((o) => o.c.kind.startsWith('named:'));
    assert.ok(named.length >= 45, `${named.length} named cases`);
    const again = generateCases(SEED, COUNT);
    assert.deepEqual(
      again.map((c) => [c.kind, c.target, Object.entries(c.files).map(([n, b]) => [n, Buffer.from(b).toString('base64')])]),
      outcomes.map((o) => [o.c.kind, o.c.target, Object.entries(o.c.files).map(([n, b]) => [n, Buffer.from(b).toString('base64')])]),
    );
    // Each named case is a mistake the loader must catch; the real files (and CRLF/BOM copies) must render.
    assert.deepEqual(named.filter((o) => o.kind !== 'bad-input').map((o) => describeCase(o.c)), []);
    assert.deepEqual(outcomes.filter((o) => /^(real|valid):/.test(o.c.kind) && o.kind !== 'ok').map((o) => `${describeCase(o.c)}: ${o.message}`), []);
    // Both outcomes occur: the fuzzer is not only feeding garbage.
    assert.ok(outcomes.filter((o) => o.kind === 'ok').length >= 20);
    assert.ok(outcomes.filter((o) => o.kind === 'bad-input').length >= 500);
  });

  it('never ends in an internal error', () => {
    const bad = outcomes.filter((o) => o.kind === 'internal');
    assert.deepEqual(bad.map((o) => `${describeCase(o.c)}: ${o.message.split('\n').slice(0, 4).join(' | ')}`), []);
  });

  it(`never takes ${HANG_MS / 1000} s or more for a case`, () => {
    const slow = outcomes.filter((o) => o.ms >= HANG_MS);
    assert.deepEqual(slow.map((o) => `${describeCase(o.c)}: ${o.ms.toFixed(0)} ms`), []);
  });

  it('fails as bad input in lines that each name a file of the case, with no stack trace', () => {
    for (const o of outcomes.filter((x) => x.kind === 'bad-input')) {
      const lines = o.message.split('\n');
      assert.ok(lines.length >= 1 && lines.length <= 21, `${describeCase(o.c)}: ${lines.length} lines`);
      for (const line of lines) {
        assert.ok(line.length > 0 && !/^\s+at /.test(line), `${describeCase(o.c)}: ${line}`);
        assert.ok(line.startsWith(`${o.target}:`) || line.startsWith(root), `${describeCase(o.c)}: line names no file of the case: ${line.slice(0, 300)}`);
      }
    }
  });

  it('through the built CLI, a sample of failing cases: exit 2, the same lines on stderr, --out untouched', async () => {
    // One failing case of each kind, spread over the run, up to CLI_SAMPLE.
    const byKind = new Map<string, Outcome>();
    for (const o of outcomes) if (o.kind === 'bad-input' && !byKind.has(o.c.kind)) byKind.set(o.c.kind, o);
    const sample = [...byKind.values()].filter((_, i, all) => i % Math.ceil(all.length / CLI_SAMPLE) === 0).slice(0, CLI_SAMPLE);
    assert.ok(sample.length >= 15, `${sample.length} sampled`);
    for (const o of sample) {
      const dir = join(root, `cli-${o.c.id}`);
      await mkdir(dir);
      for (const [name, body] of Object.entries(o.c.files)) await writeFile(join(dir, name), body);
      const target = isAbsolute(o.c.target) ? o.c.target : join(dir, o.c.target);
      if (o.c.special === 'fifo') execFileSync('mkfifo', [target]);
      if (o.c.special === 'dir') await mkdir(target);
      const out = join(dir, 'out');
      await mkdir(out);
      await writeFile(join(out, 'sentinel'), 'untouched\n');
      const r = await runCli(['render', '--env-path', target, '--out', out], { timeoutMs: 30_000 });
      assert.equal(r.code, 2, `${describeCase(o.c)}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `catalogctl: ${o.message.split(join(root, `case-${o.c.id}`)).join(dir)}\n`, describeCase(o.c));
      assert.deepEqual(await readdir(out), ['sentinel']);
      assert.equal(await readFile(join(out, 'sentinel'), 'utf8'), 'untouched\n');
    }
  });
});
