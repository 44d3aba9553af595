/**
 * Node 20 reads its own `--env-file` even after the script name: it loads the file as dotenv and
 * applies its NODE_OPTIONS before any of our code runs. These tests keep three things true:
 * - what Node acts on after the script name is exactly what docs/cli-render.md records (found by
 *   test/config/node-argv-audit.ts over every option Node lists, run by hand);
 * - no flag of any catalogctl command, in either `--flag value` or `--flag=value` form, is one of them;
 * - an env file full of lines Node would act on runs nothing, through the bin and through
 *   `node dist/catalogctl.mjs`, and is answered with exit 2 and one line.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { runCli } from '../support/cli.ts';

/** Every long and short flag of every command, with the command it belongs to. */
function catalogctlFlags(): { command: string; flag: string }[] {
  const out: { command: string; flag: string }[] = [];
  const walk = (cmd: Command, path: string) => {
    for (const o of cmd.options) for (const flag of [o.long, o.short]) if (flag) out.push({ command: path, flag });
    out.push({ command: path, flag: '--help' }, { command: path, flag: '-h' });
    for (const sub of cmd.commands) walk(sub, `${path} ${sub.name()}`);
  };
  walk(buildProgram(), 'catalogctl');
  return out;
}

/** Matches what Node 20 acts on after the script name (docs/cli-render.md, "Node's own flags"). */
const NODE_READS = /^--env-file(-if-exists)?(=|$)/;

describe("catalogctl flags and Node's own", function () {
  this.timeout(60_000);
  let dir: string;
  let marker: string;
  let coverage: string;
  let hostile: string;
  let probe: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-node-argv-'));
    marker = join(dir, 'marker');
    coverage = join(dir, 'coverage');
    probe = join(dir, 'probe.mjs');
    await writeFile(probe, 'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n');
    await writeFile(join(dir, 'hook.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
    // Lines Node acts on when it loads a dotenv file: code to preload, a coverage dir written at
    // exit, debug output, a module path. Only NODE_OPTIONS is applied after the script name, but a
    // file read as dotenv must change nothing at all.
    hostile = join(dir, 'hostile.env');
    await writeFile(hostile, [`NODE_OPTIONS=--require=${join(dir, 'hook.cjs')}`, `NODE_V8_COVERAGE=${coverage}`, 'NODE_DEBUG=module,fs', `NODE_PATH=${dir}`, 'NODE_NO_WARNINGS=1', ''].join('\n'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await rm(marker, { force: true });
    await rm(coverage, { recursive: true, force: true });
  });

  const ran = () => existsSync(marker) || existsSync(coverage);
  const node = (args: string[]) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 20_000 });
  };

  it('Node acts after the script name on --env-file and --env-file-if-exists, = forms too, and on nothing past --', async () => {
    for (const args of [['--env-file', hostile], [`--env-file=${hostile}`], ['--env-file-if-exists', hostile], [`--env-file-if-exists=${hostile}`], ['render', '--out', '--env-file', hostile]]) {
      await rm(marker, { force: true });
      node([probe, ...args]);
      assert.ok(existsSync(marker), `node probe.mjs ${args.join(' ')} should run the file's NODE_OPTIONS (Node's bug, the reason for the rename)`);
      assert.ok(args.some((a) => NODE_READS.test(a)));
    }
    await rm(marker, { force: true });
    for (const args of [['--env-files', hostile], ['--env-file-x', hostile], ['--env_file', hostile], ['--ENV-FILE', hostile], ['--env', hostile], ['--', '--env-file', hostile], ['--env-path', hostile]]) {
      const r = node([probe, ...args]);
      assert.equal(r.stdout, JSON.stringify(args), `argv intact for ${args.join(' ')}`);
      assert.ok(!ran(), `node probe.mjs ${args.join(' ')} must not act on the file`);
      assert.ok(!args.some((a) => NODE_READS.test(a)) || args[0] === '--');
    }
    // A missing file after --env-file stops Node itself with exit 9, before the script.
    const missing = node([probe, '--env-file', join(dir, 'none')]);
    assert.equal(missing.status, 9);
    assert.equal(missing.stdout, '');
  });

  it('no catalogctl flag is one Node reads, in --flag value or --flag=value form', () => {
    const flags = catalogctlFlags();
    assert.ok(flags.length > 40, `found ${flags.length} flags`);
    // The old name stays, hidden, only to be refused (through the bin Node never sees it).
    const old = (f: { command: string; flag: string }) => f.command === 'catalogctl render' && f.flag === '--env-file';
    assert.ok(flags.some(old));
    assert.deepEqual(flags.filter((f) => !old(f) && NODE_READS.test(f.flag)), []);
    // And empirically: every other flag at once after the script name, both forms.
    const visible = [...new Set(flags.filter((f) => !old(f)).map((f) => f.flag))];
    for (const args of [visible.flatMap((f) => [f, hostile]), visible.map((f) => `${f}=${hostile}`)]) {
      const r = node([probe, ...args]);
      assert.equal(r.stdout, JSON.stringify(args));
      assert.ok(!ran(), 'Node acted on one of catalogctl’s flags');
    }
  });

  for (const via of ['bin', 'node'] as const) {
    it(`render --env-path <file Node would act on> runs nothing and exits 2 in one line (${via === 'bin' ? 'the bin' : 'node dist/catalogctl.mjs'})`, async () => {
      const out = join(dir, 'out');
      const r = await runCli(['render', '--env-path', hostile, '--out', out], { bin: via === 'bin' });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `catalogctl: ${hostile}:1:1 must be a YAML mapping of settings\n`);
      assert.ok(!ran(), 'nothing from the file ran');
      await assert.rejects(readdir(out), /ENOENT/);
    });
  }

  it('the old --env-file through the bin: nothing runs, one line naming --env-path', async () => {
    const r = await runCli(['render', '--env-file', hostile], { bin: true });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `catalogctl: --env-file is now --env-path (Node itself reads --env-file): catalogctl render --env-path ${hostile}\n`);
    assert.ok(!ran());
    for (const form of [[`--env-file=${hostile}`], ['--env-file-if-exists', hostile]]) {
      const again = await runCli(['render', ...form], { bin: true });
      assert.equal(again.code, 2);
      assert.ok(!ran(), `${form.join(' ')} through the bin`);
    }
  });
});
