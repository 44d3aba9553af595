/**
 * `release --on aws`: the rendered release state machine run by the Step Functions stand-in
 * (test/support/sfn-local.ts: aws-local-stepfunctions in this process, its SDK tasks calling the
 * emulator through the real AWS SDK), started and followed by the built CLI through
 * AWS_ENDPOINT_URL_SFN, so the execution lives outside the CLI's process as it does in AWS.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import { readManifest, readReleaseLock } from '../../src/deploy/release.ts';
import { buildReleaseStateMachine } from '../../src/templates/release-state-machine.ts';
import { CLI, runCli } from '../support/cli.ts';
import { getMoto, type Moto } from '../support/moto.ts';
import { startCacheFlushProxy, type CacheFlushProxy } from '../support/cache-flush-proxy.ts';
import type { SfnLocal } from '../support/sfn-local.ts';
import { createFixture, createOutputStacks, type Fixture } from './fixture.ts';
import { FUNCTIONS, MACHINE, serverShiftWorld } from './server-shift-world.ts';


describe('release --on aws: the shift run by the release state machine (CLI, emulator, Step Functions stand-in)', function () {
  this.timeout(120_000);
  let moto: Moto;
  /** In front of the emulator, for FlushStageCache (which it lacks); everything goes through it. */
  let proxy: CacheFlushProxy;
  let sfn: SfnLocal;
  let fx: Fixture;
  let aws: AwsApi;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Awaited<ReturnType<typeof loadEnv>>;
  let close: () => Promise<void>;
  const args = (cmd: string, ...more: string[]) => [cmd, ...(cmd === 'release' && !more.includes('--follow') ? ['--skip-deploy'] : []), '--env', 'dev', '--env-dir', dir, '--endpoint-url', proxy.endpoint, ...more];

  before(async () => {
    moto = await getMoto();
    proxy = await startCacheFlushProxy(moto.endpoint);
  });
  after(() => proxy.close());

  beforeEach(async () => {
    proxy.flushes.length = 0;
    proxy.onFlush = undefined;
    ({ fx, aws, dir, config, sfn, env, close } = await serverShiftWorld(moto, proxy.endpoint, 'server-shift'));
  });
  afterEach(() => close());

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
    assert.deepEqual(proxy.flushes, [], 'dev has no API cache: nothing to flush');
  });

  it("with an API cache (staging, prod): the execution flushes it right after moving the stage's variables and after restoring them; rollback flushes too", async () => {
    // dev with staging's cache, polling every second.
    const yaml = (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('enabled: false\n    sizeGb: null', 'enabled: true\n    sizeGb: "0.5"').replace('release:\n', 'release:\n  alarmPollSeconds: 1\n');
    assert.match(yaml, /cache:\n {4}enabled: true\n[^]*release:\n {2}alarmPollSeconds: 1\n/);
    await writeFile(join(dir, 'dev.yaml'), yaml);
    sfn.register(MACHINE, buildReleaseStateMachine(await loadEnv('dev', { envDir: dir })));
    const seen: unknown[] = [];
    proxy.onFlush = async () => void seen.push({ stage: await stage(), aliases: (await aliases()).map((a) => a.functionVersion) });
    const flushed = { restApiId: fx.restApiId, stageName: fx.stageName };
    const FLUSHED = '✔ stage v1: API cache flushed (its variables changed)';

    const r = await runCli(args('release', '--on', 'aws', '--bake', '1'), { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    const at = lines.findIndex((l) => l.startsWith('▸ the shift runs in AWS Step Functions'));
    assert.deepEqual(lines.slice(at + 1, at + 3), [FLUSHED, '▸ 10% of traffic on the new versions']);
    assert.deepEqual(proxy.flushes, [flushed]);
    const moved = await stage();
    assert.deepEqual(seen, [{ stage: moved, aliases: ['1', '1', '1', '1'] }], 'flushed once the stage had its new variables, before any alias moved');
    assert.deepEqual(moved.variables, config.api.stageVariables);

    const rb = await runCli(args('rollback'), { env });
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /\n {2}stage v1: API cache flushed \(its variables changed\)\n$/);
    assert.equal(proxy.flushes.length, 2);

    // An alarm mid-bake: the execution restores the variables and flushes again.
    await fx.changeFunctions('r3');
    const rel = background(args('release', '--on', 'aws', '--bake', '30'));
    await rel.saw('10%: baking');
    await fx.setAlarm('catalog-p99-latency', 'ALARM');
    assert.equal(await rel.exit, 3, rel.stderr());
    assert.match(rel.stderr(), new RegExp(`\\n${FLUSHED.replace(/[()]/g, '\\$&')}\\n▸ 10% of traffic on the new versions\\n[^]*\\n! alarm catalog-p99-latency in ALARM at 10%: rolling back\\n${FLUSHED.replace(/[()]/g, '\\$&')}\\ncatalogctl: release r\\S+ rolled back`));
    assert.deepEqual(await stage(), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    assert.deepEqual(proxy.flushes, [flushed, flushed, flushed, flushed]);
    assert.deepEqual(seen.at(-1), { stage: { deploymentId: fx.deploymentId, variables: fx.stageVariables }, aliases: ['1', '1', '1', '1'] }, 'the last flush after the aliases and the stage were back');
  });

  it('an alarm forced to ALARM mid-bake: aliases and stage restored by the execution, exit 3 from the CLI that started it and from one following it', async () => {
    const rel = background(args('release', '--on', 'aws', '--bake', '30'));
    await rel.saw('10%: baking');
    // A second CLI attaches while the first still follows.
    const follow = background(args('release', '--follow'));
    await follow.saw('following release r');
    await fx.setAlarm('catalog-p99-latency', 'ALARM');
    const [code, followCode] = await Promise.all([rel.exit, follow.exit]);
    for (const [c, err] of [[code, rel.stderr()], [followCode, follow.stderr()]] as const) {
      assert.equal(c, 3, err);
      assert.match(err, /! alarm catalog-p99-latency in ALARM at 10%: rolling back\n/);
      assert.match(err, /\ncatalogctl: release r\S+ rolled back: alarm catalog-p99-latency in ALARM at 10%\n$/);
    }
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.deepEqual(await stage(), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    const ex = onlyExecution();
    assert.deepEqual([ex.status, ex.error, ex.cause], ['FAILED', 'Release.RolledBack', 'alarm catalog-p99-latency in ALARM at 10%']);
    const m = await readManifest(aws, config, ex.name);
    assert.deepEqual([m?.outcome, m?.reason], ['rolled-back', 'alarm catalog-p99-latency in ALARM at 10%']);
    assert.equal(await readReleaseLock(aws, config), undefined);
    // status and a following CLI agree with the record.
    assert.match((await runCli(args('status'), { env })).stdout, new RegExp(`\\n  ${ex.name}  rolled-back  \\S+  \\(alarm catalog-p99-latency in ALARM at 10%\\)\\n`));
  });

  it('the CLI killed mid-shift: the execution carries on to 100 %; Ctrl-C detaches (130, saying how to follow), --follow attaches again', async () => {
    const killed = background(args('release', '--on', 'aws', '--bake', '2'));
    await killed.saw('10% of traffic on the new versions');
    killed.child.kill('SIGKILL');
    await killed.exit;
    const ex = onlyExecution();
    await ex.done;
    assert.equal(ex.status, 'SUCCEEDED');
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));
    assert.equal((await readManifest(aws, config, ex.name))?.outcome, 'promoted');
    assert.equal(await readReleaseLock(aws, config), undefined);

    // A second release, detached with Ctrl-C, then followed again to its end.
    await fx.changeFunctions('r3');
    const detached = background(args('release', '--on', 'aws', '--bake', '3'));
    await detached.saw('10% of traffic on the new versions');
    detached.child.kill('SIGINT');
    assert.equal(await detached.exit, 130, detached.stderr());
    assert.match(detached.stderr(), /\ncatalogctl: detached from release execution arn:aws:states:\S+:r\S+: it carries on in AWS; follow it with `catalogctl release --env dev --follow`; stop it and restore the previous release with `catalogctl rollback --env dev`\n$/);
    const second = sfn.executions().find((e) => e !== ex)!;
    assert.equal(second.status, 'RUNNING', 'detaching does not stop it');
    const lock = await readReleaseLock(aws, config);
    assert.equal(lock?.execution, second.executionArn, 'the lock names the execution');
    const st = await runCli(args('status'), { env });
    assert.match(st.stdout, new RegExp(`\\nrelease running in AWS: ${second.name} \\(execution ${second.executionArn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) since \\S+: at (10|50)% \\((baking, \\d+ s left|bake done)\\)\\n`));
    const again = await runCli(args('release', '--on', 'aws', '--bake', '0'), { env });
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, new RegExp(`catalogctl: release: release ${second.name} of dev is running in AWS \\(execution \\S+\\); follow it with \`catalogctl release --env dev --follow\` or stop it with \`catalogctl rollback --env dev\`\\n$`));
    const followed = await runCli(args('release', '--follow'), { env });
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stderr, new RegExp(`^▸ following release ${second.name} \\(execution \\S+, started \\S+\\): at \\d+%`));
    assert.match(followed.stderr, /▸ 100% of traffic on the new versions\n/);
    assert.match(followed.stdout, new RegExp(`^release ${second.name}: promoted \\(catalog-list-datasets v3, `));
    assert.equal(second.status, 'SUCCEEDED');
    assert.equal((await runCli(args('release', '--follow'), { env })).stdout, 'release: no release of dev is running in AWS; nothing to follow\n');
  });

  it('rollback stops a running execution (StopExecution) and restores; the releasing CLI reports the stop (exit 3)', async () => {
    const rel = background(args('release', '--on', 'aws', '--bake', '30'));
    await rel.saw('▸ 10% of traffic on the new versions');
    const rb = await runCli(args('rollback'), { env });
    assert.equal(rb.code, 0, rb.stderr);
    const ex = onlyExecution();
    assert.equal(ex.status, 'ABORTED');
    assert.match(rb.stdout, new RegExp(`^rollback \\(release ${ex.name}\\):\\n  release execution ${ex.name} stopped\\n  catalog-list-datasets:live → 1\\n`));
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.deepEqual(await stage(), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    const m = await readManifest(aws, config, ex.name);
    assert.deepEqual([m?.outcome, m?.reason], ['rolled-back', 'release execution stopped by catalogctl rollback']);
    assert.equal(await readReleaseLock(aws, config), undefined, 'the stopped execution cannot remove its lock: rollback does');
    assert.equal(await rel.exit, 3, rel.stderr());
    assert.match(rel.stderr(), /\ncatalogctl: release execution \S+ was stopped \(stopped by catalogctl rollback\); see `catalogctl status`\n$/);
    // Nothing moves afterwards: the stopped execution is over.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    const again = await runCli(args('rollback'), { env });
    assert.match(again.stdout, /already in place, nothing changed/);
  });

  it('refuses what cannot run in AWS before anything moves: --on elsewhere, --verify, --follow with release flags, bakes the history cannot hold (2); no state machine deployed (3)', async () => {
    const bad = async (argv: string[], code: number, line: RegExp) => {
      const r = await runCli(argv, { env });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, line);
    };
    await bad(args('release', '--on', 'lambda'), 2, /catalogctl: --on: must be cli or aws, got "lambda"\n$/);
    await bad(args('release', '--on', 'aws', '--verify'), 2, /catalogctl: --verify gates each step from this process: it cannot gate a shift run in AWS \(--on cli\)\n$/);
    await bad(args('release', '--follow', '--bake', '3'), 2, /catalogctl: --follow attaches to a release already running: it takes no --bake\n$/);
    await bad(args('release', '--on', 'aws', '--bake', '86400'), 2, /catalogctl: release --on aws: 3 steps with 86400 s bakes polled every 10 s need about \d+ history events; a Standard Step Functions execution keeps 25000: /);
    assert.deepEqual(sfn.executions(), []);
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    await moto.reset();
    fx = await createFixture(moto, FUNCTIONS);
    await createOutputStacks(moto, fx, FUNCTIONS);
    await fx.changeFunctions('r2');
    await bad(args('release', '--on', 'aws', '--bake', '0'), 3, /catalogctl: release --on aws: stack catalog-service has no ReleaseStateMachineArn output; deploy catalog-service with the release state machine first\n$/);
    assert.equal(await readReleaseLock(aws, config), undefined, 'the lock is released');
  });
});
