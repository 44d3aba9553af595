/**
 * The release state machine decides as the CLI's shift does. Both engines run the same plan against
 * the same scripted world — alarm states, the new versions' failures and invocations, changing
 * from one gate check to the next — and must end alike: promoted or not, the same reason word for
 * word, the same step, the same aliases and stage left, the same flushes of the stage's API cache
 * (and the same warnings when API Gateway refuses one), and the same progress lines (the CLI's from
 * its reporter, the state machine's read back from its execution history by the follower).
 *
 * The world is in memory (no emulator): it can do what the emulator cannot — evaluate nothing but
 * what it is told, bump an alias's RevisionId on every update and refuse a stale one as Lambda does
 * (UpdateAlias RevisionId, PreconditionFailedException). The state machine's SDK tasks are bound
 * to it through the Step Functions stand-in; the CLI's shift gets it as its AWS interface, with an
 * injected clock. Waits take no time in either.
 */
import { strict as assert } from 'node:assert';
import { createSfnApi } from '../../src/aws/sfn.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { authorizerFailureMetric } from '../../src/deploy/release.ts';
import { executionInput, followExecution } from '../../src/deploy/server-shift.ts';
import { shiftTraffic, type ShiftOutcome, type ShiftPlan } from '../../src/deploy/shift.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { buildReleaseStateMachine, RELEASE_ERRORS } from '../../src/templates/release-state-machine.ts';
import { startSfnLocal, type SfnLocal } from '../support/sfn-local.ts';
import { World, type Scenario, type State } from './scripted-world.ts';

