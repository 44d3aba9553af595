import { strict as assert } from 'node:assert';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadEnv } from '../../src/config/load.ts';
import { renderFiles } from '../../src/render/index.ts';
import { runCli } from '../support/cli.ts';

const ENVS = ['dev', 'staging', 'prod'];
const FILES = ['catalog-network.json', 'catalog-observability.json', 'catalog-secrets.json', 'catalog-service.json', 'catalog-storage.json', 'release_state_machine.json', 'state_machine.json'];

describe('render', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'catalogctl-render-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  // templates-out/ is the snapshot: committed, reviewed, and byte-equal to a fresh render.
  for (const env of ENVS) {
    it(`templates-out/${env}/ holds exactly the bytes a fresh render gives`, async () => {
      const files = renderFiles(await loadEnv(env));
      assert.deepEqual([...files.keys()], FILES);
      assert.deepEqual((await readdir(`templates-out/${env}`)).sort(), FILES);
      for (const [name, bytes] of files) {
        const committed = await readFile(`templates-out/${env}/${name}`, 'utf8');
        assert.ok(committed === bytes, `templates-out/${env}/${name} is stale: run \`npx catalogctl render --all\` and review the diff`);
      }
    });
  }

  it('renders the same bytes twice, canonical with a trailing newline', async () => {
    const config = await loadEnv('prod');
    const a = renderFiles(config);
    const b = renderFiles(config);
    assert.deepEqual([...a.entries()], [...b.entries()]);
    for (const bytes of a.values()) {
      assert.ok(bytes.endsWith('}\n'));
      assert.equal(JSON.stringify(JSON.parse(bytes), null, 2) + '\n', bytes);
    }
  });

  it('writes every env with --all through the CLI, then --check passes', async () => {
    const r = await runCli(['render', '--all', '--out', tmp]);
    assert.equal(r.code, 0, r.stderr);
    for (const env of ENVS) assert.deepEqual((await readdir(join(tmp, env))).sort(), FILES);
    assert.match(r.stderr, /dev: 7 written, 0 unchanged/);
    const again = await runCli(['render', '--all', '--out', tmp]);
    assert.match(again.stderr, /prod: 0 written, 7 unchanged/);
    const check = await runCli(['render', '--all', '--check', '--out', tmp]);
    assert.equal(check.code, 0, check.stderr);
  });

  it('--check exits 4 with a unified diff, naming missing and extra files, and writes nothing', async () => {
    await cp('templates-out', tmp, { recursive: true });
    const path = join(tmp, 'dev', 'catalog-network.json');
    const original = await readFile(path, 'utf8');
    await writeFile(path, original.replace('"AWSTemplateFormatVersion"', '"AWSTemplateFormatVersionX"'));
    await rm(join(tmp, 'prod', 'state_machine.json'));
    await writeFile(join(tmp, 'staging', 'old-stack.json'), '{}\n');
    const r = await runCli(['render', '--all', '--check', '--out', tmp]);
    assert.equal(r.code, 4);
    assert.match(r.stdout, /^--- \/.*\/dev\/catalog-network\.json\ton disk$/m);
    assert.match(r.stdout, /^\+\+\+ \/.*\/dev\/catalog-network\.json\trendered$/m);
    assert.doesNotMatch(r.stdout, /^(Index:|====)/m);
    assert.match(r.stdout, /^-\s+"AWSTemplateFormatVersionX"/m);
    assert.match(r.stdout, /^\+\s+"AWSTemplateFormatVersion"/m);
    assert.match(r.stdout, /missing: .*prod\/state_machine\.json/);
    assert.match(r.stdout, /extra: .*staging\/old-stack\.json/);
    assert.match(r.stderr, /3 rendered file\(s\) .* are stale: run `catalogctl render --all --out \/.*`/);
    assert.notEqual(await readFile(path, 'utf8'), original, '--check must not rewrite files');
  });

  it('--check labels relative paths git-style (a/ b/)', async () => {
    const rel = relative(process.cwd(), tmp);
    await cp('templates-out', tmp, { recursive: true });
    const path = join(tmp, 'prod', 'catalog-storage.json');
    await writeFile(path, (await readFile(path, 'utf8')).replace('"BackupRetentionPeriod": 30', '"BackupRetentionPeriod": 14'));
    const r = await runCli(['render', '--env', 'prod', '--check', '--out', rel]);
    assert.equal(r.code, 4);
    assert.match(r.stdout, new RegExp(`^--- a/${rel.replace(/[.]/g, '\\.')}/prod/catalog-storage\\.json\ton disk$`, 'm'));
    assert.match(r.stdout, /^-\s+"BackupRetentionPeriod": 14,$/m);
    assert.match(r.stdout, /^\+\s+"BackupRetentionPeriod": 30,$/m);
  });

  it('exits 2 with file:line:col on a bad env file and writes nothing', async () => {
    const r = await runCli(['render', '--env-path', 'fixtures/envs/bad-cache-size.yaml', '--out', tmp]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'catalogctl: fixtures/envs/bad-cache-size.yaml:36:5 api.cache.sizeGb: must be one of 0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237');
    assert.deepEqual(await readdir(tmp), []);
  });

  it('validates every env before writing any: one bad env leaves the output untouched', async () => {
    const envDir = join(tmp, 'envs');
    await cp('envs', envDir, { recursive: true });
    const prod = await readFile(join(envDir, 'prod.yaml'), 'utf8');
    await writeFile(join(envDir, 'prod.yaml'), prod.replace('backupRetentionDays: 30', 'backupRetentionDays: 31'));
    const out = join(tmp, 'out');
    const r = await runCli(['render', '--all', '--env-dir', envDir, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /prod\.yaml:\d+:3 database\.backupRetentionDays: must be <= 30/);
    await assert.rejects(readdir(out), /ENOENT/);
  });

  // Through the bin: `node dist/catalogctl.mjs … --env-file x` is answered by Node itself (docs/cli-render.md).
  it('answers the old --env-file with one line naming --env-path, without Node reading the file', async () => {
    const r = await runCli(['render', '--env-file', join(tmp, 'nothing-here.yaml'), '--out', join(tmp, 'out')], { bin: true });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `catalogctl: --env-file is now --env-path (Node itself reads --env-file): catalogctl render --env-path ${join(tmp, 'nothing-here.yaml')}\n`);
    await assert.rejects(readdir(join(tmp, 'out')), /ENOENT/);
  });

  it('exits 2 in one line when --out lies under a regular file, for render and --check', async () => {
    await writeFile(join(tmp, 'file'), 'not a directory\n');
    for (const args of [['render', '--env', 'dev', '--out', join(tmp, 'file', 'out')], ['render', '--all', '--check', '--out', join(tmp, 'file')]]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^catalogctl: --out .*: .*\/file is not a directory\n$/);
    }
    assert.equal(await readFile(join(tmp, 'file'), 'utf8'), 'not a directory\n');
  });

  it('rejects conflicting or missing selections with exit 2', async () => {
    assert.equal((await runCli(['render'])).code, 2);
    const both = await runCli(['render', '--env', 'dev', '--all', '--out', tmp]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --env/);
    const unknown = await runCli(['render', '--env', 'qa', '--out', tmp]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--env qa: no envs\/qa\.yaml/);
  });

  it('shows examples in --help', async () => {
    const r = await runCli(['render', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /--check/);
  });
});
