/**
 * Release timings against the local emulator (started here, on a loopback port):
 * - a whole release with zero bake: lock → upload → deploy (change set) → migrate (scripted: the
 *   emulator cannot invoke) → versions → API deployment → 10/50/100 shift → Live* parameters
 *   recorded in catalog-service, with the miniature stacks;
 * - time from an alarm going to ALARM until every alias serves the old version again (the last
 *   UpdateAlias of the restore returned), with real timers at alarm polls of 1 s and of the env's
 *   10 s (the wait for the next poll dominates);
 * - one gate check of a bake (DescribeAlarms on the gating alarms + one GetMetricData for the four
 *   new versions' failures and invocations), and the "nothing to release?" comparison (each API
 *   function's $LATEST against its live version, the API definition's fingerprint, the stage), each
 *   run against a promoted release;
 * - the same alarm → old version time with the shift run by the release state machine
 *   (`release --on aws`): the rendered definition executed by the Step Functions stand-in
 *   (aws-local-stepfunctions, its SDK tasks calling the emulator), side by side with the CLI's;
 * - the baseline, measured in the same run: one UpdateAlias round trip, the least that moving
 *   traffic costs.
 */
import { CloudWatchClient, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { createAwsApi, type AwsApi } from '../src/aws/index.ts';
import { API_FUNCTIONS, type EnvConfig } from '../src/config/types.ts';
import { compareWithLive, release, resolveTargets } from '../src/deploy/release.ts';
import { readAliases, readGates, type ShiftPlan } from '../src/deploy/shift.ts';
import { deployStacks } from '../src/deploy/stacks.ts';
import { fixtureTemplates, fnName, goLive, putCode, testConfig, type Live } from '../test/deploy/stack-fixtures.ts';
import { getMoto, stopSharedMoto, TEST_CREDENTIALS, type Moto } from '../test/support/moto.ts';
import { startSfnLocal, type SfnLocal } from '../test/support/sfn-local.ts';
import { buildReleaseStateMachine } from '../src/templates/release-state-machine.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function fresh(moto: Moto, config: EnvConfig): Promise<{ aws: AwsApi; live: Live }> {
  await moto.reset();
  const real = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
  const aws: AwsApi = { ...real, lambda: { ...real.lambda, invoke: async () => ({ statusCode: 200, payload: '{"applied":[],"current":3}' }) } };
  await deployStacks({ config, templates: fixtureTemplates(config), codeKeys: await putCode(moto, config, 'a') }, { aws, pollMs: 0 });
  return { aws, live: await goLive(moto, config) };
}

const releaseOpts = (moto: Moto, config: EnvConfig, tag: string) => ({
  templates: fixtureTemplates(config),
  stackPollMs: 0,
  artifacts: async () => ({ codeKeys: await putCode(moto, config, tag, false), artifactKeys: {} }),
});

