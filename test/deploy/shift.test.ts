import { strict as assert } from 'node:assert';
import { CloudWatchClient, DeleteAlarmsCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { createAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { checkShiftLock, readAliases, shiftTraffic, type ShiftPlan } from '../../src/deploy/shift.ts';
import { InterruptedError, UserInputError } from '../../src/errors.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { createFixture, type Fixture } from './fixture.ts';

describe('deploy/shift: alias shift against the emulator', function () {
  this.timeout(60_000);
  let moto: Moto;
  let aws: AwsApi;
  let fx: Fixture;
  let plan: ShiftPlan;

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
    fx = await createFixture(moto);
    await fx.changeFunctions('release 2');
    const functions = [];
    for (const fn of fx.functions) functions.push({ functionName: fn, previousVersion: '1', newVersion: await aws.lambda.publishVersion(fn) });
    const newDeploymentId = await aws.apigateway.createDeployment(fx.restApiId, 'release 2');
    plan = {
      functions,
      restApiId: fx.restApiId,
      stageName: fx.stageName,
      previousDeploymentId: fx.deploymentId,
      newDeploymentId,
      alarmNames: fx.alarmNames,
      steps: [10, 50, 100],
      bakeSeconds: 30,
      alarmPollSeconds: 10,
    };
  });

  /** A clock that advances by whatever is slept, so 30 s bakes take no wall time. */
  function fakeClock(onSleep?: (n: number) => Promise<void>) {
    let t = 0;
    let n = 0;
    const sleeps: number[] = [];
    return {
      sleeps,
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
        await onSleep?.(++n);
      },
    };
  }

  it('the account guard passes for the emulator account and the plan promotes through 10/50/100', async () => {
    assert.equal(await aws.callerAccount(), MOTO_ACCOUNT_ID);
    const clock = fakeClock();
    const reporter = new RecordingReporter();
    const out = await shiftTraffic(plan, { aws, reporter, now: clock.now, sleep: clock.sleep });
    assert.deepEqual(out, { kind: 'promoted', steps: [10, 50, 100] });
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, plan.newDeploymentId);
    // Two bakes of 30 s, polled every ≤ 10 s.
    assert.deepEqual(clock.sleeps, [10_000, 10_000, 10_000, 10_000, 10_000, 10_000]);
    assert.deepEqual(reporter.messages('release').filter((m) => m.includes('% of traffic')), ['10% of traffic on the new versions', '50% of traffic on the new versions', '100% of traffic on the new versions']);
  });

  it('mid-bake weights are on the alias; an alarm forced to ALARM rolls aliases and stage back', async () => {
    let seen: Awaited<ReturnType<typeof readAliases>> | undefined;
    const clock = fakeClock(async (n) => {
      if (n === 4) {
        seen = await readAliases(aws, fx.functions);
        await fx.setAlarm('catalog-p99-latency', 'ALARM');
      }
    });
    const out = await shiftTraffic(plan, { aws, now: clock.now, sleep: clock.sleep });
    assert.equal(seen!.aliases[0]!.functionVersion, '1');
    assert.deepEqual(seen!.aliases[0]!.additionalWeights, { '2': 0.5 });
    assert.deepEqual(out, { kind: 'rolled-back', reason: 'alarm catalog-p99-latency in ALARM at 50%', alarms: ['catalog-p99-latency'], atStep: 50 });
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, fx.deploymentId);
  });

  it('an alarm already in ALARM stops the shift before the stage or any alias moves; a resumed shift is put back', async () => {
    await fx.setAlarm('catalog-api-5xx', 'ALARM');
    const clock = fakeClock();
    const out = await shiftTraffic(plan, { aws, now: clock.now, sleep: clock.sleep });
    assert.deepEqual(out, { kind: 'rolled-back', reason: 'alarm catalog-api-5xx in ALARM before any traffic moved', alarms: ['catalog-api-5xx'], atStep: 0 });
    assert.deepEqual(clock.sleeps, []);
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, fx.deploymentId);
    // A shift left at 10% and resumed while the alarm fires goes back to the previous versions.
    await aws.lambda.updateAlias(fx.functions[0]!, 'live', '1', { '2': 0.1 });
    assert.equal((await shiftTraffic(plan, { aws, now: clock.now, sleep: clock.sleep })).kind, 'rolled-back');
    assert.deepEqual(await aws.lambda.getAlias(fx.functions[0]!, 'live'), { functionVersion: '1', additionalWeights: {} });
  });

  const cw = () => new CloudWatchClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, protocol: AwsQueryProtocol });
  const unmoved = async () => {
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.deepEqual(await aws.apigateway.getStage(fx.restApiId, fx.stageName), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
  };

  it('a gating alarm that does not exist (misspelled in AlarmNames) stops the shift before anything moves, naming it', async () => {
    const clock = fakeClock();
    const out = await shiftTraffic({ ...plan, alarmNames: ['catalog-api-5xx', 'catalog-p99-latncy'] }, { aws, now: clock.now, sleep: clock.sleep });
    assert.deepEqual(out, {
      kind: 'rolled-back',
      reason: 'gating alarm catalog-p99-latncy does not exist (AlarmNames of catalog-observability) before any traffic moved',
      alarms: ['catalog-p99-latncy'],
      atStep: 0,
    });
    assert.deepEqual(clock.sleeps, []);
    await unmoved();
    // No gating alarm at all is no gate: refused the same way.
    const none = await shiftTraffic({ ...plan, alarmNames: [] }, { aws, now: clock.now, sleep: clock.sleep });
    assert.equal(none.kind === 'rolled-back' && none.reason, 'no gating alarms (the AlarmNames output of catalog-observability is empty) before any traffic moved');
    await unmoved();
  });

  it('a gating alarm deleted mid-bake rolls the shift back', async () => {
    const clock = fakeClock(async (n) => {
      if (n === 2) await cw().send(new DeleteAlarmsCommand({ AlarmNames: ['catalog-api-5xx'] }));
    });
    const out = await shiftTraffic(plan, { aws, now: clock.now, sleep: clock.sleep });
    assert.deepEqual(out, { kind: 'rolled-back', reason: 'gating alarm catalog-api-5xx does not exist (AlarmNames of catalog-observability) at 10%', alarms: ['catalog-api-5xx'], atStep: 10 });
    await unmoved();
  });

  it('INSUFFICIENT_DATA before the shift is waited for (with progress) until the alarm is evaluated; past the grace nothing moves', async () => {
    const setState = (name: string, state: 'OK' | 'INSUFFICIENT_DATA') => cw().send(new SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: 'test' }));
    await setState('catalog-p99-latency', 'INSUFFICIENT_DATA');
    const reporter = new RecordingReporter();
    const clock = fakeClock(async (n) => {
      if (n === 3) await setState('catalog-p99-latency', 'OK'); // CloudWatch's first evaluation of a new alarm
    });
    const out = await shiftTraffic(plan, { aws, reporter, now: clock.now, sleep: clock.sleep });
    assert.equal(out.kind, 'promoted');
    assert.deepEqual(clock.sleeps.slice(0, 3), [10_000, 10_000, 10_000], 'three polls waiting before any traffic moved');
    assert.deepEqual(
      reporter.events.filter((e) => e.level === 'progress' && e.data?.step === 0).map((e) => e.message),
      ['before shifting · gates: waiting for INSUFFICIENT_DATA alarm catalog-p99-latency 0/180 s', 'before shifting · gates: waiting for INSUFFICIENT_DATA alarm catalog-p99-latency 10/180 s', 'before shifting · gates: waiting for INSUFFICIENT_DATA alarm catalog-p99-latency 20/180 s'],
    );

    await aws.lambda.updateAlias(fx.functions[0]!, 'live', '1', {});
    await aws.lambda.updateAlias(fx.functions[1]!, 'live', '1', {});
    await aws.apigateway.setStageDeployment(fx.restApiId, fx.stageName, fx.deploymentId);
    await aws.apigateway.setStageVariables(fx.restApiId, fx.stageName, fx.stageVariables);
    await setState('catalog-api-5xx', 'INSUFFICIENT_DATA');
    const stuck = fakeClock();
    const never = await shiftTraffic(plan, { aws, now: stuck.now, sleep: stuck.sleep });
    assert.deepEqual(never, { kind: 'rolled-back', reason: 'alarm catalog-api-5xx INSUFFICIENT_DATA for 180 s before any traffic moved: the gate cannot be evaluated', alarms: ['catalog-api-5xx'], atStep: 0 });
    assert.equal(stuck.sleeps.length, 18, 'polled every 10 s for the 180 s grace');
    await unmoved();
  });

  it('an alarm going INSUFFICIENT_DATA mid-bake holds the step past its bake until it is evaluated again; the bake shows time left and the gates', async () => {
    const setState = (state: 'OK' | 'INSUFFICIENT_DATA') => cw().send(new SetAlarmStateCommand({ AlarmName: 'catalog-api-5xx', StateValue: state, StateReason: 'test' }));
    const reporter = new RecordingReporter();
    const clock = fakeClock(async (n) => {
      if (n === 2) await setState('INSUFFICIENT_DATA'); // 20 s into the 10% bake
      if (n === 5) await setState('OK'); // 20 s past its end
    });
    const out = await shiftTraffic(plan, { aws, reporter, now: clock.now, sleep: clock.sleep });
    assert.equal(out.kind, 'promoted');
    const at10 = reporter.events.filter((e) => e.level === 'progress' && e.data?.step === 10).map((e) => e.message);
    assert.deepEqual(at10, [
      '10%: baking, 30 s left · gates: 2 alarms OK',
      '10%: baking, 20 s left · gates: 2 alarms OK',
      '10%: baking, 10 s left · gates: waiting for INSUFFICIENT_DATA alarm catalog-api-5xx 0/180 s',
      '10%: bake done · gates: waiting for INSUFFICIENT_DATA alarm catalog-api-5xx 10/180 s',
      '10%: bake done · gates: waiting for INSUFFICIENT_DATA alarm catalog-api-5xx 20/180 s',
      '10%: bake done · gates: 2 alarms OK',
    ]);
    assert.ok(reporter.events.findIndex((e) => e.message === '50% of traffic on the new versions') > reporter.events.findIndex((e) => e.message === at10.at(-1)), 'no 50% before the gates passed');
    // Still blind at the grace: rolled back from the step it was on.
    const blind = fakeClock(async (n) => {
      if (n === 1) await setState('INSUFFICIENT_DATA');
    });
    await aws.lambda.updateAlias(fx.functions[0]!, 'live', '1', {});
    await aws.lambda.updateAlias(fx.functions[1]!, 'live', '1', {});
    await setState('OK');
    const rolled = await shiftTraffic(plan, { aws, now: blind.now, sleep: blind.sleep });
    assert.deepEqual(rolled, { kind: 'rolled-back', reason: 'alarm catalog-api-5xx INSUFFICIENT_DATA for 180 s at 10%: the gate cannot be evaluated', alarms: ['catalog-api-5xx'], atStep: 10 });
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
  });

  it('an abort mid-bake restores the previous release and throws InterruptedError', async () => {
    const ac = new AbortController();
    const clock = fakeClock(async (n) => {
      if (n === 2) ac.abort();
    });
    await assert.rejects(shiftTraffic(plan, { aws, signal: ac.signal, now: clock.now, sleep: clock.sleep }), InterruptedError);
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, fx.deploymentId);
  });

  it('a shift in progress is a lock: refused without resume, the versions returned with it', async () => {
    await aws.lambda.updateAlias(fx.functions[0]!, 'live', '1', { '2': 0.1 });
    await assert.rejects(checkShiftLock(aws, fx.functions, false), (e: unknown) => e instanceof UserInputError && /in progress on catalog-list-datasets \(1 \+ 2@10%\)/.test(e.message));
    const resumed = await checkShiftLock(aws, fx.functions, true);
    assert.deepEqual([...resumed!], [['catalog-list-datasets', { previous: '1', next: '2' }]]);
    await aws.lambda.updateAlias(fx.functions[0]!, 'live', '1', {});
    assert.equal(await checkShiftLock(aws, fx.functions, false), undefined);
  });

  it('stage variables are set exactly: new and changed keys replaced, missing ones removed, nothing when equal', async () => {
    assert.deepEqual((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).variables, fx.stageVariables);
    const changed = await aws.apigateway.setStageVariables(fx.restApiId, fx.stageName, { DRR_INTEGRATION: 'true', featureX: 'off' });
    assert.deepEqual(changed, ['DRR_INTEGRATION', 'LEGACY_FLAG', 'featureX']);
    assert.deepEqual((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).variables, { DRR_INTEGRATION: 'true', featureX: 'off' });
    assert.deepEqual(await aws.apigateway.setStageVariables(fx.restApiId, fx.stageName, { DRR_INTEGRATION: 'true', featureX: 'off' }), []);
  });

  it('checks the gate before every step; a failing gate rolls back like an alarm', async () => {
    const clock = fakeClock();
    const asked: number[] = [];
    const out = await shiftTraffic(plan, {
      aws,
      now: clock.now,
      sleep: clock.sleep,
      gate: async (step) => {
        asked.push(step);
        return step < 50 ? { ok: true } : { ok: false, reason: 'verify failed health' };
      },
    });
    assert.deepEqual(asked, [10, 50]);
    assert.deepEqual(out, { kind: 'rolled-back', reason: 'gate failed before 50%: verify failed health', alarms: [], atStep: 50 });
    for (const fn of fx.functions) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '1', additionalWeights: {} });
    assert.equal((await aws.apigateway.getStage(fx.restApiId, fx.stageName)).deploymentId, plan.previousDeploymentId);
  });
});
