import { strict as assert } from 'node:assert';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CloudWatchClient, PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { createGuardedAwsApi, type AwsApi } from '../../src/aws/index.ts';
import type { InvokeResult } from '../../src/aws/lambda.ts';
import { API_FUNCTIONS, STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { readManifest, release, rollback } from '../../src/deploy/release.ts';
import { formatPlans } from '../../src/deploy/print-plan.ts';
import { deployStacks, diffStacks } from '../../src/deploy/stacks.ts';
import { DeployError, UserInputError } from '../../src/errors.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, fnName, goLive, putCode, testConfig, type Live } from './stack-fixtures.ts';
import { released } from './fixture.ts';

/**
 * The whole release — package/upload → deploy → migrations → versions → API deployment → shift —
 * against the emulator, with the miniature stacks of ./stack-fixtures.ts. Two parts are scripted:
 * the upload step puts small objects instead of running esbuild (the CLI test runs the real
 * packager), and Lambda Invoke of `migrate` (the emulator needs Docker to invoke), through the
 * `invoke` method of the AWS interface.
 */
describe('deploy/release: package → deploy → migrate → shift, against the emulator', function () {
  this.timeout(60_000);
  let moto: Moto;
  let config: EnvConfig;
  let aws: AwsApi;
  let live: Live;
  let invoked: string[];
  let migrateResult: InvokeResult;
  const cw = () => new CloudWatchClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, protocol: AwsQueryProtocol });

  beforeEach(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    moto = await getMoto();
    await moto.reset();
    config = await testConfig({ release: { bakeSeconds: 0 } });
    const real = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, config);
    invoked = [];
    migrateResult = { statusCode: 200, payload: JSON.stringify({ applied: [3], current: 3 }) };
    aws = { ...real, lambda: { ...real.lambda, invoke: async (name) => (invoked.push(name), migrateResult) } };
    // The first deploy, then what the emulator's CloudFormation skips (aliases, stage, alarms).
    await deployStacks({ config, templates: fixtureTemplates(config), codeKeys: await putCode(moto, config, 'a') }, { aws, pollMs: 0 });
    live = await goLive(moto, config);
  });

  const opts = (extra: Parameters<typeof release>[2] = {}) => ({
    templates: fixtureTemplates(config),
    stackPollMs: 0,
    artifacts: async () => {
      const codeKeys = await putCode(moto, config, 'b', false);
      return { codeKeys, artifactKeys: { ...codeKeys.functions, 'layer-pg': codeKeys.layerPg! } as Record<string, string> };
    },
    ...extra,
  });

  async function aliases() {
    return Promise.all(API_FUNCTIONS.map(async (fn) => aws.lambda.getAlias(fnName(config, fn), 'live')));
  }

  it('a full release of dev: new code deployed, migrations run once, every alias on v2, the stage on the new deployment, manifest in S3', async () => {
    const reporter = new RecordingReporter();
    const started = Date.now();
    const r = released(await release(config, aws, { ...opts(), reporter }));
    const ms = Date.now() - started;
    assert.equal(r.outcome.kind, 'promoted');
    assert.deepEqual(invoked, [fnName(config, 'migrate')]);
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));
    const stage = await aws.apigateway.getStage(live.restApiId, config.api.stageName);
    assert.equal(stage.deploymentId, r.manifest.deploymentAfter);
    assert.notEqual(r.manifest.deploymentAfter, live.deploymentId);
    assert.deepEqual(stage.variables, config.api.stageVariables);
    const fn = await new LambdaClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS }).send(new GetFunctionCommand({ FunctionName: fnName(config, 'list-datasets'), Qualifier: '2' }));
    assert.match(fn.Code!.Location!, /list-datasets\/b\.zip/, 'version 2 runs the new code');
    const m = await readManifest(aws, config, r.releaseId);
    assert.equal(m?.outcome, 'promoted');
    assert.equal(m?.deploymentBefore, live.deploymentId);
    assert.equal(m?.artifactKeys['list-datasets'], 'catalog/dev/list-datasets/b.zip');
    assert.deepEqual(m?.functions.map((f) => [f.versionBefore, f.versionAfter]), API_FUNCTIONS.map(() => ['1', '2']));
    const steps = reporter.messages('release');
    assert.deepEqual(steps.slice(0, 3), ['packaging and uploading the code', 'deploying the stacks', `running migrations (${fnName(config, 'migrate')})`]);
    assert.ok(reporter.messages('deploy').includes('catalog-service: updated'));
    process.stdout.write(`      (release wall time with zero bake against the emulator: ${ms} ms)\n`);
  });

  it('after a release, and after a rollback, diff has nothing to change: the Live* parameters record what serves', async () => {
    const liveParams = async () => {
      const p = (await aws.cloudformation.describeStack('catalog-service'))!.parameters;
      return Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith('Live')));
    };
    const r = released(await release(config, aws, opts()));
    assert.equal(r.outcome.kind, 'promoted');
    assert.equal(r.recorded.kind, 'recorded');
    const newDep = r.manifest.deploymentAfter;
    assert.deepEqual(await liveParams(), { LiveDeploymentId: newDep, LiveVersionAuthorizer: '2', LiveVersionGetDataset: '2', LiveVersionListDatasets: '2', LiveVersionWriteDataset: '2' });
    const codeKeys = await putCode(moto, config, 'b', false);
    const plans = async () => (await diffStacks({ config, templates: fixtureTemplates(config), codeKeys }, { aws, pollMs: 0 })).plans;
    assert.equal(formatPlans(await plans()), STACK_NAMES.map((s) => `${s}: no changes\n`).join('\n'));
    // The code keys the release deployed are kept by the record (UsePreviousValue).
    assert.equal((await aws.cloudformation.describeStack('catalog-service'))!.parameters.CodeKeyListDatasets, codeKeys.functions['list-datasets']);

    const back = await rollback(config, aws, { stackPollMs: 0 });
    assert.equal(back.recorded?.kind, 'recorded');
    assert.deepEqual(await liveParams(), { LiveDeploymentId: live.deploymentId, LiveVersionAuthorizer: '1', LiveVersionGetDataset: '1', LiveVersionListDatasets: '1', LiveVersionWriteDataset: '1' });
    assert.equal(formatPlans(await plans()), STACK_NAMES.map((s) => `${s}: no changes\n`).join('\n'));
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    // Nothing moved the second time, so nothing is recorded either.
    assert.deepEqual(await rollback(config, aws, { stackPollMs: 0 }), { releaseId: r.releaseId, changed: [] });
  });

  it('an alarm forced to ALARM mid-bake rolls aliases and stage back (checked in the emulator) and records it', async () => {
    let n = 0;
    let seenWeights: Record<string, number> | undefined;
    const r = released(await release(config, aws, {
      ...opts({ bakeSeconds: 30 }),
      now: () => n * 10_000,
      sleep: async () => {
        n++;
        if (n === 4) {
          seenWeights = (await aliases())[0]!.additionalWeights;
          await cw().send(new SetAlarmStateCommand({ AlarmName: live.alarms[1]!, StateValue: 'ALARM', StateReason: 'test' }));
        }
      },
    }));
    assert.deepEqual(seenWeights, { '2': 0.5 }, 'mid-bake at 50%');
    assert.deepEqual(r.outcome, { kind: 'rolled-back', reason: `alarm ${live.alarms[1]} in ALARM at 50%`, alarms: [live.alarms[1]], atStep: 50 });
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.equal((await aws.apigateway.getStage(live.restApiId, config.api.stageName)).deploymentId, live.deploymentId);
    assert.equal((await readManifest(aws, config))?.outcome, 'rolled-back');
  });

  it("the new version's own Errors metric above the env's rate rolls back, though no alarm fires", async () => {
    let n = 0;
    const r = released(await release(config, aws, {
      ...opts({ bakeSeconds: 30 }),
      now: () => n * 10_000,
      sleep: async () => {
        if (++n !== 1) return;
        const dims = (fn: string) => [
          { Name: 'FunctionName', Value: fn },
          { Name: 'Resource', Value: `${fn}:live` },
          { Name: 'ExecutedVersion', Value: '2' },
        ];
        const name = fnName(config, 'get-dataset');
        await cw().send(
          new PutMetricDataCommand({
            Namespace: 'AWS/Lambda',
            MetricData: [
              { MetricName: 'Errors', Dimensions: dims(name), Value: 3, Timestamp: new Date() },
              { MetricName: 'Invocations', Dimensions: dims(name), Value: 40, Timestamp: new Date() },
            ],
          }),
        );
      },
    }));
    assert.equal(r.outcome.kind, 'rolled-back');
    assert.match(r.outcome.kind === 'rolled-back' ? r.outcome.reason : '', /^new version errors above 1% at 10%: catalog-dev-get-dataset v2 3 errors in 40 invocations$/);
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
  });

  it('failed migrations stop the release before any version is published or traffic moves', async () => {
    migrateResult = { statusCode: 200, functionError: 'Unhandled', payload: '{"errorMessage":"relation \\"catalog_dataset\\" is locked"}' };
    await assert.rejects(release(config, aws, opts()), (e: unknown) => e instanceof DeployError && /migrations failed \(catalog-dev-migrate, Unhandled\): .*is locked.*nothing was shifted/.test(e.message));
    assert.deepEqual(await aliases(), API_FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.deepEqual(await aws.lambda.getAlias(fnName(config, 'list-datasets'), 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.equal(await readManifest(aws, config), undefined);
  });

  it('a shift in progress refuses a second release (exit 2) before anything is packaged or deployed', async () => {
    await aws.lambda.updateAlias(fnName(config, 'write-dataset'), 'live', '1', { '1': 0.1 });
    let packaged = false;
    await assert.rejects(
      release(config, aws, opts({ artifacts: async () => ((packaged = true), { codeKeys: { functions: {} }, artifactKeys: {} }) })),
      (e: unknown) => e instanceof UserInputError && /traffic shift is in progress on catalog-dev-write-dataset/.test(e.message),
    );
    assert.equal(packaged, false);
    assert.deepEqual(invoked, []);
  });
});
