import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { createFixture, createOutputStacks, type Fixture } from './fixture.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];

describe('catalogctl release / rollback / status (CLI, emulator)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let fx: Fixture;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  // These stacks hold only Outputs, so release shifts what they run (--skip-deploy); the whole
  // pipeline (package → deploy → migrate → shift) is in release-cli.test.ts.
  const args = (cmd: string, ...more: string[]) => [cmd, ...(cmd === 'release' ? ['--skip-deploy'] : []), '--env', 'dev', '--env-dir', dir, '--endpoint-url', moto.endpoint, ...more];

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    fx = await createFixture(moto, FUNCTIONS);
    await createOutputStacks(moto, fx, FUNCTIONS);
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-release-'));
    await writeEmulatorEnv(dir, (y) => y.replace(/bucket: .*/, 'bucket: catalog-artifacts'));
    env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: moto.region };
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('releases, shows status, rolls back twice; a shift in progress refuses a release; an alarm exits 3', async () => {
    await fx.changeFunctions('r2');
    const rel = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, /^release r\S+: promoted \(catalog-list-datasets v2, /);

    const st = await runCli(args('status', '--json'), { env });
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as { aliases: { version: string }[]; shiftInProgress: boolean; releases: { outcome: string }[] };
    assert.deepEqual(s.aliases.map((a) => a.version), ['2', '2', '2', '2']);
    assert.equal(s.shiftInProgress, false);
    assert.deepEqual(s.releases.map((r) => r.outcome), ['promoted']);
    const text = await runCli(args('status'), { env });
    const lines = text.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 7), [
      'env dev',
      'stacks:',
      '  catalog-network        NOT_DEPLOYED',
      '  catalog-storage        NOT_DEPLOYED',
      '  catalog-secrets        NOT_DEPLOYED',
      '  catalog-service        CREATE_COMPLETE',
      '  catalog-observability  CREATE_COMPLETE',
    ]);
    assert.match(text.stdout, /catalog-get-dataset {2}v2 100%/);
    assert.match(text.stdout, /\nstage v1 \(\w+\): deployment \w+\n {2}variables: DRR_INTEGRATION=true, FEATURE_FRESHNESS_V2=false\nreleases:\n {2}r\S+ {2}promoted {2}\S+\n$/);

    const rb1 = await runCli(args('rollback'), { env });
    assert.equal(rb1.code, 0, rb1.stderr);
    assert.match(rb1.stdout, /catalog-list-datasets:live → 1/);
    assert.match(rb1.stdout, /stage v1 variables → DRR_INTEGRATION=false, FEATURE_FRESHNESS_V2 removed, LEGACY_FLAG=on\n$/);
    assert.match((await runCli(args('status'), { env })).stdout, /\n {2}r\S+ {2}rolled-back {2}\S+ {2}\(catalogctl rollback\)\n/);
    const rb2 = await runCli(args('rollback'), { env });
    assert.match(rb2.stdout, /already in place, nothing changed/);

    const { LambdaClient, UpdateAliasCommand } = await import('@aws-sdk/client-lambda');
    const lambda = new LambdaClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    await lambda.send(new UpdateAliasCommand({ FunctionName: FUNCTIONS[0], Name: 'live', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.1 } } }));
    const locked = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(locked.code, 2);
    assert.match(locked.stderr, /traffic shift is in progress on catalog-list-datasets/);
    assert.match((await runCli(args('status'), { env })).stdout, /catalog-list-datasets {2}v1 90%, v2 10%/);
    await runCli(args('rollback'), { env });

    await fx.setAlarm(fx.alarmNames[0]!, 'ALARM');
    await fx.changeFunctions('r3');
    const alarmed = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(alarmed.code, 3, alarmed.stderr);
    assert.match(alarmed.stderr, /release r\S+ not shifted: alarm catalog-api-5xx in ALARM before any traffic moved\n$/);
    assert.doesNotMatch(alarmed.stderr, /10% of traffic/);
  });

  it('help of release and rollback has examples', async () => {
    for (const cmd of ['release', 'rollback']) {
      const h = await runCli([cmd, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`\nExamples:\n(  \\$ catalogctl ${cmd} --env .*\n)+`), cmd);
      assert.match(h.stdout, /--json +one JSON event per line on stdout, then a summary\s+object/);
    }
  });

  it('a misspelled gating alarm in AlarmNames stops the release before any traffic moves (exit 3, naming it)', async () => {
    await moto.reset();
    fx = await createFixture(moto, FUNCTIONS);
    await createOutputStacks(moto, { ...fx, alarmNames: ['catalog-api-5xx', 'catalog-p99-latncy'] }, FUNCTIONS);
    await fx.changeFunctions('r2');
    const r = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /\ncatalogctl: release r\S+ not shifted: gating alarm catalog-p99-latncy does not exist \(AlarmNames of catalog-observability\) before any traffic moved\n$/);
    assert.doesNotMatch(r.stderr, /% of traffic/);
    const st = JSON.parse((await runCli(args('status', '--json'), { env })).stdout) as { aliases: { version: string; weights: object }[]; stage: { deploymentId: string } };
    assert.deepEqual(st.aliases.map((a) => [a.version, a.weights]), FUNCTIONS.map(() => ['1', {}]));
    assert.equal(st.stage.deploymentId, fx.deploymentId);
  });

  it('a second release of the same code is "nothing to release" (exit 0, nothing recorded); rollback and rollback --to then move real versions', async () => {
    await fx.changeFunctions('r2');
    const first = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(first.code, 0, first.stderr);
    const id = /^release (r\S+): promoted/.exec(first.stdout)![1]!;
    const again = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^release: nothing to release for dev \(catalog-list-datasets v2, catalog-get-dataset v2, catalog-write-dataset v2, catalog-authorizer v2, stage v1 deployment \w+ and variables\)\n$/);
    assert.match(again.stderr, /✔ nothing to release: code, configuration, API and stage variables equal what serves/);
    const st = JSON.parse((await runCli(args('status', '--json'), { env })).stdout) as { releases: { releaseId: string }[] };
    assert.deepEqual(st.releases.map((r) => r.releaseId), [id]);
    const back = await runCli(args('rollback'), { env });
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, new RegExp(`^rollback \\(release ${id}\\):\n  catalog-list-datasets:live → 1\n`));
    const to = await runCli(args('rollback', '--to', id), { env });
    assert.match(to.stdout, /\n {2}catalog-authorizer:live → 2\n/);
  });

  it('--json: release and rollback print one JSON event per line, the bake\'s progress among them, and a summary last, also when refused', async () => {
    await fx.changeFunctions('r2');
    const rel = await runCli(args('release', '--bake', '1', '--json'), { env });
    assert.equal(rel.code, 0, rel.stderr);
    const lines = rel.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; level?: string; message?: string; data?: { step?: number; remainingSeconds?: number; gate?: string } } & Record<string, unknown>);
    assert.ok(lines.slice(0, -1).every((l) => l.type === 'event'));
    const summary = lines.at(-1)!;
    assert.equal(summary.type, 'summary');
    assert.equal(summary.outcome, 'promoted');
    assert.equal(summary.command, 'release');
    assert.deepEqual((summary.functions as { versionAfter: string }[]).map((f) => f.versionAfter), ['2', '2', '2', '2']);
    const bake = lines.filter((l) => l.level === 'progress' && l.data?.step === 10);
    assert.deepEqual(bake.map((l) => [l.data!.remainingSeconds, l.data!.gate]), [[1, 'pass'], [0, 'pass']]);
    assert.equal(bake[0]!.message, '10%: baking, 1 s left · gates: 2 alarms OK; new versions: 0 failures in 0 invocations');
    assert.equal(rel.stderr, '', 'nothing human on stderr');

    const rb = await runCli(args('rollback', '--json'), { env });
    const rbSummary = JSON.parse(rb.stdout.trimEnd().split('\n').at(-1)!) as { outcome: string; changed: string[]; releaseId: string };
    assert.equal(rbSummary.outcome, 'rolled-back');
    assert.equal(rbSummary.releaseId, summary.releaseId);
    assert.equal(rbSummary.changed.length, FUNCTIONS.length + 2);

    await fx.setAlarm(fx.alarmNames[0]!, 'ALARM');
    await fx.changeFunctions('r3');
    const refused = await runCli(args('release', '--bake', '0', '--json'), { env });
    assert.equal(refused.code, 3);
    const last = JSON.parse(refused.stdout.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
    assert.deepEqual([last.type, last.outcome, last.exitCode, last.reason], ['summary', 'not-shifted', 3, 'alarm catalog-api-5xx in ALARM before any traffic moved']);
    assert.match(refused.stderr, /^catalogctl: release r\S+ not shifted: alarm catalog-api-5xx in ALARM/);
    const noEnv = await runCli(['release', '--env', 'nope', '--env-dir', dir, '--endpoint-url', moto.endpoint, '--json'], { env });
    assert.equal(noEnv.code, 2);
    assert.deepEqual(Object.keys(JSON.parse(noEnv.stdout)).sort(), ['command', 'env', 'error', 'exitCode', 'outcome', 'type']);
  });

  it('--verify runs verify against the stage before each step: a stage answering 503 rolls the release back before 10% (exit 3)', async () => {
    const { createServer } = await import('node:http');
    const hits: string[] = [];
    const bad = createServer((req, res) => (hits.push(`${req.method} ${req.url}`), res.writeHead(503).end()));
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    try {
      await moto.reset();
      fx = await createFixture(moto, FUNCTIONS);
      await createOutputStacks(moto, fx, FUNCTIONS, { ApiUrl: `http://127.0.0.1:${(bad.address() as { port: number }).port}/v1` });
      await fx.changeFunctions('r2');
      const r = await runCli(args('release', '--bake', '0', '--verify', '--verify-requests', '2'), { env: { ...env, CATALOGCTL_TOKEN: 'a.b.c' } });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /\ncatalogctl: release r\S+ rolled back: gate failed before 10%: verify failed health, synthetic\n$/);
      assert.ok(hits.some((h) => h.startsWith('GET /v1/storage/v1/catalog/datasets?limit=1')), hits.join(', '));
      assert.ok(!hits.some((h) => h.includes('/_local/')), 'a stage is never asked for /_local/');
      assert.match(r.stderr, /\n▸ verifying http:\/\/127\.0\.0\.1:\d+\/v1 before 10%\n… health probe × 2\n… synthetic describe\n/);
      const st = JSON.parse((await runCli(args('status', '--json'), { env })).stdout) as { aliases: { version: string }[]; stage: { deploymentId: string } };
      assert.deepEqual(st.aliases.map((a) => a.version), ['1', '1', '1', '1']);
      assert.equal(st.stage.deploymentId, fx.deploymentId);
    } finally {
      bad.close();
    }
  });

  it('without a terminal the bake prints a progress line every poll with the time left and the gates', async () => {
    await fx.changeFunctions('r2');
    const r = await runCli(args('release', '--bake', '2'), { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\n… 10%: baking, 2 s left · gates: 2 alarms OK; new versions: 0 failures in 0 invocations\n… 10%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations\n▸ 50% of traffic on the new versions\n/);
  });

  it('refuses another account (exit 2) and, when approval is required, a run without a terminal or --approve (exit 2)', async () => {
    const other = await runCli(['release', '--env', 'dev', '--endpoint-url', moto.endpoint], { env });
    assert.equal(other.code, 2);
    assert.match(other.stderr, /account mismatch/);
    const p = join(dir, 'dev.yaml');
    await writeFile(p, (await readFile(p, 'utf8')).replace(/^release:\n/m, 'release:\n  requireApproval: true\n'));
    const noTty = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /requires approval; pass --approve/);
    const approved = await runCli(args('release', '--bake', '0', '--approve'), { env });
    assert.equal(approved.code, 0, approved.stderr);
  });

  it('status of an account with nothing deployed says so (exit 0); release there needs the artifact bucket (3); an AWS error is one line and exit 3', async () => {
    await moto.reset();
    const empty = await runCli(args('status'), { env });
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(
      empty.stdout,
      [
        'env dev',
        'stacks:',
        ...['catalog-network', 'catalog-storage', 'catalog-secrets', 'catalog-service', 'catalog-observability'].map((s) => `  ${s.padEnd(21)}  NOT_DEPLOYED`),
        'note: catalog-service and catalog-observability are not both deployed: no aliases or stage to show; artifact bucket catalog-artifacts does not exist yet: no releases recorded',
        'releases:',
        '  none recorded',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await runCli(args('status', '--json'), { env })).stdout) as { stacks: { status: string }[]; aliases: unknown[]; stage?: unknown };
    assert.deepEqual([json.stacks.map((s) => s.status), json.aliases, json.stage], [Array(5).fill('NOT_DEPLOYED'), [], undefined]);
    const noBucket = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(noBucket.code, 3, noBucket.stderr);
    assert.equal(noBucket.stderr, 'catalogctl: release: artifact bucket catalog-artifacts (artifacts.bucket of env dev) does not exist; create it first\n');
    // Stacks whose Outputs name functions that do not exist: Lambda's own error, on one line.
    await createOutputStacks(moto, { ...fx, alarmNames: ['nope'] }, FUNCTIONS.map((f) => `${f}-gone`));
    const broken = await runCli(args('status'), { env });
    assert.equal(broken.code, 3, broken.stderr);
    assert.match(broken.stderr, /^catalogctl: AWS error ResourceNotFoundException \(HTTP 404[^)]*\): .*function:catalog-[a-z-]+-gone\n$/);
  });

  it('SIGTERM during a bake restores the previous release and exits 130', async () => {
    await fx.changeFunctions('r2');
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../support/cli.ts');
    const child = spawn(process.execPath, [CLI, ...args('release', '--bake', '60')], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((res) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Twice, as an impatient user would: the second must not cut the restore short.
        if (/10% of traffic/.test(stderr) && !child.killed) {
          child.kill('SIGTERM');
          child.kill('SIGTERM');
        }
      });
      child.on('close', (c) => res(c));
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted at 10%/);
    const st = JSON.parse((await runCli(args('status', '--json'), { env })).stdout) as { aliases: { version: string; weights: object }[]; stage: { deploymentId: string } };
    assert.deepEqual(st.aliases.map((a) => [a.version, a.weights]), FUNCTIONS.map(() => ['1', {}]));
    assert.equal(st.stage.deploymentId, fx.deploymentId);
  });
});
