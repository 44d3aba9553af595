/**
 * `release --on aws`: the rendered release state machine run by the Step Functions stand-in
 * (test/support/sfn-local.ts: aws-local-stepfunctions in this process, its SDK tasks calling the
 * emulator through the real AWS SDK), started and followed by the built CLI through
 * AWS_ENDPOINT_URL_SFN, so the execution lives outside the CLI's process as it does in AWS.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import { readManifest, readReleaseLock } from '../../src/deploy/release.ts';
import { buildReleaseStateMachine } from '../../src/templates/release-state-machine.ts';
import { CLI, runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, type Moto } from '../support/moto.ts';
import { startSfnLocal, type SfnLocal } from '../support/sfn-local.ts';
import { createFixture, createOutputStacks, type Fixture } from './fixture.ts';

const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];
const MACHINE = `arn:aws:states:us-east-1:${MOTO_ACCOUNT_ID}:stateMachine:catalog-dev-release`;

describe('release --on aws: the shift run by the release state machine (CLI, emulator, Step Functions stand-in)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let sfn: SfnLocal;
  let fx: Fixture;
  let aws: AwsApi;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Awaited<ReturnType<typeof loadEnv>>;
  const args = (cmd: string, ...more: string[]) => [cmd, ...(cmd === 'release' && !more.includes('--follow') ? ['--skip-deploy'] : []), '--env', 'dev', '--env-dir', dir, '--endpoint-url', moto.endpoint, ...more];

  before(async () => {
    moto = await getMoto();
  });

  beforeEach(async () => {
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    fx = await createFixture(moto, FUNCTIONS);
    await createOutputStacks(moto, fx, FUNCTIONS, { ReleaseStateMachineArn: MACHINE });
    aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-server-shift-'));
    const yaml = (await readFile('envs/dev.yaml', 'utf8')).replaceAll('111111111111', MOTO_ACCOUNT_ID).replace(/bucket: .*/, 'bucket: catalog-artifacts');
    await writeFile(join(dir, 'dev.yaml'), yaml);
    await writeFile(join(dir, '_base.yaml'), await readFile('envs/_base.yaml', 'utf8'));
    config = await loadEnv('dev', { envDir: dir });
    // What catalog-service deploys: the rendered definition, as the stand-in's state machine.
    sfn = await startSfnLocal({ awsEndpoint: moto.endpoint, region: moto.region });
    sfn.register(MACHINE, buildReleaseStateMachine(config));
    env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: moto.region, AWS_ENDPOINT_URL_SFN: sfn.endpoint };
    await fx.changeFunctions('r2');
  });
  afterEach(async () => {
    await sfn.close();
    await rm(dir, { recursive: true, force: true });
  });

  const aliases = () => Promise.all(FUNCTIONS.map((fn) => aws.lambda.getAlias(fn, 'live')));
  const stage = () => aws.apigateway.getStage(fx.restApiId, fx.stageName);
  const onlyExecution = () => {
    const all = sfn.executions();
    assert.equal(all.length, 1, 'one execution');
    return all[0]!;
  };

  /** The CLI in the background, its stderr watched for a line. */
  function background(argv: string[]): { child: ChildProcess; stderr: () => string; saw: (text: string) => Promise<void>; exit: Promise<number | null>; stdout: () => string } {
    const child = spawn(process.execPath, [CLI, ...argv], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let out = '';
    const waiters: { text: string; resolve: () => void }[] = [];
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      for (const w of waiters.filter((x) => err.includes(x.text))) w.resolve();
    });
    const exit = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    return {
      child,
      stderr: () => err,
      stdout: () => out,
      exit,
      saw: (text) =>
        err.includes(text)
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              waiters.push({ text, resolve });
              void exit.then(() => (err.includes(text) ? resolve() : reject(new Error(`CLI ended without "${text}":\n${err}`))));
            }),
    };
  }

  it('clean release: aliases at 100 % with no weights, the stage moved, the record written by the execution, the lock gone', async () => {
    const r = await runCli(args('release', '--on', 'aws', '--bake', '1'), { env });
    assert.equal(r.code, 0, r.stderr);
    const id = /^release (r\S+): promoted \(catalog-list-datasets v2, catalog-get-dataset v2, catalog-write-dataset v2, catalog-authorizer v2\)\n$/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    // The same progress the CLI's own shift prints, from the execution's history.
    const lines = r.stderr.split('\n');
    const from = lines.findIndex((l) => l.startsWith('▸ release r'));
    assert.deepEqual(lines.slice(from), [
      `▸ release ${id}: shifting 4 functions through 10/50/100%`,
      `▸ the shift runs in AWS Step Functions: execution ${MACHINE.replace(':stateMachine:', ':execution:')}:${id}`,
      '▸ 10% of traffic on the new versions',
      '… 10%: baking, 1 s left · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '… 10%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '▸ 50% of traffic on the new versions',
      '… 50%: baking, 1 s left · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '… 50%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '▸ 100% of traffic on the new versions',
      '… 100%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '',
    ]);
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));
    const st = await stage();
    assert.notEqual(st.deploymentId, fx.deploymentId);
    assert.deepEqual(st.variables, config.api.stageVariables, "exactly the env's stage variables");
    const ex = onlyExecution();
    assert.equal(ex.status, 'SUCCEEDED');
    const m = await readManifest(aws, config, id);
    assert.equal(m?.outcome, 'promoted');
    assert.equal(m?.execution, ex.executionArn);
    assert.ok(m?.finishedAt);
    assert.deepEqual(await readManifest(aws, config, 'latest'), m);
    assert.equal(await readReleaseLock(aws, config), undefined, 'the execution removed the lock');
  });
});
