import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvFileError, loadEnv, loadEnvFile, parseEnvConfig } from '../../src/config/load.ts';
import { ExitCode } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';

/** fixture → [line, col, key path, message fragment] of its first problem. Every broken file must be listed here. */
const BROKEN: Record<string, [number, number, string, string]> = {
  'alias-bomb.yaml': [10, 38, '', 'YAML: aliases expand the document past 10000 nodes'],
  'aws-tag-key.yaml': [10, 3, 'tags.AWS:cost-center', 'tag keys starting with aws: are reserved for AWS'],
  'aws-tag-value.yaml': [8, 3, 'tags.Owner', 'tag values starting with aws: are reserved for AWS'],
  'az-of-other-region.yaml': [14, 23, 'network.availabilityZones[0]', 'must be an Availability Zone of us-east-1'],
  'backup-retention.yaml': [21, 3, 'database.backupRetentionDays', 'must be <= 30'],
  'bad-cache-size.yaml': [36, 5, 'api.cache.sizeGb', 'must be one of 0.5, 1.6, 6.1'],
  'bad-instance-class.yaml': [16, 3, 'database.instanceClass', 'RDS instance class'],
  'bad-region.yaml': [5, 3, 'account.region', 'is not an AWS region (e.g. '],
  'bidi-in-tag.yaml': [8, 18, '', 'bidirectional control character U+202E is not allowed'],
  'bucket-reserved-suffix.yaml': [87, 3, 'artifacts.bucket', 'S3 bucket name'],
  'cache-enabled-without-size.yaml': [35, 5, 'api.cache.enabled', 'sizeGb is missing'],
  'deprecated-runtime.yaml': [42, 3, 'lambda.runtime', 'must be one of nodejs22.x, nodejs24.x'],
  'duplicate-key.yaml': [3, 1, '', 'Map keys must be unique'],
  'duplicate-route-override.yaml': [35, 9, 'api.throttling.routes[1]', 'duplicate override'],
  'invalid-utf8.yaml': [8, 20, '', 'invalid UTF-8 (byte 0xf6)'],
  'jwks-not-https.yaml': [62, 3, 'auth.jwksUri', 'https://'],
  'jwks-port.yaml': [62, 3, 'auth.jwksUri', 'port 1–65535'],
  'log-retention.yaml': [79, 3, 'logging.retentionDays', 'must be one of 1, 3, 5, 7, 14, 30'],
  'many-problems.yaml': [5, 3, 'account.region', 'is not an AWS region (did you mean us-east-1?)'],
  'max-storage-below-allocated.yaml': [18, 3, 'database.maxAllocatedStorageGb', '>= allocatedStorageGb (50)'],
  'misaligned-subnet.yaml': [13, 24, 'network.privateSubnetCidrs[0]', 'host bits are set: did you mean 10.10.1.0/24?'],
  'missing-db-max-conn.yaml': [55, 1, 'app', 'missing required key dbMaxConn'],
  'misspelled-nested.yaml': [21, 3, 'database.backupRetentionDay', 'unknown key (did you mean backupRetentionDays?)'],
  'misspelled-section.yaml': [41, 1, 'lamda', 'unknown key (did you mean lambda?)'],
  'multiaz-not-boolean.yaml': [19, 3, 'database.multiAz', 'must be a boolean'],
  'nul-in-audience.yaml': [64, 13, 'auth.audience', 'control character U+0000 is not allowed'],
  'prefix-newline.yaml': [88, 11, 'artifacts.prefix', 'control character U+000A is not allowed'],
  'prefix-wildcard.yaml': [88, 3, 'artifacts.prefix', 'no * or ?'],
  'prod-without-approval.yaml': [85, 3, 'release.requireApproval', 'must be true for prod'],
  'provisioned-over-limit.yaml': [44, 3, 'lambda.provisionedConcurrency', '<= accountConcurrencyLimit (500)'],
  'region-typo.yaml': [5, 3, 'account.region', 'is not an AWS region (did you mean us-east-1?)'],
  'short-account-id.yaml': [4, 3, 'account.id', '12-digit'],
  'steps-decreasing.yaml': [82, 22, 'release.trafficSteps[1]', 'strictly increasing'],
  'steps-not-ending-at-100.yaml': [82, 3, 'release.trafficSteps', 'last traffic step must be 100'],
  'subnet-outside-vpc.yaml': [13, 38, 'network.privateSubnetCidrs[1]', 'inside vpcCidr'],
  'timeout-too-long.yaml': [48, 35, 'lambda.functions.get-dataset.timeoutSeconds', 'must be <= 900'],
  'too-many-tags.yaml': [6, 1, 'tags', 'at most 40 tags: AWS allows 50 per resource'],
  'unclosed-quote.yaml': [64, 13, '', 'YAML: this "-quoted string is never closed'],
  'undefined-alias.yaml': [47, 20, '', 'YAML: undefined alias *big'],
  'unknown-key.yaml': [37, 5, 'api.cache.sizeGB', 'unknown key (did you mean sizeGb?)'],
  'unquoted-version.yaml': [15, 3, 'database.engineVersion', 'must be a string: quote it ("17.90")'],
  'vpc-cidr-too-large.yaml': [12, 3, 'network.vpcCidr', 'IPv4 CIDR'],
  'wrong-partition-bus.yaml': [66, 3, 'evidenceLedger.busArn', 'region cn-north-1 is not a region of partition aws'],
  'yaml-syntax-error.yaml': [2, 10, '', 'YAML: this flow sequence [ is never closed (no matching ])'],
};

