import { strict as assert } from 'node:assert';
import { createGuardedAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { APIGatewayClient, GetResourcesCommand, PutIntegrationCommand, PutMethodCommand } from '@aws-sdk/client-api-gateway';
import { LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { snapshotOf } from '../../src/aws/lambda.ts';
import { acquireReleaseLock, listReleases, readManifest, readReleaseLock, release, rollback, snapshotDifferences, status } from '../../src/deploy/release.ts';
import { DeployError, UserInputError } from '../../src/errors.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { createFixture, createOutputStacks, released, type Fixture } from './fixture.ts';

const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];

describe('deploy/release: release, rollback and status against the emulator', function () {
  this.timeout(60_000);
  let moto: Moto;
  let aws: AwsApi;
  let fx: Fixture;
  let config: EnvConfig;
  const instant = { bakeSeconds: 0 };

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    fx = await createFixture(moto, FUNCTIONS);
    await createOutputStacks(moto, fx, FUNCTIONS);
    const dev = structuredClone(await loadEnv('dev')) as EnvConfig;
    config = { ...dev, account: { ...dev.account, id: MOTO_ACCOUNT_ID }, artifacts: { bucket: 'catalog-artifacts', prefix: 'dev' } };
    aws = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, config);
  });

  it('refuses credentials of another account with exit 2', async () => {
    await assert.rejects(createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, { name: 'prod', account: { id: '999999999999' } }), (e: unknown) => e instanceof UserInputError && /account mismatch/.test(e.message));
  });

  it('a full release promotes every alias, applies stage variables and writes the manifest; rollback twice; status', async () => {
    await fx.changeFunctions('r2');
    const started = Date.now();
    const r = released(await release(config, aws, { bakeSeconds: 0 }));
    const wallMs = Date.now() - started;
    assert.equal(r.outcome.kind, 'promoted');
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
    const stage = await aws.apigateway.getStage(fx.restApiId, fx.stageName);
    assert.equal(stage.deploymentId, r.manifest.deploymentAfter);
    assert.notEqual(r.manifest.deploymentAfter, fx.deploymentId);
    assert.deepEqual(stage.variables, config.api.stageVariables);
    const latest = await readManifest(aws, config);
    assert.equal(latest!.releaseId, r.releaseId);
    assert.equal(latest!.outcome, 'promoted');
    assert.deepEqual(latest!.functions[0], { functionName: FUNCTIONS[0], versionBefore: '1', versionAfter: '2' });
    assert.deepEqual(await readManifest(aws, config, r.releaseId), latest);
    console.log(`      release wall time with zero bake: ${wallMs} ms`);

    assert.deepEqual(latest!.stageVariablesBefore, fx.stageVariables);

    const st = await status(config, aws);
    assert.equal(st.shiftInProgress, false);
    assert.deepEqual(st.releases.map((x) => [x.releaseId, x.outcome]), [[r.releaseId, 'promoted']]);
    assert.equal(st.stage?.deploymentId, r.manifest.deploymentAfter);
    assert.deepEqual(st.stage?.variables, config.api.stageVariables);
    // The two stacks this fixture deploys, and the three it does not.
    assert.deepEqual(st.stacks.map((x) => [x.stack, x.status]), [
      ['catalog-network', 'NOT_DEPLOYED'],
      ['catalog-storage', 'NOT_DEPLOYED'],
      ['catalog-secrets', 'NOT_DEPLOYED'],
      ['catalog-service', 'CREATE_COMPLETE'],
      ['catalog-observability', 'CREATE_COMPLETE'],
    ]);

    const first = await rollback(config, aws);
    assert.deepEqual(first.changed.slice(FUNCTIONS.length), [`stage v1 → deployment ${fx.deploymentId}`, 'stage v1 variables → DRR_INTEGRATION=false, FEATURE_FRESHNESS_V2 removed, LEGACY_FLAG=on']);
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    const back = await aws.apigateway.getStage(fx.restApiId, fx.stageName);
    assert.deepEqual(back, { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    const recorded = (await readManifest(aws, config))!;
    assert.equal(recorded.outcome, 'rolled-back');
    assert.equal(recorded.reason, 'catalogctl rollback');
    assert.ok(recorded.rolledBackAt);
    assert.deepEqual((await status(config, aws)).releases.map((x) => [x.outcome, x.reason]), [['rolled-back', 'catalogctl rollback']]);
    assert.deepEqual((await rollback(config, aws)).changed, []);
    assert.deepEqual(await readManifest(aws, config), recorded, 'a rollback that changes nothing records nothing');
    // --to puts the named release's versions, deployment and variables back.
    assert.equal((await rollback(config, aws, { to: r.releaseId })).changed.length, FUNCTIONS.length + 2);
    assert.equal((await aws.lambda.getAlias(FUNCTIONS[0]!, 'live')).functionVersion, '2');
    assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: r.manifest.deploymentAfter, variables: config.api.stageVariables });
    assert.deepEqual((await rollback(config, aws, { to: r.releaseId })).changed, []);
  });

  it('releasing what already serves is "nothing to release": no record, no version, no deployment, nothing moved; rollback and --to act on the real release', async () => {
    await fx.changeFunctions('r2');
    const r1 = released(await release(config, aws, instant));
    const calls: string[] = [];
    const counted = {
      ...aws,
      lambda: { ...aws.lambda, publishVersion: async (fn: string, rev?: string) => (calls.push(`publish ${fn}`), aws.lambda.publishVersion(fn, rev)) },
      apigateway: { ...aws.apigateway, createDeployment: async (id: string, d: string) => (calls.push('deployment'), aws.apigateway.createDeployment(id, d)) },
    };
    const again = await release(config, counted, instant);
    assert.deepEqual(again, { kind: 'nothing-to-release', unchanged: [...FUNCTIONS.map((f) => `${f} v2`), `stage v1 deployment ${r1.manifest.deploymentAfter} and variables`] });
    assert.deepEqual(calls, []);
    assert.deepEqual(await listReleases(aws, config), [r1.releaseId], 'no record');
    assert.equal((await readManifest(aws, config))!.releaseId, r1.releaseId);
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
    assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: r1.manifest.deploymentAfter, variables: config.api.stageVariables });
    assert.equal(await readReleaseLock(aws, config), undefined);

    // So rollback has the real release before it: back to v1, then --to puts r1's back.
    const back = await rollback(config, aws);
    assert.equal(back.releaseId, r1.releaseId);
    for (const fn of FUNCTIONS) assert.equal((await aws.lambda.getAlias(fn, 'live')).functionVersion, '1');
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, fx.deploymentId);
    assert.equal((await rollback(config, aws, { to: r1.releaseId })).changed.length, FUNCTIONS.length + 2);
    for (const fn of FUNCTIONS) assert.equal((await aws.lambda.getAlias(fn, 'live')).functionVersion, '2');
    assert.equal((await release(config, aws, instant)).kind, 'nothing-to-release');
  });

  it('only what differs moves: a flag keeps versions and deployment, one function\'s change publishes only it, an API change makes a new deployment', async () => {
    await fx.changeFunctions('r2');
    const r1 = released(await release(config, aws, instant));
    const flagged = { ...config, api: { ...config.api, stageVariables: { ...config.api.stageVariables, NEW_FLAG: 'on' } } };
    const flag = released(await release(flagged, aws, instant));
    assert.equal(flag.outcome.kind, 'promoted');
    assert.deepEqual(flag.manifest.functions.map((f) => [f.versionBefore, f.versionAfter]), FUNCTIONS.map(() => ['2', '2']));
    assert.deepEqual([flag.manifest.deploymentBefore, flag.manifest.deploymentAfter], [r1.manifest.deploymentAfter, r1.manifest.deploymentAfter]);
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).variables.NEW_FLAG, 'on');

    const cfg = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
    await new LambdaClient(cfg).send(new UpdateFunctionConfigurationCommand({ FunctionName: FUNCTIONS[1], MemorySize: 1024 }));
    const one = released(await release(flagged, aws, instant));
    assert.deepEqual(one.manifest.functions.map((f) => [f.functionName, f.versionBefore, f.versionAfter]), FUNCTIONS.map((f, i) => [f, '2', i === 1 ? '3' : '2']));
    assert.equal(one.manifest.deploymentAfter, r1.manifest.deploymentAfter);

    const apigw = new APIGatewayClient(cfg);
    const root = (await apigw.send(new GetResourcesCommand({ restApiId: fx.restApiId }))).items!.find((r) => r.path === '/')!;
    await apigw.send(new PutMethodCommand({ restApiId: fx.restApiId, resourceId: root.id!, httpMethod: 'POST', authorizationType: 'NONE' }));
    await apigw.send(new PutIntegrationCommand({ restApiId: fx.restApiId, resourceId: root.id!, httpMethod: 'POST', type: 'MOCK' }));
    const api = released(await release(flagged, aws, instant));
    assert.deepEqual(api.manifest.functions.map((f) => f.versionAfter), ['2', '3', '2', '2']);
    assert.notEqual(api.manifest.deploymentAfter, r1.manifest.deploymentAfter);
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, api.manifest.deploymentAfter);
    assert.match(await aws.apigateway.deploymentDescription(fx.restApiId, api.manifest.deploymentAfter), new RegExp(`^catalogctl release ${api.releaseId} api-sha256=[0-9a-f]{64}$`));
    assert.equal((await release(flagged, aws, instant)).kind, 'nothing-to-release');
  });

  it('compares code and configuration, not identity or state', () => {
    const base = { CodeSha256: 'abc=', FunctionArn: 'arn:…:1', Version: '1', LastModified: 't1', RevisionId: 'r1', State: 'Active', MemorySize: 512, Layers: [{ Arn: 'arn:layer:pg:3', CodeSize: 10 }], RuntimeVersionConfig: { RuntimeVersionArn: 'rt:1' } };
    const latest = { ...base, FunctionArn: 'arn:…:$LATEST', Version: '$LATEST', LastModified: 't2', RevisionId: 'r9', State: 'Pending', Layers: [{ Arn: 'arn:layer:pg:3', CodeSize: 11 }], RuntimeVersionConfig: { RuntimeVersionArn: 'rt:2' } };
    assert.deepEqual(snapshotDifferences(snapshotOf(latest), snapshotOf(base)), []);
    assert.deepEqual(snapshotDifferences(snapshotOf({ ...latest, CodeSha256: 'def=', MemorySize: 1024, Layers: [{ Arn: 'arn:layer:pg:4' }], Environment: { Variables: { A: '1' } } }), snapshotOf(base)), ['CodeSha256', 'Environment', 'Layers', 'MemorySize']);
  });

  it('an alarm mid-bake rolls back and the manifest records it; the time to restore is measured', async () => {
    await fx.changeFunctions('r2');
    let alarmAt = 0;
    const r = released(await release(config, aws, {
      bakeSeconds: 30,
      now: (() => {
        let t = 0;
        return () => (t += 1000);
      })(),
      sleep: async () => {
        if (!alarmAt) {
          alarmAt = performance.now();
          await fx.setAlarm(fx.alarmNames[0]!, 'ALARM');
        }
      },
    }));
    const restoredMs = performance.now() - alarmAt;
    assert.equal(r.outcome.kind, 'rolled-back');
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables }, 'stage deployment and variables restored');
    assert.equal((await readManifest(aws, config))!.outcome, 'rolled-back');
    await assert.rejects(rollback(config, aws, { to: r.releaseId }), (e: unknown) => e instanceof UserInputError && /--to: release \S+ was rolled-back \(alarm catalog-api-5xx in ALARM at 10%\), never promoted/.test(e.message));
    console.log(`      SetAlarmState ALARM → all aliases restored (excluding the poll wait): ${restoredMs.toFixed(0)} ms`);
    assert.deepEqual((await rollback(config, aws)).changed, []);
  });

  it('a rollback run elsewhere during the bake wins: the release stops without moving traffic back (exit 3)', async () => {
    await fx.changeFunctions('r2');
    let rolledBack: Awaited<ReturnType<typeof rollback>> | undefined;
    const r = release(config, aws, {
      bakeSeconds: 30,
      now: (() => {
        let t = 0;
        return () => (t += 1000);
      })(),
      sleep: async () => {
        rolledBack ??= await rollback(config, aws); // another operator, another machine: reads the in-progress manifest
      },
    });
    await assert.rejects(r, (e: unknown) => e instanceof DeployError && /^release stopped at 10%: the live aliases were changed outside this release \(catalog-list-datasets is v1, not v1 \+ v2@10%;/.test(e.message));
    assert.equal(rolledBack!.changed.length, FUNCTIONS.length + 2, 'aliases, stage deployment and variables');
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    const m = (await readManifest(aws, config))!;
    assert.equal(m.outcome, 'interrupted');
    assert.match(m.reason!, /changed outside this release/);
  });

  it('two releases at once: exactly one runs, the other is refused by the release lock (exit 2) naming its holder', async () => {
    await fx.changeFunctions('r2');
    const both = await Promise.allSettled([release(config, aws, { ...instant, lockHolder: 'alice@ci-1' }), release(config, aws, { ...instant, lockHolder: 'bob@laptop' })]);
    const won = both.filter((b) => b.status === 'fulfilled');
    const lost = both.filter((b): b is PromiseRejectedResult => b.status === 'rejected');
    assert.equal(won.length, 1, JSON.stringify(both.map((b) => b.status)));
    assert.equal(lost.length, 1);
    assert.ok(lost[0]!.reason instanceof UserInputError);
    assert.match(lost[0]!.reason.message, /^release: another release of dev holds the lock \((alice@ci-1|bob@laptop), since \S+\); wait for it to finish, or, if it is no longer running, rerun with --force-unlock$/);
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
    assert.equal((await listReleases(aws, config)).length, 1, 'one manifest');
    assert.equal(await readReleaseLock(aws, config), undefined, 'the lock is gone once the release ends');
  });

  it('a lock left by a dead run refuses the next release until --force-unlock; status shows it; a failed release still unlocks', async () => {
    // A run killed outright never removes its lock.
    await acquireReleaseLock(aws, config, { holder: 'carol@gone pid 4242' });
    assert.deepEqual((await status(config, aws)).lock?.holder, 'carol@gone pid 4242');
    await fx.changeFunctions('r2');
    await assert.rejects(release(config, aws, instant), /holds the lock \(carol@gone pid 4242, since/);
    for (const fn of FUNCTIONS) assert.equal((await aws.lambda.getAlias(fn, 'live')).functionVersion, '1', 'nothing published or shifted');
    const forced = released(await release(config, aws, { ...instant, forceUnlock: true }));
    assert.equal(forced.outcome.kind, 'promoted');
    assert.equal((await status(config, aws)).lock, undefined);
    await fx.changeFunctions('r3');
    await assert.rejects(release({ ...config, release: { ...config.release, requireApproval: true } }, aws, { ...instant, approve: async () => false }), /not approved/);
    assert.equal(await readReleaseLock(aws, config), undefined);
  });

  it('a shift in progress refuses a second release (exit 2); approval is required when the env says so', async () => {
    await aws.lambda.updateAlias(FUNCTIONS[1]!, 'live', '1', { '2': 0.5 });
    await assert.rejects(release(config, aws, instant), UserInputError);
    await aws.lambda.updateAlias(FUNCTIONS[1]!, 'live', '1', {});
    const gated = { ...config, release: { ...config.release, requireApproval: true } };
    await fx.changeFunctions('r3');
    await assert.rejects(release(gated, aws, { ...instant, approve: async () => false }), /not approved/);
    for (const fn of FUNCTIONS) assert.equal((await aws.lambda.getAlias(fn, 'live')).functionVersion, '1');
    const ok = released(await release(gated, aws, { ...instant, approve: async (plan) => plan.functions.length === 4 }));
    assert.equal(ok.outcome.kind, 'promoted');
  });

  it('a shift broken off by a failure stays locked and --resume finishes it onto the same versions and deployment', async () => {
    await fx.changeFunctions('r2');
    const broken = release(config, aws, {
      bakeSeconds: 30,
      now: () => 0,
      sleep: async () => {
        throw new Error('network gone');
      },
    });
    await assert.rejects(broken, /network gone/);
    const first = (await readManifest(aws, config))!;
    assert.equal(first.outcome, 'interrupted');
    assert.deepEqual(await aws.lambda.getAlias(FUNCTIONS[0]!, 'live'), { functionVersion: '1', additionalWeights: { '2': 0.1 } });
    await assert.rejects(release(config, aws, instant), /in progress/);
    const resumed = released(await release(config, aws, { ...instant, resume: true }));
    assert.equal(resumed.outcome.kind, 'promoted');
    assert.equal(resumed.manifest.deploymentBefore, fx.deploymentId);
    assert.equal(resumed.manifest.deploymentAfter, first.deploymentAfter);
    for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
  });
});
