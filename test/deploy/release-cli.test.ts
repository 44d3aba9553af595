import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { createAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { API_FUNCTIONS, STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { deployStacks } from '../../src/deploy/stacks.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';
import { CLI, runCli } from '../support/cli.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, fnName, goLive, putCode, testConfig, type Live } from './stack-fixtures.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

/**
 * The whole `catalogctl release` through the built CLI: the real packager (esbuild, deterministic
 * zips) uploads into the emulator's S3, the miniature stacks (--templates-dir) are updated with the
 * new code keys, `migrate` is invoked, versions are published and traffic shifts.
 * The emulator cannot invoke Lambda code (it needs Docker, and its Docker-less Lambda does not see
 * functions its CloudFormation created), so these runs pass --skip-migrations; invoking `migrate`
 * is covered with a scripted invoker in release-e2e.test.ts.
 */
describe('catalogctl release: the whole pipeline (CLI, emulator)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let config: EnvConfig;
  let aws: AwsApi;
  let live: Live;
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const args = (...more: string[]) => ['release', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, '--templates-dir', dir, '--skip-migrations', ...more];

  before(async () => {
    moto = await getMoto();
  });

  beforeEach(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    await moto.reset();
    config = await testConfig();
    aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-release-'));
    await writeEmulatorEnv(join(dir, 'envs'));
    const templates = fixtureTemplates(config);
    for (const s of STACK_NAMES) await writeFile(join(dir, `${s}.json`), canonicalJson(templates[s]));
    // The first deploy, then what the emulator's CloudFormation skips (aliases, stage, alarms).
    await deployStacks({ config, templates, codeKeys: await putCode(moto, config, 'a') }, { aws, pollMs: 0 });
    live = await goLive(moto, config);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const aliases = () => Promise.all(API_FUNCTIONS.map((fn) => aws.lambda.getAlias(fnName(config, fn), 'live')));

  it('packages, uploads, deploys and promotes with 1 s bakes; diff then shows nothing; status and rollback work from the manifest', async () => {
    const started = Date.now();
    const r = await runCli(args('--bake', '1'), { env });
    const ms = Date.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^release r\S+: promoted \(catalog-dev-list-datasets v2, catalog-dev-get-dataset v2, catalog-dev-write-dataset v2, catalog-dev-authorizer v2\)\n$/);
    for (const step of ['packaging and uploading the code', 'deploying the stacks', 'catalog-service: updated', 'migrations skipped (--skip-migrations)', '10% of traffic', '50% of traffic', '100% of traffic on the new versions', 'catalog-service: recorded what serves now'])
      assert.ok(r.stderr.includes(step), step);
    assert.ok(r.stderr.indexOf('50% of traffic') > r.stderr.indexOf('10% of traffic'));
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));
    // Version 2 runs the zip the packager built (its key is the sha256 of its bytes).
    const manifest = JSON.parse(await readFile(`.build/${config.name}/manifest.json`, 'utf8')) as { functions: Record<string, { key: string }> };
    const fn = await new LambdaClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS }).send(new GetFunctionCommand({ FunctionName: fnName(config, 'get-dataset'), Qualifier: '2' }));
    assert.ok(fn.Code!.Location!.endsWith(manifest.functions['get-dataset']!.key), fn.Code!.Location);
    assert.ok(ms >= 2000, `two 1 s bakes took place (${ms} ms)`);
    process.stdout.write(`      (catalogctl release --bake 1, incl. packaging and two 1 s bakes, against the emulator: ${ms} ms)\n`);
    const diff = await runCli(['diff', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, '--templates-dir', dir, '--artifacts', `.build/${config.name}/manifest.json`], { env });
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stdout, STACK_NAMES.map((st) => `${st}: no changes\n`).join('\n'));

    const st = await runCli(['status', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint], { env });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /catalog-dev-list-datasets {2}v2 100%/);
    const rb = await runCli(['rollback', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint], { env });
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.equal((await aws.apigateway.getStage(live.restApiId, config.api.stageName)).deploymentId, live.deploymentId);
  });

  it('SIGINT during the shift restores the previous versions and stage and exits 130', async () => {
    const child = spawn(process.execPath, [CLI, ...args('--bake', '60')], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((res) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('10% of traffic on the new versions') && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (c) => res(c));
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted at 10%: restoring the previous versions/);
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.equal((await aws.apigateway.getStage(live.restApiId, config.api.stageName)).deploymentId, live.deploymentId);
  });
});