/** A small seeded generator (mulberry32), so a failing case can be replayed by its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function scenario(seed: number): Scenario {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const names = ['catalog-dev-api-5xx-rate', 'catalog-dev-api-p99-latency', 'catalog-dev-lambda-throttles', 'catalog-dev-authorizer-failures'].slice(0, 1 + Math.floor(r() * 4));
  const fns = ['catalog-dev-list-datasets', 'catalog-dev-get-dataset', 'catalog-dev-authorizer'].slice(0, 1 + Math.floor(r() * 3));
  const functions = fns.map((fn) => {
    const moving = r() < 0.8;
    return { functionName: fn, previousVersion: '3', newVersion: moving ? '4' : '3', ...(fn.endsWith('authorizer') && moving ? { failureMetric: authorizerFailureMetric(fn, '4') } : {}) };
  });
  const poll = pick([1, 2, 3]);
  const plan: ShiftPlan = {
    functions,
    restApiId: 'api1',
    stageName: 'v1',
    previousDeploymentId: 'dep-old',
    newDeploymentId: pick(['dep-new', 'dep-old']),
    previousStageVariables: { DRR_INTEGRATION: 'false', LEGACY: 'on' },
    newStageVariables: { DRR_INTEGRATION: 'true' },
    alarmNames: r() < 0.05 ? [] : names,
    steps: pick([[100], [10, 100], [10, 50, 100], [25, 50, 75, 100]]),
    bakeSeconds: pick([0, 1, 2, 3, 5, 7]),
    alarmPollSeconds: poll,
    errorRatePercent: pick([1, 5, 50, 100]),
    insufficientDataGraceSeconds: pick([2, 3, 4, 6]),
  };
  // Most checks are quiet; sometimes an alarm is missing, fires or is not evaluated for a while.
  const missing = r() < 0.15 ? names.filter(() => r() < 0.6) : [];
  const firingAt = r() < 0.3 ? Math.floor(r() * 12) : -1;
  const firing = names.filter(() => r() < 0.5);
  const blindFrom = r() < 0.35 ? Math.floor(r() * 8) : -1;
  const blindFor = 1 + Math.floor(r() * 6);
  const blindName = pick(names);
  const breachAt = r() < 0.3 ? Math.floor(r() * 12) : -1;
  const breaching = fns.filter(() => r() < 0.6);
  const idleFn = r() < 0.1 ? pick(fns) : undefined;
  const handEdit = r() < 0.1 ? { handEdit: { check: 1 + Math.floor(r() * 4), fn: pick(fns) } } : {};
  // Drawn last, so the cases above stay what they were: the stage's API cache (staging, prod), the
  // variables moving or not, and API Gateway refusing the flush.
  if (r() < 0.6) plan.apiCache = { ttlSeconds: 60 };
  if (r() < 0.25) plan.newStageVariables = { ...plan.previousStageVariables };
  const flushRefused = r() < 0.3 ? pick(['forward', 'restore', 'both'] as const) : undefined;
  return {
    plan,
    alarms: (check) =>
      Object.fromEntries(
        names.map((n): [string, State] => {
          if (missing.includes(n)) return [n, undefined];
          if (firingAt >= 0 && check >= firingAt && firing.includes(n)) return [n, 'ALARM'];
          if (blindFrom >= 0 && check >= blindFrom && check < blindFrom + blindFor && n === blindName) return [n, 'INSUFFICIENT_DATA'];
          return [n, 'OK'];
        }),
      ),
    metrics: (check, fn) => {
      // Failures with no invocation data count too (a version failing before Lambda reports it).
      const failures = breachAt >= 0 && check >= breachAt && breaching.includes(fn) ? 1 + (check - breachAt) * 2 : 0;
      return { failures, invocations: fn === idleFn ? 0 : 20 + check * 10 };
    },
    ...handEdit,
    ...(flushRefused ? { flushRefused } : {}),
  };
}

describe('release state machine ≡ the CLI shift (scripted world)', function () {
  this.timeout(120_000);
  let config: EnvConfig;
  let sfnLocal: SfnLocal;
  let world: World;
  const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:catalog-dev-release';
  /** The same env with an API cache: its definition flushes the stage's cache. */
  const CACHED = 'arn:aws:states:us-east-1:123456789012:stateMachine:catalog-dev-cached-release';

  before(async () => {
    config = await loadEnv('dev');
    sfnLocal = await startSfnLocal({
      awsEndpoint: 'http://unused',
      region: 'us-east-1',
      bind: (resource) => (input) => world.bind(resource)(input),
      waitMs: { 'Pre.Wait': 0, 'Bake.WaitPoll': 0, 'Bake.WaitLeft': 0 },
      retryMs: { 'Stage.Flush': 0, 'Restore.Flush': 0 },
    });
    sfnLocal.register(MACHINE, buildReleaseStateMachine(config));
    sfnLocal.register(CACHED, buildReleaseStateMachine({ ...config, api: { ...config.api, cache: { enabled: true, sizeGb: '0.5', ttlSeconds: 60 } } }));
    process.env.AWS_ENDPOINT_URL_SFN = sfnLocal.endpoint;
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL_SFN;
    await sfnLocal.close();
  });

  async function viaCli(sc: Scenario) {
    const w = new World(sc, { deploymentId: 'dep-old', variables: { DRR_INTEGRATION: 'false', LEGACY: 'on' } });
    let t = 0;
    const reporter = new RecordingReporter();
    let outcome: ShiftOutcome | { kind: 'stopped'; reason: string };
    try {
      outcome = await shiftTraffic(sc.plan, { aws: w.aws(), reporter, now: () => t, sleep: async (ms) => void (t += ms) });
    } catch (err) {
      outcome = { kind: 'stopped', reason: (err as Error).message };
    }
    return { outcome, world: w.snapshot(), messages: reporter.messages('release') };
  }

  async function viaStateMachine(sc: Scenario, name: string) {
    world = new World(sc, { deploymentId: 'dep-old', variables: { DRR_INTEGRATION: 'false', LEGACY: 'on' } });
    const input = executionInput(sc.plan, {
      releaseId: name,
      env: 'dev',
      manifest: { releaseId: name },
      stageNow: { deploymentId: 'dep-old', variables: { DRR_INTEGRATION: 'false', LEGACY: 'on' } },
      revisions: sc.plan.functions.map(() => '1'),
      startedAt: new Date(),
    });
    const sfn = await createSfnApi({ region: 'us-east-1' });
    const { executionArn } = await sfn.startExecution(sc.plan.apiCache ? CACHED : MACHINE, name, JSON.stringify(input));
    const reporter = new RecordingReporter();
    const f = await followExecution(sfn, executionArn, { reporter, pollMs: 5 });
    let outcome: ShiftOutcome | { kind: 'stopped'; reason: string };
    try {
      outcome = f.outcome(executionArn);
    } catch (err) {
      outcome = { kind: 'stopped', reason: (err as Error).message };
    }
    return { outcome, world: world.snapshot(), messages: reporter.messages('release'), end: f.end! };
  }

  const CASES = Number(process.env.EQUIVALENCE_CASES ?? 40);
  it(`${CASES} scripted releases end alike: outcome, reason, step, aliases, stage, cache flushes and progress lines`, async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= CASES; seed++) {
      const sc = scenario(seed);
      const cli = await viaCli(sc);
      const sm = await viaStateMachine(sc, `eq${seed}`);
      const ctx = `seed ${seed}: ${JSON.stringify({ ...sc.plan, functions: sc.plan.functions.map((f) => `${f.functionName} ${f.previousVersion}→${f.newVersion}`) })}`;
      if (sc.handEdit && sm.end.error === RELEASE_ERRORS.aliasesChanged) {
        // An alias moved by hand: the CLI notices at its next bake check (its restore before any
        // step puts it back regardless); the state machine at its next move or restore, where Lambda
        // refuses the stale revision. Either way the state machine leaves that alias as the hand set it.
        const [fn] = sc.plan.functions.filter((f) => f.functionName === sc.handEdit!.fn);
        assert.deepEqual(sm.world.aliases.find(([name]) => name === fn!.functionName)?.slice(1), ['2', {}], ctx);
        assert.match((sm.outcome as { reason: string }).reason, /the live aliases were changed outside this release/, ctx);
        seen.add('hand edit');
        continue;
      }
      assert.deepEqual(sm.outcome, cli.outcome, ctx);
      assert.deepEqual(sm.world, cli.world, ctx);
      assert.deepEqual(sm.messages, cli.messages, ctx);
      for (const f of cli.world.flushes) seen.add(`flush ${f}`);
      if (sc.plan.apiCache && cli.world.flushes.length === 0) seen.add('cache, no flush');
      seen.add(cli.outcome.kind === 'rolled-back' ? cli.outcome.reason.replace(/ (at \d+%|before any traffic moved).*/, '').replace(/catalog-[a-z0-9-]+/g, 'X') : cli.outcome.kind);
      if (cli.outcome.kind === 'rolled-back' && cli.outcome.reason.includes('; ')) seen.add('several versions');
    }
    // The cases cover every way a shift ends.
    for (const kind of ['promoted', 'alarm X in ALARM', 'alarm X, X', 'gating alarm X does not exist', 'gating alarms X, X', 'new version errors above 1%', 'no gating alarms (the AlarmNames output of X is empty)'])
      assert.ok([...seen].some((s) => s.startsWith(kind)), `no case ended "${kind}": ${[...seen].join(' | ')}`);
    assert.ok([...seen].some((s) => s.includes('INSUFFICIENT_DATA for')), `no case ran out of grace: ${[...seen].join(' | ')}`);
    assert.ok(seen.has('several versions') && seen.has('hand edit'), [...seen].join(' | '));
    // The cache flushed after the variables moved forward and back, refused either way, and not flushed when they stayed.
    for (const f of ['flush forward:flushed', 'flush restore:flushed', 'flush forward:refused', 'flush restore:refused', 'cache, no flush']) assert.ok(seen.has(f), `no case with "${f}": ${[...seen].join(' | ')}`);
  });
});
