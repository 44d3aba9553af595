/**
 * Env dirs and env files as a whole: `extends` (merge rules, errors in the file holding the value,
 * cycles, missing bases), `.yml`, `_` bases left out of `--all`, envs that would share stacks or an
 * artifact prefix, files that are not regular files, and the size and YAML budgets.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvFileError, listEnvs, loadEnv, loadEnvFile, loadEnvs } from '../../src/config/load.ts';
import { MAX_ENV_FILE_BYTES } from '../../src/config/read.ts';
import { MAX_DEPTH, MAX_ENTRIES } from '../../src/config/yaml.ts';
import { loadSelected } from '../../src/render/index.ts';
import { runCli } from '../support/cli.ts';

/** The rejection of a promise, which must be an EnvFileError. */
async function envError(p: Promise<unknown>): Promise<EnvFileError> {
  const err = await p.then(
    () => assert.fail('expected an EnvFileError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EnvFileError, String((err as Error)?.stack ?? err));
  return err;
}

describe('env dirs', () => {
  let dir: string;
  let shown: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-envdir-'));
    shown = dir; // outside the working directory: shown absolute
    await cp('envs', dir, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('extends', () => {
    it('merges mappings key by key, replaces lists and scalars, and null removes an inherited key', async () => {
      const dev = await loadEnv('dev', { envDir: dir });
      assert.deepEqual(Object.keys(dev.tags), ['Service', 'Owner', 'Environment'], 'base keys first, then the env’s');
      assert.equal(dev.database.engineVersion, '17.9', 'from the base');
      assert.equal(dev.database.instanceClass, 'db.t4g.medium', 'the env overrides');
      assert.equal(dev.api.cache.sizeGb, undefined, 'sizeGb: null removed the base value');
      assert.equal(dev.api.cache.ttlSeconds, 60, 'siblings of a removed key stay');
      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('release:\n', 'release:\n  trafficSteps: [100]\n'));
      assert.deepEqual((await loadEnv('dev', { envDir: dir })).release.trafficSteps, [100], 'a list replaces the base list whole');
    });

    it('reports a bad value in the base at its place in the base, and one in the env in the env', async () => {
      const base = join(dir, '_base.yaml');
      await writeFile(base, (await readFile(base, 'utf8')).replace('backupRetentionDays: 14', 'backupRetentionDays: 40'));
      await writeFile(join(dir, 'staging.yaml'), (await readFile(join(dir, 'staging.yaml'), 'utf8')).replace('stageName: staging', 'stageName: stag-ing'));
      const err = await envError(loadEnv('staging', { envDir: dir }));
      assert.deepEqual(
        err.message.split('\n'),
        [`${shown}/staging.yaml:12:3 api.stageName: must be letters, digits or _ (API Gateway stage names)`, `${shown}/_base.yaml:18:3 database.backupRetentionDays: must be <= 30`],
        'the env’s own file first, then the base, each sorted by position',
      );
      // dev overrides backupRetentionDays: the base's bad value never reaches it.
      await loadEnv('dev', { envDir: dir });
    });

    it('names a missing base where extends names it, and refuses cycles and non-string extends', async () => {
      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('extends: _base.yaml', 'extends: _nope.yaml'));
      let err = await envError(loadEnv('dev', { envDir: dir }));
      assert.equal(err.message, `${shown}/dev.yaml:2:10 extends: ${shown}/_nope.yaml: cannot read env file (ENOENT)`);

      await writeFile(join(dir, '_a.yaml'), 'extends: _b.yaml\n');
      await writeFile(join(dir, '_b.yaml'), '# b\nextends: ./_a.yaml\n');
      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('extends: _nope.yaml', 'extends: _a.yaml'));
      err = await envError(loadEnv('dev', { envDir: dir }));
      assert.equal(err.message, `${shown}/_b.yaml:2:10 extends: extends cycle: ${shown}/dev.yaml → ${shown}/_a.yaml → ${shown}/_b.yaml → ${shown}/_a.yaml`);

      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('extends: _a.yaml', 'extends: [_base.yaml]'));
      err = await envError(loadEnv('dev', { envDir: dir }));
      assert.match(err.message, /dev\.yaml:2:10 extends: must be the path of a base env file, relative to this file$/);
    });

    it('refuses a base that is not a regular file, at the extends line', async () => {
      await mkdir(join(dir, '_dir.yaml'));
      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('extends: _base.yaml', 'extends: _dir.yaml'));
      const err = await envError(loadEnv('dev', { envDir: dir }));
      assert.equal(err.message, `${shown}/dev.yaml:2:10 extends: ${shown}/_dir.yaml: not a regular file (a directory): env files must be regular files`);
    });
  });

  describe('which files are envs', () => {
    it('takes .yml as an env file, leaves _ bases out, and refuses two files for one env', async () => {
      await writeFile(join(dir, 'qa.yml'), (await readFile(join(dir, 'staging.yaml'), 'utf8')).replace('name: staging', 'name: qa').replace('stageName: staging', 'stageName: qa').replace('catalog/staging', 'catalog/qa').replace('"222222222222"', '"444444444444"'));
      assert.deepEqual(await listEnvs(dir), ['dev', 'prod', 'qa', 'staging']);
      assert.equal((await loadEnv('qa', { envDir: dir })).name, 'qa');
      await writeFile(join(dir, 'qa.yaml'), 'name: qa\n');
      await assert.rejects(listEnvs(dir), { message: `${join(dir, 'qa.yaml')} and ${join(dir, 'qa.yml')} both define env qa: keep one` });
      const r = await runCli(['render', '--all', '--env-dir', dir, '--out', join(dir, 'out')]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `catalogctl: ${join(dir, 'qa.yaml')} and ${join(dir, 'qa.yml')} both define env qa: keep one\n`);
    });

    it('renders a file anywhere with --env-path, resolving extends next to it', async () => {
      const configs = await loadSelected({ envPath: join(dir, 'prod.yaml') });
      assert.equal(configs[0]!.lambda.provisionedConcurrency, 20);
    });
  });

  describe('envs that would act on each other', () => {
    const qa = async () => (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('name: dev', 'name: qa').replace('stageName: dev', 'stageName: qa');

    it('refuses two envs with the same account, region and stackPrefix, naming both files and the key (render and validate)', async () => {
      await writeFile(join(dir, 'qa.yaml'), (await qa()).replace('prefix: catalog/dev', 'prefix: catalog/qa'));
      const err = await envError(loadEnvs(['dev'], { envDir: dir }));
      assert.equal(
        err.message,
        `${shown}/qa.yaml:5:3 account.id: same account 111111111111, region us-east-1 and stackPrefix catalog as ${shown}/dev.yaml: both would use the stacks catalog-network, …; give one env its own stackPrefix`,
      );
      for (const cmd of [['render', '--env', 'dev', '--out', join(dir, 'out')], ['validate', '--env', 'qa']]) {
        const r = await runCli([...cmd, '--env-dir', dir]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr, `catalogctl: ${err.message}\n`);
      }
      // A distinct stackPrefix settles it; the error then points at it if it were the same again.
      await writeFile(join(dir, 'qa.yaml'), (await qa()).replace('prefix: catalog/dev', 'prefix: catalog/qa').replace('name: qa', 'name: qa\nstackPrefix: catalog-qa'));
      assert.equal((await loadEnvs(['dev', 'qa'], { envDir: dir }))[1]!.stackPrefix, 'catalog-qa');
    });

    it('refuses the same or a nested artifact prefix in one bucket', async () => {
      await writeFile(join(dir, 'qa.yaml'), (await qa()).replace('name: qa', 'name: qa\nstackPrefix: catalog-qa'));
      let err = await envError(loadEnvs(['dev', 'qa'], { envDir: dir }));
      assert.match(err.message, /qa\.yaml:\d+:3 artifacts\.prefix: same artifact prefix as .*\/dev\.yaml \(s3:\/\/catalog-artifacts-111111111111-us-east-1\/catalog\/dev\): release manifests and the release lock live there/);
      await writeFile(join(dir, 'qa.yaml'), (await qa()).replace('name: qa', 'name: qa\nstackPrefix: catalog-qa').replace('prefix: catalog/dev', 'prefix: catalog/dev/qa'));
      err = await envError(loadEnvs(['qa'], { envDir: dir }));
      assert.match(err.message, /artifacts\.prefix: nested artifact prefix as/);
      // Another bucket, or a sibling prefix, is fine.
      await writeFile(join(dir, 'qa.yaml'), (await qa()).replace('name: qa', 'name: qa\nstackPrefix: catalog-qa').replace('prefix: catalog/dev', 'prefix: catalog/dev-qa'));
      await loadEnvs(['dev', 'qa'], { envDir: dir });
    });

    it('skips an env it cannot read when checking others, and --all still reports that env', async () => {
      await writeFile(join(dir, 'qa.yaml'), 'name: qa\naccount: [\n');
      await loadEnvs(['dev'], { envDir: dir });
      const r = await runCli(['render', '--all', '--env-dir', dir, '--out', join(dir, 'out')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /qa\.yaml:2:10 YAML: this flow sequence \[ is never closed/);
    });
  });

  describe('every command that loads an env file', () => {
    // One exit code for one kind of problem: a bad env file is bad input everywhere, found before
    // any AWS call, database or server starts (the endpoint below would refuse connections anyway).
    it('answers a bad one with exit 2 and its problems, one per line', async () => {
      await writeFile(join(dir, 'dev.yaml'), (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('multiAz: false', 'multiAz: nope').replace('stageName: dev', 'stageNme: dev'));
      const expected = `catalogctl: ${shown}/dev.yaml:15:3 database.multiAz: must be a boolean (true or false)\n${shown}/dev.yaml:25:3 api.stageNme: unknown key (did you mean stageName?)\n`;
      const aws = { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
      const commands = [
        ['render', '--env', 'dev', '--out', join(dir, 'out')],
        ['validate', '--env', 'dev'],
        ['package', '--env', 'dev', '--out', join(dir, 'build')],
        ['diff', '--env', 'dev'],
        ['deploy', '--env', 'dev'],
        ['release', '--env', 'dev', '--approve'],
        ['rollback', '--env', 'dev'],
        ['status', '--env', 'dev'],
        ['verify', '--env', 'dev'],
        ['local', '--env', 'dev', '--port', '0'],
      ];
      for (const args of commands) {
        const r = await runCli([...args, '--env-dir', dir], { env: aws, timeoutMs: 30_000 });
        assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
        assert.equal(r.stderr, expected, args[0]);
      }
      await assert.rejects(readFile(join(dir, 'out')), /ENOENT/);
      await assert.rejects(readFile(join(dir, 'build')), /ENOENT/);
    });
  });

  describe('files that are not env files', () => {
    // Each of these once hung or crashed the CLI; a timeout here means it blocks again.
    it('refuses a FIFO, /dev/zero and a directory at once, without blocking', async () => {
      const fifo = join(dir, 'pipe.yaml');
      execFileSync('mkfifo', [fifo]);
      await mkdir(join(dir, 'folder.yaml'));
      const cases: [string, string][] = [
        [fifo, 'not a regular file (a FIFO)'],
        ['/dev/zero', 'not a regular file (a character device)'],
        [join(dir, 'folder.yaml'), 'not a regular file (a directory)'],
      ];
      for (const [path, why] of cases) {
        const err = await envError(loadEnvFile(path));
        assert.equal(err.message, `${path}: ${why}: env files must be regular files`);
        const r = await runCli(['render', '--env-path', path, '--out', join(dir, 'out')], { timeoutMs: 10_000 });
        assert.equal(r.code, 2, `${path}: ${r.stderr}`);
        assert.equal(r.stderr, `catalogctl: ${err.message}\n`);
      }
    });

    it(`refuses files over ${MAX_ENV_FILE_BYTES / 1024} KiB before parsing them`, async () => {
      const big = join(dir, 'big.yaml');
      await writeFile(big, `# ${'x'.repeat(MAX_ENV_FILE_BYTES)}\n`);
      const err = await envError(loadEnvFile(big));
      assert.equal(err.message, `${big}: ${MAX_ENV_FILE_BYTES + 3} bytes: env files are limited to 256 KiB`);
    });

    it('refuses nesting past the depth budget and collections past the entry budget, at their start', async () => {
      const deep = join(dir, 'deep.yaml');
      await writeFile(deep, `name: dev\ntags: ${'['.repeat(MAX_DEPTH + 5)}${']'.repeat(MAX_DEPTH + 5)}\n`);
      let err = await envError(loadEnvFile(deep));
      assert.equal(err.message, `${deep}:2:${7 + MAX_DEPTH - 1} YAML: nested more than ${MAX_DEPTH} levels deep`);
      const wide = join(dir, 'wide.yaml');
      await writeFile(wide, `name: dev\ntags:\n${Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => `  k${i}: v\n`).join('')}`);
      err = await envError(loadEnvFile(wide));
      assert.equal(err.message, `${wide}:3:3 YAML: more than ${MAX_ENTRIES} entries in one mapping`);
    });

    it('shows at most 20 problems and counts the rest', async () => {
      const many = join(dir, 'many.yaml');
      await writeFile(many, `name: dev\n${Array.from({ length: 30 }, (_, i) => `extra${i}: 1\n`).join('')}`);
      const err = await envError(loadEnvFile(many));
      const lines = err.message.split('\n');
      assert.equal(lines.length, 21);
      assert.equal(lines[20], `${many}: 24 more problem(s) not shown`);
      assert.equal(err.problems.length, 44, '30 unknown keys and 14 missing sections');
    });
  });
});
