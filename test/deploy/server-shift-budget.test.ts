/**
 * Step Functions keeps at most 25,000 history events per Standard execution and fails one that
 * needs more, wherever its traffic stands. The release state machine counts what its checks spend
 * and restores before it could run out; `release --on aws` (and validate, for release.shift: aws)
 * refuses settings that would not fit. Here: the estimate against the events the stand-in records
 * (written as Standard workflows record them), the restore when the budget is spent, and the limits.
 */
import { strict as assert } from 'node:assert';
import { createSfnApi } from '../../src/aws/sfn.ts';
import { loadEnv } from '../../src/config/load.ts';
import { API_FUNCTIONS } from '../../src/config/types.ts';
import { checkHistoryBudget, executionInput, followExecution, historyBudget, HISTORY_EVENT_LIMIT, unitsNeeded } from '../../src/deploy/server-shift.ts';
import type { ShiftPlan } from '../../src/deploy/shift.ts';
import { buildReleaseStateMachine, RELEASE_ERRORS } from '../../src/templates/release-state-machine.ts';
import { gatingAlarmNames } from '../../src/templates/release-resources.ts';
import { startSfnLocal, type SfnLocal } from '../support/sfn-local.ts';
import { World, type Scenario } from './scripted-world.ts';

const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:catalog-dev-release';
const ALARMS = ['catalog-dev-api-5xx-rate', 'catalog-dev-api-p99-latency', 'catalog-dev-lambda-throttles'];

