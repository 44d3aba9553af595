import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvFileError, loadEnv, loadEnvFile, parseEnvConfig } from '../../src/config/load.ts';
import { ExitCode } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';

/** fixture → [line, col, key path, message fragment]. Every broken file must be listed here. */
const BROKEN: Record<string, [number, number, string, string]> = {
  'backup-retention.yaml': [21, 3, 'database.backupRetentionDays', 'must be <= 30'],
  'bad-cache-size.yaml': [36, 5, 'api.cache.sizeGb', 'must be one of 0.5, 1.6, 6.1'],
  'bad-instance-class.yaml': [16, 3, 'database.instanceClass', 'RDS instance class'],
  'bad-region.yaml': [5, 3, 'account.region', 'AWS region'],
  'cache-enabled-without-size.yaml': [35, 5, 'api.cache.enabled', 'sizeGb is missing'],
  'deprecated-runtime.yaml': [42, 3, 'lambda.runtime', 'must be one of nodejs22.x, nodejs24.x'],
  'duplicate-key.yaml': [3, 1, '', 'Map keys must be unique'],
  'duplicate-route-override.yaml': [35, 9, 'api.throttling.routes[1]', 'duplicate override'],
  'jwks-not-https.yaml': [62, 3, 'auth.jwksUri', 'https://'],
  'log-retention.yaml': [79, 3, 'logging.retentionDays', 'must be one of 1, 3, 5, 7, 14, 30'],
  'max-storage-below-allocated.yaml': [18, 3, 'database.maxAllocatedStorageGb', '>= allocatedStorageGb (50)'],
  'missing-db-max-conn.yaml': [55, 1, 'app', 'missing required key dbMaxConn'],
  'multiaz-not-boolean.yaml': [19, 3, 'database.multiAz', 'must be boolean'],
  'prod-without-approval.yaml': [85, 3, 'release.requireApproval', 'must be true for prod'],
  'provisioned-over-limit.yaml': [44, 3, 'lambda.provisionedConcurrency', '<= accountConcurrencyLimit (500)'],
  'short-account-id.yaml': [4, 3, 'account.id', '12-digit'],
  'steps-decreasing.yaml': [82, 22, 'release.trafficSteps[1]', 'strictly increasing'],
  'steps-not-ending-at-100.yaml': [82, 3, 'release.trafficSteps', 'last traffic step must be 100'],
  'subnet-outside-vpc.yaml': [13, 38, 'network.privateSubnetCidrs[1]', 'inside vpcCidr'],
  'timeout-too-long.yaml': [48, 35, 'lambda.functions.get-dataset.timeoutSeconds', 'must be <= 900'],
  'unknown-key.yaml': [37, 5, 'api.cache.sizeGB', 'unknown key (allowed: enabled, sizeGb, ttlSeconds)'],
  'vpc-cidr-too-large.yaml': [12, 3, 'network.vpcCidr', 'IPv4 CIDR'],
  'yaml-syntax-error.yaml': [3, 1, '', 'YAML:'],
};

describe('env files', () => {
  it('loads dev, staging and prod, frozen, with the per-env settings of the seed', async () => {
    const [dev, staging, prod] = await Promise.all([loadEnv('dev'), loadEnv('staging'), loadEnv('prod')]);
    assert.equal(dev.database.multiAz, false);
    assert.equal(staging.database.multiAz, true);
    assert.equal(prod.database.multiAz, true);
    assert.deepEqual([dev, staging, prod].map((c) => c.lambda.provisionedConcurrency), [0, 5, 20]);
    assert.deepEqual([dev, staging, prod].map((c) => c.api.cache.enabled), [false, true, true]);
    assert.equal(prod.release.requireApproval, true);
    assert.deepEqual(prod.release.trafficSteps, [10, 50, 100]);
    assert.ok(Object.isFrozen(prod.database));
    assert.throws(() => {
      (prod.database as { multiAz: boolean }).multiAz = false;
    }, TypeError);
  });

  it('has a test case for every broken fixture (at least 15)', async () => {
    const files = (await readdir('fixtures/envs')).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, Object.keys(BROKEN).sort());
    assert.ok(files.length >= 15);
  });

  for (const [file, [line, col, key, fragment]] of Object.entries(BROKEN)) {
    it(`rejects ${file} at ${line}:${col} ${key || '(syntax)'}`, async () => {
      const path = `fixtures/envs/${file}`;
      const err = await loadEnvFile(path).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EnvFileError, String(err));
      assert.equal(err.exitCode, ExitCode.BadInput);
      assert.equal(err.file, path);
      assert.deepEqual([err.line, err.col, err.keyPath], [line, col, key]);
      assert.ok(err.message.startsWith(`${path}:${line}:${col} `), err.message);
      assert.ok(err.message.includes(fragment), `${err.message} should mention ${fragment}`);
      assert.ok(!err.message.includes('\n'), 'one line');
    });
  }

  it('requires the name inside envs/<name>.yaml to match the file', async () => {
    const text = (await readFile('envs/dev.yaml', 'utf8')).replace('name: dev', 'name: qa');
    assert.throws(() => parseEnvConfig(text, 'envs/dev.yaml', { expectName: 'dev' }), /envs\/dev\.yaml:2:7 name: must be dev/);
  });

  it('names unknown environments and lists the known ones', async () => {
    await assert.rejects(loadEnv('qa'), /--env qa: no envs\/qa\.yaml \(known: dev, prod, staging\)/);
  });

  it('accepts an adopted VPC and rejects a single subnet', async () => {
    const text = (await readFile('envs/dev.yaml', 'utf8')).replace(
      /network:\n( {2}.*\n)+?database:/,
      'network:\n  mode: adopt\n  vpcId: vpc-0abc1234\n  subnetIds: [subnet-0abc1234, subnet-0abc5678]\n  routeTableIds: [rtb-0abc1234]\ndatabase:',
    );
    const c = parseEnvConfig(text, 'adopt.yaml');
    assert.equal(c.network.mode, 'adopt');
    const one = text.replace('[subnet-0abc1234, subnet-0abc5678]', '[subnet-0abc1234]');
    assert.throws(() => parseEnvConfig(one, 'adopt.yaml'), /adopt\.yaml:\d+:3 network\.subnetIds: must NOT have fewer than 2 items/);
  });
});

// The same fixtures through the built CLI, as a user meets them: one line on stderr, exit 2, no
// stack trace, nothing written.
describe('render --env-file <broken fixture> (built CLI)', () => {
  let out: string;
  before(async () => {
    out = join(await mkdtemp(join(tmpdir(), 'catalogctl-broken-')), 'out');
  });
  after(async () => {
    await rm(join(out, '..'), { recursive: true, force: true });
  });

  for (const [file, [line, col, key, fragment]] of Object.entries(BROKEN)) {
    it(`${file}: exit 2, ${line}:${col} ${key || '(syntax)'}`, async () => {
      const path = `fixtures/envs/${file}`;
      const r = await runCli(['render', '--env-file', path, '--out', out]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line, no stack trace: ${r.stderr}`);
      assert.ok(lines[0]!.startsWith(`catalogctl: ${path}:${line}:${col} ${key ? `${key}: ` : ''}`), lines[0]);
      assert.ok(lines[0]!.includes(fragment), `${lines[0]} should mention ${fragment}`);
      await assert.rejects(readdir(out), /ENOENT/, 'nothing written');
    });
  }
});
