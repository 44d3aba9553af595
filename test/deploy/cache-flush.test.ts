/**
 * The stage's API cache flushed right after release or rollback changes its variables, where the
 * env has a cache: through the CLI's shift (its apply, its restore after an alarm and after an
 * abort), rollback, and the built CLI; never when only the deployment moves, nothing changed, or
 * the env has no cache; a failing flush warns and the shift or restore carries on.
 *
 * The emulator has no FlushStageCache: every AWS call goes through ../support/cache-flush-proxy.ts,
 * which answers the flush as API Gateway documents it and records it (the rest reaches the emulator).
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsApi, createGuardedAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { release, rollback } from '../../src/deploy/release.ts';
import { shiftTraffic, type ShiftPlan } from '../../src/deploy/shift.ts';
import { InterruptedError } from '../../src/errors.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { startCacheFlushProxy, type CacheFlushProxy } from '../support/cache-flush-proxy.ts';
import { runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, type Moto } from '../support/moto.ts';
import { createFixture, createOutputStacks, released, type Fixture } from './fixture.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];
const FLUSHED = 'stage v1: API cache flushed (its variables changed)';
const refused = (cause: string) => `stage v1: could not flush the API cache after its variables changed (${cause}); responses cached before may be served for up to 60 s`;

describe('deploy: the API cache flushed after the stage variables change (emulator, flush recorded by a proxy)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let proxy: CacheFlushProxy;
  let aws: AwsApi;
  let fx: Fixture;

  before(async () => {
    moto = await getMoto();
    proxy = await startCacheFlushProxy(moto.endpoint);
  });
  after(() => proxy.close());
  beforeEach(async () => {
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    proxy.flushes.length = 0;
    proxy.fail = undefined;
    proxy.onFlush = undefined;
    fx = await createFixture(moto, FUNCTIONS);
    aws = await createAwsApi({ region: moto.region, endpoint: proxy.endpoint });
  });
  const flush = () => ({ restApiId: fx.restApiId, stageName: fx.stageName });
  const aliases = () => Promise.all(FUNCTIONS.map((fn) => aws.lambda.getAlias(fn, 'live')));

  describe('the CLI shift', () => {
    let plan: ShiftPlan;
    beforeEach(async () => {
      await fx.changeFunctions('r2');
      const functions = [];
      for (const fn of FUNCTIONS) functions.push({ functionName: fn, previousVersion: '1', newVersion: await aws.lambda.publishVersion(fn) });
      plan = {
        functions,
        restApiId: fx.restApiId,
        stageName: fx.stageName,
        previousDeploymentId: fx.deploymentId,
        newDeploymentId: await aws.apigateway.createDeployment(fx.restApiId, 'r2'),
        previousStageVariables: fx.stageVariables,
        newStageVariables: { DRR_INTEGRATION: 'true' },
        alarmNames: fx.alarmNames,
        steps: [10, 50, 100],
        bakeSeconds: 20,
        alarmPollSeconds: 10,
        apiCache: { ttlSeconds: 60 },
      };
    });
    /** A clock that advances by what is slept; `onSleep` runs at the n-th sleep. */
    const clock = (onSleep?: (n: number) => Promise<void>) => {
      let t = 0;
      let n = 0;
      return { now: () => t, sleep: async (ms: number) => void ((t += ms), await onSleep?.(++n)) };
    };

    it('flushes right after the variables change, before any alias moves, and again after an alarm rollback restores them', async () => {
      const seen: unknown[] = [];
      proxy.onFlush = async () => void seen.push({ stage: await aws.apigateway.getStage(fx.restApiId, fx.stageName), aliases: await aliases() });
      const reporter = new RecordingReporter();
      const out = await shiftTraffic(plan, { aws, reporter, ...clock(async (n) => (n === 3 ? fx.setAlarm('catalog-api-5xx', 'ALARM') : undefined)) });
      assert.equal(out.kind, 'rolled-back');
      assert.deepEqual(proxy.flushes, [flush(), flush()]);
      const old = FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} }));
      assert.deepEqual(seen, [
        { stage: { deploymentId: plan.newDeploymentId, variables: { DRR_INTEGRATION: 'true' } }, aliases: old },
        { stage: { deploymentId: fx.deploymentId, variables: fx.stageVariables }, aliases: old },
      ]);
      const msgs = reporter.events.filter((e) => e.level !== 'progress').map((e) => e.message);
      assert.deepEqual(msgs, [FLUSHED, '10% of traffic on the new versions', '50% of traffic on the new versions', 'alarm catalog-api-5xx in ALARM at 50%: rolling back', FLUSHED]);
      assert.deepEqual(reporter.events.filter((e) => e.message === FLUSHED).map((e) => e.level), ['ok', 'ok']);
    });

    it('flushes nothing when only the deployment moves, when the env has no cache, or when a restore finds the variables in place; an abort restores and flushes', async () => {
      // Variables already as the plan wants them: the deployment moves, nothing is flushed.
      const same = await shiftTraffic({ ...plan, newStageVariables: fx.stageVariables, bakeSeconds: 0 }, { aws, ...clock() });
      assert.equal(same.kind, 'promoted');
      assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, plan.newDeploymentId);
      assert.deepEqual(proxy.flushes, []);
      // No cache (dev): the variables change, nothing is flushed.
      for (const fn of FUNCTIONS) await aws.lambda.updateAlias(fn, 'live', '1', {});
      await aws.apigateway.setStageDeployment(fx.restApiId, fx.stageName, fx.deploymentId);
      const { apiCache: _c, ...uncached } = plan;
      assert.equal((await shiftTraffic({ ...uncached, bakeSeconds: 0 }, { aws, ...clock() })).kind, 'promoted');
      assert.deepEqual((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).variables, { DRR_INTEGRATION: 'true' });
      assert.deepEqual(proxy.flushes, []);
      // Not shifted (an alarm before any traffic moved): the restore changes no variable, flushes nothing.
      for (const fn of FUNCTIONS) await aws.lambda.updateAlias(fn, 'live', '1', {});
      await aws.apigateway.setStageVariables(fx.restApiId, fx.stageName, fx.stageVariables);
      await fx.setAlarm('catalog-api-5xx', 'ALARM');
      assert.equal((await shiftTraffic(plan, { aws, ...clock() })).kind, 'rolled-back');
      assert.deepEqual(proxy.flushes, []);
      // SIGINT mid-bake: restored, both variable changes flushed.
      await fx.setAlarm('catalog-api-5xx', 'OK');
      const ac = new AbortController();
      const reporter = new RecordingReporter();
      await assert.rejects(shiftTraffic(plan, { aws, reporter, signal: ac.signal, ...clock(async (n) => void (n === 1 && ac.abort())) }), InterruptedError);
      assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
      assert.deepEqual(proxy.flushes, [flush(), flush()]);
      assert.deepEqual(reporter.events.filter((e) => e.level !== 'progress').map((e) => e.message), [FLUSHED, '10% of traffic on the new versions', 'interrupted at 10%: restoring the previous versions', FLUSHED]);
    });

    it('a failing flush warns and the shift carries on; a restore whose flush fails still restores everything', async () => {
      proxy.fail = { status: 409, type: 'ConflictException', message: 'Cache flush already in progress' };
      const reporter = new RecordingReporter();
      const ok = await shiftTraffic({ ...plan, bakeSeconds: 0 }, { aws, reporter, ...clock() });
      assert.equal(ok.kind, 'promoted');
      assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));
      const warned = reporter.events.filter((e) => e.level === 'warn');
      assert.deepEqual(warned.map((e) => e.message), [refused('Cache flush already in progress')]);
      assert.ok(proxy.refused > 0);
      assert.deepEqual(proxy.flushes, []);

      for (const fn of FUNCTIONS) await aws.lambda.updateAlias(fn, 'live', '1', {});
      await aws.apigateway.setStageDeployment(fx.restApiId, fx.stageName, fx.deploymentId);
      await aws.apigateway.setStageVariables(fx.restApiId, fx.stageName, fx.stageVariables);
      const again = new RecordingReporter();
      const out = await shiftTraffic(plan, { aws, reporter: again, ...clock(async (n) => (n === 1 ? fx.setAlarm('catalog-p99-latency', 'ALARM') : undefined)) });
      assert.deepEqual(out, { kind: 'rolled-back', reason: 'alarm catalog-p99-latency in ALARM at 10%', alarms: ['catalog-p99-latency'], atStep: 10 });
      assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
      assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
      assert.deepEqual(again.events.filter((e) => e.level === 'warn').map((e) => e.message), [refused('Cache flush already in progress'), 'alarm catalog-p99-latency in ALARM at 10%: rolling back', refused('Cache flush already in progress')]);
    });
  });

  describe('release and rollback', () => {
    let config: EnvConfig;
    beforeEach(async () => {
      await createOutputStacks(moto, fx, FUNCTIONS);
      const dev = structuredClone(await loadEnv('dev')) as EnvConfig;
      config = { ...dev, account: { ...dev.account, id: MOTO_ACCOUNT_ID }, artifacts: { bucket: 'catalog-artifacts', prefix: 'dev' }, api: { ...dev.api, cache: { enabled: true, sizeGb: '0.5', ttlSeconds: 60 } } };
      aws = await createGuardedAwsApi({ region: moto.region, endpoint: proxy.endpoint }, config);
      await fx.changeFunctions('r2');
    });

    it('release flushes once; rollback flushes when it puts variables back, and not when nothing changes; no cache, no flush', async () => {
      const r = released(await release(config, aws, { bakeSeconds: 0 }));
      assert.equal(r.outcome.kind, 'promoted');
      assert.deepEqual(proxy.flushes, [flush()]);
      const back = await rollback(config, aws);
      assert.deepEqual(back.changed.slice(-2), ['stage v1 variables → DRR_INTEGRATION=false, FEATURE_FRESHNESS_V2 removed, LEGACY_FLAG=on', FLUSHED]);
      assert.deepEqual(proxy.flushes, [flush(), flush()]);
      assert.deepEqual((await rollback(config, aws)).changed, []);
      // --to: the variables move again, so does the cache.
      assert.equal((await rollback(config, aws, { to: r.releaseId })).changed.at(-1), FLUSHED);
      assert.equal(proxy.flushes.length, 3);

      const dev = { ...config, api: { ...config.api, cache: { enabled: false, ttlSeconds: 60 } } };
      await rollback(dev, aws);
      await fx.changeFunctions('r3');
      assert.equal(released(await release(dev, aws, { bakeSeconds: 0 })).outcome.kind, 'promoted');
      assert.equal((await rollback(dev, aws)).changed.some((c) => c.includes('variables')), true);
      assert.equal(proxy.flushes.length, 3, 'no flush without a cache');
    });

    it('a rollback whose flush is refused warns, and still records the rollback', async () => {
      released(await release(config, aws, { bakeSeconds: 0 }));
      // What an operator without the new permission gets (IAM's answer for API Gateway's management API).
      const denied = 'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: apigateway:DELETE on resource: arn:aws:apigateway:us-east-1::/restapis/x/stages/v1/cache/data';
      proxy.fail = { status: 403, type: 'AccessDeniedException', message: denied };
      const reporter = new RecordingReporter();
      const back = await rollback(config, aws, { reporter });
      assert.equal(back.changed.at(-1), 'stage v1 variables → DRR_INTEGRATION=false, FEATURE_FRESHNESS_V2 removed, LEGACY_FLAG=on');
      assert.deepEqual(reporter.events.filter((e) => e.level === 'warn' && e.topic === 'rollback').map((e) => e.message), [refused(denied)]);
      assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
      assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
      const { readManifest } = await import('../../src/deploy/release.ts');
      assert.equal((await readManifest(aws, config))?.outcome, 'rolled-back');
    });
  });

  describe('the built CLI', () => {
    let dir: string;
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
    const args = (cmd: string, ...more: string[]) => [cmd, ...(cmd === 'release' ? ['--skip-deploy'] : []), '--env', 'dev', '--env-dir', dir, '--endpoint-url', proxy.endpoint, ...more];
    beforeEach(async () => {
      await createOutputStacks(moto, fx, FUNCTIONS);
      dir = await mkdtemp(join(tmpdir(), 'catalogctl-cache-'));
      // dev with the API cache of staging.
      const yaml = await writeEmulatorEnv(dir, (y) => y.replace(/bucket: .*/, 'bucket: catalog-artifacts').replace('enabled: false\n    sizeGb: null', 'enabled: true\n    sizeGb: "0.5"'));
      assert.match(yaml, /cache:\n {4}enabled: true\n {4}sizeGb: "0.5"/);
      await fx.changeFunctions('r2');
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('release and rollback say they flushed the cache; a second rollback changes and flushes nothing; a refused flush is a warning, exit 0', async () => {
      const rel = await runCli(args('release', '--bake', '0'), { env });
      assert.equal(rel.code, 0, rel.stderr);
      assert.match(rel.stderr, new RegExp(`\\n✔ ${FLUSHED.replace(/[()]/g, '\\$&')}\\n▸ 10% of traffic on the new versions\\n`));
      assert.deepEqual(proxy.flushes, [flush()]);
      const rb = await runCli(args('rollback'), { env });
      assert.equal(rb.code, 0, rb.stderr);
      assert.match(rb.stdout, new RegExp(`\\n {2}stage v1 variables → DRR_INTEGRATION=false, FEATURE_FRESHNESS_V2 removed, LEGACY_FLAG=on\\n {2}${FLUSHED.replace(/[()]/g, '\\$&')}\\n$`));
      assert.deepEqual(proxy.flushes, [flush(), flush()]);
      assert.match((await runCli(args('rollback'), { env })).stdout, /already in place, nothing changed/);
      assert.equal(proxy.flushes.length, 2);

      proxy.fail = { status: 400, type: 'BadRequestException', message: 'Cache cluster is not available' };
      await fx.changeFunctions('r3');
      const warned = await runCli(args('release', '--bake', '0'), { env });
      assert.equal(warned.code, 0, warned.stderr);
      assert.match(warned.stderr, new RegExp(`\\n! ${refused('Cache cluster is not available').replace(/[()]/g, '\\$&')}\\n▸ 10% of traffic on the new versions\\n`));
      assert.match(warned.stdout, /^release r\S+: promoted /);
    });
  });
});