async function main(): Promise<void> {
  const moto = await getMoto();
  const baseline: number[] = [];
  const whole: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const config = await testConfig({ release: { bakeSeconds: 0 } });
    const { aws } = await fresh(moto, config);
    let t0 = performance.now();
    await aws.lambda.updateAlias(fnName(config, 'list-datasets'), 'live', '1', {});
    baseline.push(performance.now() - t0);
    t0 = performance.now();
    const r = await release(config, aws, releaseOpts(moto, config, `b${i}`));
    whole.push(performance.now() - t0);
    if (r.kind !== 'released' || r.outcome.kind !== 'promoted') throw new Error(`release ${r.kind === 'released' ? r.outcome.kind : r.kind}`);
  }

  // Against the last promoted release of the loop above: what every poll of a bake costs, and what
  // a release pays to find out there is nothing to release.
  const gateCheck: number[] = [];
  const noop: number[] = [];
  {
    const config = await testConfig({ release: { bakeSeconds: 0 } });
    const { aws } = await fresh(moto, config);
    const r = await release(config, aws, releaseOpts(moto, config, 'g'));
    if (r.kind !== 'released') throw new Error('expected a release');
    const t = await resolveTargets(aws, config);
    const plan: Pick<ShiftPlan, 'functions' | 'alarmNames' | 'errorRatePercent'> = {
      functions: r.manifest.functions.map((f) => ({ functionName: f.functionName, previousVersion: f.versionBefore, newVersion: f.versionAfter })),
      alarmNames: t.alarmNames,
      errorRatePercent: 1,
    };
    for (let i = 0; i < RUNS * 4; i++) {
      let t0 = performance.now();
      await readGates(aws, plan, { since: new Date(Date.now() - 120_000), until: new Date(Date.now() + 60_000) });
      gateCheck.push(performance.now() - t0);
      t0 = performance.now();
      const { aliases } = await readAliases(aws, t.functions);
      const live = await compareWithLive(aws, config, t, aliases, await aws.apigateway.getStage(t.restApiId, t.stageName));
      noop.push(performance.now() - t0);
      if (!live.functions.every((f) => f.same) || !live.api.same) throw new Error('expected nothing to release');
    }
  }

  // Traffic is back once the last alias update of the restore returns (the stage, the manifest and
  // the stack record follow, but move no traffic). In the CLI's shift the restore begins when it
  // reports "rolling back"; in the state machine's, with its Restore.Aliases Map.
  const alarmRows: [string, number[], number[]][] = [];
  let restoreStart = 0;
  let aliasesBack = 0;
  // The alarm goes off part-way into the first bake, timed from the first 10% alias update either
  // engine makes (each checks the gates right after it), as a real alarm would.
  let moved: (() => void) | undefined;
  const weighted = (w: object | undefined) => Object.keys(w ?? {}).length > 0;
  const sfn: SfnLocal = await startSfnLocal({
    awsEndpoint: moto.endpoint,
    region: moto.region,
    before: (call) => {
      const u = call.input as { FunctionVersion?: string; RoutingConfig?: { AdditionalVersionWeights?: object } };
      if (call.action === 'updateAlias' && u.FunctionVersion === '1' && !weighted(u.RoutingConfig?.AdditionalVersionWeights)) restoreStart ||= performance.now();
    },
    after: (call) => {
      const u = call.input as { RoutingConfig?: { AdditionalVersionWeights?: object } };
      if (call.action === 'updateAlias' && weighted(u.RoutingConfig?.AdditionalVersionWeights)) moved?.();
      if (call.action === 'updateAlias' && restoreStart) aliasesBack = performance.now();
    },
  });
  process.env.AWS_ENDPOINT_URL_SFN = sfn.endpoint;
  for (const on of ['cli', 'aws'] as const) {
    for (const poll of [1, 10]) {
      const detect: number[] = [];
      const restoreOnly: number[] = [];
      for (let i = 0; i < (poll === 1 ? RUNS : 2); i++) {
        const config = await testConfig({ release: { bakeSeconds: 60, alarmPollSeconds: poll } });
        const { aws, live } = await fresh(moto, config);
        const machine = `arn:aws:states:${moto.region}:123456789012:stateMachine:catalog-${config.name}-release-${on}${poll}-${i}`;
        if (on === 'aws') sfn.register(machine, buildReleaseStateMachine(config));
        // What catalog-service's ReleaseStateMachineArn output says once it deploys the machine.
        const describeStack = aws.cloudformation.describeStack.bind(aws.cloudformation);
        aws.cloudformation.describeStack = async (name) => {
          const st = await describeStack(name);
          return st && name.endsWith('-service') ? { ...st, outputs: { ...st.outputs, ReleaseStateMachineArn: machine } } : st;
        };
        const cw = new CloudWatchClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, protocol: AwsQueryProtocol });
        let alarmAt = 0;
        restoreStart = 0;
        aliasesBack = 0;
        moved = () => {
          moved = undefined;
          setTimeout(async () => {
            await cw.send(new SetAlarmStateCommand({ AlarmName: live.alarms[0]!, StateValue: 'ALARM', StateReason: 'bench' }));
            alarmAt = performance.now();
          }, poll * 400);
        };
        const updateAlias = aws.lambda.updateAlias.bind(aws.lambda);
        aws.lambda.updateAlias = async (...args) => {
          await updateAlias(...args);
          if (weighted(args[3])) moved?.();
          if (restoreStart) aliasesBack = performance.now();
        };
        const r = await release(config, aws, {
          ...releaseOpts(moto, config, `c${on}${i}`),
          on,
          followPollMs: 100,
          reporter: {
            report: (e) => {
              if (on === 'cli' && e.message.includes('rolling back')) restoreStart = performance.now();
            },
          },
        });
        const done = aliasesBack;
        if (r.kind !== 'released' || r.outcome.kind !== 'rolled-back') throw new Error(`expected a rollback (${on})`);
        const served = await Promise.all(API_FUNCTIONS.map((fn) => aws.lambda.getAlias(fnName(config, fn), 'live')));
        if (served.some((a) => a.functionVersion !== '1' || Object.keys(a.additionalWeights).length)) throw new Error('aliases not restored');
        detect.push(done - alarmAt);
        restoreOnly.push(done - restoreStart);
      }
      alarmRows.push([`alarm → old version serving, ${on === 'cli' ? 'CLI shift' : 'state machine'}, poll ${poll} s`, detect, restoreOnly]);
    }
  }
  await sfn.close();
  await stopSharedMoto();

  const b = median(baseline);
  console.log(`runs: ${RUNS} (alarm at 10 s poll: 2), emulator on loopback; state machine: the Step Functions stand-in in this process`);
  console.log('| measurement | median ms | min ms | × baseline |');
  console.log('|---|---|---|---|');
  const row = (name: string, xs: number[]) => console.log(`| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${(median(xs) / b).toFixed(1)} |`);
  row('baseline: one UpdateAlias', baseline);
  row('release, zero bake (lock → deploy → migrate → versions → 10/50/100 → record)', whole);
  row('one gate check (DescribeAlarms + GetMetricData, 4 versions)', gateCheck);
  row('"nothing to release?" (4 × $LATEST vs live, API fingerprint, stage)', noop);
  for (const [name, detect, restore] of alarmRows) {
    row(name, detect);
    row(`  of which restore (the aliases)`, restore);
  }
}

main().catch(async (err) => {
  await stopSharedMoto();
  console.error(err);
  process.exitCode = 1;
});