describe('release state machine: the execution history budget', function () {
  this.timeout(60_000);
  let sfnLocal: SfnLocal;
  let world: World;

  before(async () => {
    sfnLocal = await startSfnLocal({ awsEndpoint: 'http://unused', region: 'us-east-1', bind: (r) => (i) => world.bind(r)(i), waitMs: { 'Pre.Wait': 0, 'Bake.WaitPoll': 0, 'Bake.WaitLeft': 0 } });
    // With an API cache (staging, prod): the longest definition, flushing the cache after the stage moves.
    const dev = await loadEnv('dev');
    sfnLocal.register(MACHINE, buildReleaseStateMachine({ ...dev, api: { ...dev.api, cache: { enabled: true, sizeGb: '0.5', ttlSeconds: 60 } } }));
    process.env.AWS_ENDPOINT_URL_SFN = sfnLocal.endpoint;
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL_SFN;
    await sfnLocal.close();
  });

  const plan = (over: Partial<ShiftPlan> = {}): ShiftPlan => ({
    functions: API_FUNCTIONS.map((fn) => ({ functionName: `catalog-dev-${fn}`, previousVersion: '1', newVersion: '2' })),
    restApiId: 'api1',
    stageName: 'v1',
    previousDeploymentId: 'd1',
    newDeploymentId: 'd2',
    previousStageVariables: {},
    newStageVariables: { DRR_INTEGRATION: 'true' },
    alarmNames: ALARMS,
    steps: [10, 50, 100],
    bakeSeconds: 4,
    alarmPollSeconds: 1,
    errorRatePercent: 1,
    insufficientDataGraceSeconds: 3,
    apiCache: { ttlSeconds: 60 },
    ...over,
  });

  let n = 0;
  async function run(p: ShiftPlan, alarms: Scenario['alarms'], tweak: (input: ReturnType<typeof executionInput>) => void = () => undefined) {
    world = new World({ plan: p, alarms, metrics: () => ({ failures: 0, invocations: 10 }) }, { deploymentId: 'd1', variables: {} });
    const input = executionInput(p, { releaseId: `b${++n}`, env: 'dev', manifest: {}, stageNow: { deploymentId: 'd1', variables: {} }, revisions: p.functions.map(() => '1'), startedAt: new Date() });
    tweak(input);
    const sfn = await createSfnApi({ region: 'us-east-1' });
    const { executionArn } = await sfn.startExecution(MACHINE, `b${n}`, JSON.stringify(input));
    const f = await followExecution(sfn, executionArn, { pollMs: 5 });
    return { events: sfnLocal.execution(executionArn)!.events.length, end: f.end!, checks: world.checks, flushes: world.flushes, follower: f, executionArn };
  }
  const ok = () => Object.fromEntries(ALARMS.map((a) => [a, 'OK' as const]));

  it('a check costs what the estimate says, a check through the per-alarm Map what slowUnits say, and a clean release fits its units', async () => {
    const b = historyBudget({ alarms: ALARMS.length, functions: 4, steps: 3 });
    const short = await run(plan({ bakeSeconds: 4 }), ok);
    const long = await run(plan({ bakeSeconds: 10 }), ok);
    assert.equal(short.end.status, 'SUCCEEDED');
    assert.deepEqual(short.flushes, ['forward:flushed'], 'the flush is part of what the fixed cost covers');
    const perCheck = (long.events - short.events) / (long.checks - short.checks);
    assert.equal(perCheck, b.common, 'events of one bake check');
    assert.ok(short.events <= b.fixed + short.checks * b.common, `${short.events} events for ${short.checks} checks`);
    assert.ok(short.checks <= unitsNeeded(plan({ bakeSeconds: 4 }), 0), 'the units a clean run needs bound its checks');
    // The same release with one alarm not evaluated for two checks: those go through the Map.
    const blind = await run(plan({ bakeSeconds: 4 }), (c) => ({ ...ok(), [ALARMS[1]!]: c === 2 || c === 3 ? 'INSUFFICIENT_DATA' : 'OK' }));
    assert.equal(blind.end.status, 'SUCCEEDED');
    const slowCost = (blind.events - short.events) / 2 + b.common;
    assert.ok(slowCost <= b.slowUnits * b.common, `a slow check costs ${slowCost} events, budgeted ${b.slowUnits} × ${b.common}`);
    assert.ok(slowCost <= b.slow, `a slow check costs ${slowCost}, estimated ${b.slow}`);
  });

  it('a shift that has spent its budget restores before it could outgrow the history (Fail.Budget)', async () => {
    const r = await run(plan({ bakeSeconds: 30 }), ok, (input) => (input.gate.maxUnits = 6));
    assert.equal(r.end.status, 'FAILED');
    assert.equal(r.end.error, RELEASE_ERRORS.rolledBack);
    assert.match(r.end.cause!, /^the shift used its execution history budget at 10% \(a Standard execution keeps 25,000 events\): stopping while it can still restore$/);
    assert.deepEqual(r.follower.outcome(r.executionArn), { kind: 'rolled-back', reason: r.end.cause, alarms: [], atStep: 10 });
    assert.deepEqual([...world.aliases.values()].map((a) => [a.version, a.weights]), API_FUNCTIONS.map(() => ['1', {}]));
    assert.equal(world.stage.deploymentId, 'd1');
  });

  it("refuses settings that could not fit, and fits every env's own", async () => {
    const tooLong = checkHistoryBudget(plan({ bakeSeconds: 86_400, alarmPollSeconds: 1 }));
    assert.match(tooLong ?? '', /^3 steps with 86400 s bakes polled every 1 s need about \d+ history events; a Standard Step Functions execution keeps 25000: shorten the bakes, poll less often \(release\.alarmPollSeconds\), or shift from the CLI \(--on cli\)$/);
    for (const env of ['dev', 'staging', 'prod']) {
      const c = await loadEnv(env);
      const p = plan({ alarmNames: gatingAlarmNames(c), steps: c.release.trafficSteps, bakeSeconds: c.release.bakeSeconds, alarmPollSeconds: c.release.alarmPollSeconds, insufficientDataGraceSeconds: 180 });
      assert.equal(checkHistoryBudget(p), undefined, env);
    }
    assert.ok(historyBudget({ alarms: 100, functions: 4, steps: 10 }).maxUnits * historyBudget({ alarms: 100, functions: 4, steps: 10 }).common < HISTORY_EVENT_LIMIT);
  });
});