/** Fixtures whose every problem is checked, in order. */
const ALL_PROBLEMS: Record<string, string[]> = {
  'many-problems.yaml': [
    '5:3 account.region: is not an AWS region (did you mean us-east-1?)',
    '15:3 database.engineVersion: must be a string: quote it ("17.9")',
    '19:3 database.multiAz: must be a boolean (true or false)',
    '55:1 ap: unknown key (did you mean app?)',
    '88:3 artifacts.prefix: must be an S3 key prefix',
  ],
  'az-of-other-region.yaml': ['14:23 network.availabilityZones[0]: must be an Availability Zone of us-east-1', '14:35 network.availabilityZones[1]: must be an Availability Zone of us-east-1'],
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
    const files = (await readdir('fixtures/envs')).filter((f) => f.endsWith('.yaml') && !f.startsWith('_')).sort();
    assert.deepEqual(files, Object.keys(BROKEN).sort());
    assert.ok(files.length >= 40);
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
      if (!ALL_PROBLEMS[file]) assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    });
  }

  for (const [file, expected] of Object.entries(ALL_PROBLEMS)) {
    it(`reports every problem of ${file} at once, sorted by position`, async () => {
      const path = `fixtures/envs/${file}`;
      const err = await loadEnvFile(path).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EnvFileError, String(err));
      const lines = err.message.split('\n');
      assert.equal(lines.length, expected.length, err.message);
      expected.forEach((want, i) => assert.ok(lines[i]!.startsWith(`${path}:${want}`), `${lines[i]} should start with ${path}:${want}`));
    });
  }

  it('requires the name inside envs/<name>.yaml to match the file', async () => {
    const text = (await readFile('envs/dev.yaml', 'utf8')).replace('name: dev', 'name: qa');
    assert.throws(() => parseEnvConfig(text, 'envs/dev.yaml', { expectName: 'dev' }), / envs\/dev\.yaml:3:7 name: must be dev to match the file name$/);
  });

  it('names unknown environments and lists the known ones', async () => {
    await assert.rejects(loadEnv('qa'), /--env qa: no envs\/qa\.yaml \(known: dev, prod, staging\)/);
  });

  it('accepts an adopted VPC and rejects a single subnet', async () => {
    const text = (await readFile('envs/dev.yaml', 'utf8')).replace(
      /network:\n( {2}.*\n)+?database:/,
      'network:\n  mode: adopt\n  vpcId: vpc-0abc1234\n  subnetIds: [subnet-0abc1234, subnet-0abc5678]\n  routeTableIds: [rtb-0abc1234]\ndatabase:',
    );
    const c = parseEnvConfig(text, 'envs/adopt.yaml');
    assert.equal(c.network.mode, 'adopt');
    const one = text.replace('[subnet-0abc1234, subnet-0abc5678]', '[subnet-0abc1234]');
    assert.throws(() => parseEnvConfig(one, 'envs/adopt.yaml'), / envs\/adopt\.yaml:\d+:3 network\.subnetIds: must NOT have fewer than 2 items$/);
  });
});

// The same fixtures through the built CLI, as a user meets them: one line on stderr, exit 2, no
// stack trace, nothing written.
describe('render --env-path <broken fixture> (built CLI)', () => {
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
      const r = await runCli(['render', '--env-path', path, '--out', out]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, ALL_PROBLEMS[file]?.length ?? 1, `one line per problem, no stack trace: ${r.stderr}`);
      for (const l of lines.slice(1)) assert.ok(l.startsWith(`${path}:`), l);
      assert.ok(lines[0]!.startsWith(`catalogctl: ${path}:${line}:${col} ${key ? `${key}: ` : ''}`), lines[0]);
      assert.ok(lines[0]!.includes(fragment), `${lines[0]} should mention ${fragment}`);
      await assert.rejects(readdir(out), /ENOENT/, 'nothing written');
    });
  }
});
