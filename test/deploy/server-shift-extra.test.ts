/**
 * `release --on aws`, more of it through the built CLI against the emulator and the Step Functions
 * stand-in (test/support/sfn-local.ts), set up as server-shift.test.ts does: the env file's
 * `release.shift` choosing where the shift runs and `--on` overriding it; `rollback` when the
 * running execution cannot be stopped; `status` when the execution the lock names cannot be read.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import { readManifest, readReleaseLock } from '../../src/deploy/release.ts';
import { CLI, runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, type Moto } from '../support/moto.ts';
import type { SfnLocal } from '../support/sfn-local.ts';
import type { Fixture } from './fixture.ts';
import { FUNCTIONS, MACHINE, serverShiftWorld } from './server-shift-world.ts';

const EXECUTION = (name: string) => `${MACHINE.replace(':stateMachine:', ':execution:')}:${name}`;

/** What IAM answers a caller whose policy does not allow `states:<op>` on the execution. */
const denied = (op: string, arn: string) => `User: arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/catalog-operator/ci is not authorized to perform: states:${op} on resource: ${arn} because no identity-based policy allows the states:${op} action`;

/**
 * Step Functions as an operator whose role lacks some `states:` actions sees it: a loopback proxy
 * in front of the stand-in that answers the named operations with IAM's AccessDeniedException (400,
 * awsJson1_0, as Step Functions returns it) and passes every other request on unchanged. Scripted:
 * only the refusal; the execution, its history and everything it does stay the stand-in's.
 */
interface RefusingSfn {
  endpoint: string;
  /** The refused requests, in order. */
  refused: { op: string; executionArn: string }[];
  close(): Promise<void>;
}

async function refusingSfn(target: string, ops: string[]): Promise<RefusingSfn> {
  const refused: RefusingSfn['refused'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op = String(req.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
      if (ops.includes(op)) {
        const executionArn = String((JSON.parse(body.toString() || '{}') as { executionArn?: string }).executionArn);
        refused.push({ op, executionArn });
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'AccessDeniedException', message: denied(op, executionArn) }));
        return;
      }
      const fwd = request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 500, up.headers);
        up.pipe(res);
      });
      fwd.on('error', (err) => {
        res.writeHead(502);
        res.end(err.message);
      });
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    refused,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('release --on aws: where the shift runs, and rollback and status when Step Functions refuses (CLI, emulator, Step Functions stand-in)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let sfn: SfnLocal;
  let fx: Fixture;
  let aws: AwsApi;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: Awaited<ReturnType<typeof loadEnv>>;
  let close: () => Promise<void>;
  let refusing: RefusingSfn | undefined;
  let running: { child: ChildProcess; exit: Promise<number | null> } | undefined;
  const args = (cmd: string, ...more: string[]) => [cmd, ...(cmd === 'release' ? ['--skip-deploy'] : []), '--env', 'dev', '--env-dir', dir, '--endpoint-url', moto.endpoint, ...more];

  before(async () => {
    moto = await getMoto();
  });

  beforeEach(async () => {
    ({ fx, aws, dir, config, sfn, env, close } = await serverShiftWorld(moto, moto.endpoint, 'server-shift-extra'));
  });
  afterEach(async () => {
    // A releasing CLI still following its execution goes first, then the execution with the stand-in.
    if (running) {
      running.child.kill('SIGKILL');
      await running.exit;
      running = undefined;
    }
    await refusing?.close();
    refusing = undefined;
    await close();
  });

  const aliases = () => Promise.all(FUNCTIONS.map((fn) => aws.lambda.getAlias(fn, 'live')));
  const stage = () => aws.apigateway.getStage(fx.restApiId, fx.stageName);
  const onlyExecution = () => {
    const all = sfn.executions();
    assert.equal(all.length, 1, 'one execution');
    return all[0]!;
  };

  /** The CLI in the background until a line shows on its stderr; killed after the test. */
  async function releasingUntil(argv: string[], text: string): Promise<void> {
    const child = spawn(process.execPath, [CLI, ...argv], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exit = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    running = { child, exit };
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes(text)) resolve();
      });
      void exit.then(() => reject(new Error(`CLI ended without "${text}":\n${err}`)));
    });
  }

  /** The progress lines from the release's first one on. */
  const progress = (stderr: string) => {
    const lines = stderr.split('\n');
    return lines.slice(lines.findIndex((l) => l.startsWith('▸ release r')));
  };

  it("the env file's release.shift: aws runs the shift in the state machine without --on; --on cli runs it in the CLI", async () => {
    const yaml = (await readFile(join(dir, 'dev.yaml'), 'utf8')).replace('release:\n', 'release:\n  shift: aws\n');
    assert.match(yaml, /\nrelease:\n {2}shift: aws\n/);
    await writeFile(join(dir, 'dev.yaml'), yaml);
    assert.equal((await loadEnv('dev', { envDir: dir })).release.shift, 'aws');

    const r = await runCli(args('release', '--bake', '0'), { env });
    assert.equal(r.code, 0, r.stderr);
    const id = /^release (r\S+): promoted \(catalog-list-datasets v2, catalog-get-dataset v2, catalog-write-dataset v2, catalog-authorizer v2\)\n$/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    const ex = onlyExecution();
    assert.deepEqual([ex.name, ex.status], [id, 'SUCCEEDED']);
    const steps = [
      '▸ 10% of traffic on the new versions',
      '… 10%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '▸ 50% of traffic on the new versions',
      '… 50%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '▸ 100% of traffic on the new versions',
      '… 100%: bake done · gates: 2 alarms OK; new versions: 0 failures in 0 invocations',
      '',
    ];
    assert.deepEqual(progress(r.stderr), [`▸ release ${id}: shifting 4 functions through 10/50/100%`, `▸ the shift runs in AWS Step Functions: execution ${EXECUTION(id)}`, ...steps]);
    const m = await readManifest(aws, config, id);
    assert.deepEqual([m?.outcome, m?.execution], ['promoted', EXECUTION(id)], 'the record names the execution that ran the shift');
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '2', additionalWeights: {} })));

    // --on cli over the env file: this process shifts, no execution is started.
    await fx.changeFunctions('r3');
    const c = await runCli(args('release', '--on', 'cli', '--bake', '0'), { env });
    assert.equal(c.code, 0, c.stderr);
    const cid = /^release (r\S+): promoted \(catalog-list-datasets v3, catalog-get-dataset v3, catalog-write-dataset v3, catalog-authorizer v3\)\n$/.exec(c.stdout)?.[1];
    assert.ok(cid, c.stdout);
    assert.deepEqual(progress(c.stderr), [`▸ release ${cid}: shifting 4 functions through 10/50/100%`, ...steps], 'the same progress, without an execution');
    assert.deepEqual(sfn.executions(), [ex], 'no second execution');
    const cm = await readManifest(aws, config, cid);
    assert.deepEqual([cm?.outcome, cm?.execution], ['promoted', undefined]);
    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '3', additionalWeights: {} })));
    assert.equal(await readReleaseLock(aws, config), undefined);
  });

  it('rollback restores the aliases and the stage when StopExecution is refused: a warning, the execution left running, the lock still naming it', async () => {
    await releasingUntil(args('release', '--on', 'aws', '--bake', '30'), '10%: baking');
    const ex = onlyExecution();
    assert.deepEqual((await aliases()).map((a) => a.additionalWeights), FUNCTIONS.map(() => ({ '2': 0.1 })), 'mid-shift: 10 % on v2');
    assert.notEqual((await stage()).deploymentId, fx.deploymentId);
    // Scripted: Step Functions refusing StopExecution (IAM's AccessDeniedException, as for an
    // operator whose role lacks states:StopExecution). An execution ARN that does not exist would not
    // do: rollback describes the execution first and, finding none, never asks to stop it.
    refusing = await refusingSfn(sfn.endpoint, ['StopExecution']);
    // --json: the warning is an event of its own, next to the summary.
    const rb = await runCli(args('rollback', '--json'), { env: { ...env, AWS_ENDPOINT_URL_SFN: refusing.endpoint } });
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(refusing.refused, [{ op: 'StopExecution', executionArn: ex.executionArn }]);
    const out = rb.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      out.filter((e) => e.level === 'warn'),
      [{ type: 'event', level: 'warn', topic: 'rollback', message: `could not stop release execution ${ex.executionArn} (${denied('StopExecution', ex.executionArn)}); restoring anyway: its next move will find the aliases changed and stop` }],
    );
    const summary = out.at(-1)!;
    assert.deepEqual([summary.type, summary.outcome, summary.releaseId], ['summary', 'rolled-back', ex.name]);
    assert.deepEqual((summary.changed as string[]).slice(0, 5), [...FUNCTIONS.map((f) => `${f}:live → 1`), `stage ${fx.stageName} → deployment ${fx.deploymentId}`]);
    assert.ok(!(summary.changed as string[]).some((c) => c.includes('stopped')), 'no stop claimed');

    assert.deepEqual(await aliases(), FUNCTIONS.map(() => ({ functionVersion: '1', additionalWeights: {} })));
    assert.deepEqual(await stage(), { deploymentId: fx.deploymentId, variables: fx.stageVariables });
    // Not stopped: the execution still runs and keeps its lock, and its record says so. (Its next
    // alias update carries the RevisionId it last saw, which Lambda refuses once rollback moved the
    // alias; the emulator ignores RevisionId, so that part is the equivalence test's, in the
    // scripted world.)
    assert.equal(ex.status, 'RUNNING');
    assert.equal((await readReleaseLock(aws, config))?.execution, ex.executionArn);
    assert.equal((await readManifest(aws, config, ex.name))?.outcome, 'in-progress');

    // Without --json the same warning is a line on stderr: the operator learns the release still
    // runs in AWS and holds the lock (the aliases are already back, so nothing else changes).
    const plain = await runCli(args('rollback'), { env: { ...env, AWS_ENDPOINT_URL_SFN: refusing.endpoint } });
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(plain.stderr.split('\n').includes(`! could not stop release execution ${ex.executionArn} (${denied('StopExecution', ex.executionArn)}); restoring anyway: its next move will find the aliases changed and stop`), plain.stderr);
    assert.equal(refusing.refused.length, 2);
  });

  it('status notes a release execution it cannot read (DescribeExecution refused) and shows the rest; exit 0', async () => {
    await releasingUntil(args('release', '--on', 'aws', '--bake', '30'), '10%: baking');
    const ex = onlyExecution();
    // Scripted: Step Functions refusing DescribeExecution (IAM's AccessDeniedException, as for a
    // role without states:DescribeExecution). A missing execution would not do: DescribeExecution's
    // ExecutionDoesNotExist reads as "not running", which status shows by saying nothing. (Allowed,
    // status shows "release running in AWS: …": server-shift.test.ts.)
    refusing = await refusingSfn(sfn.endpoint, ['DescribeExecution']);
    const st = await runCli(args('status'), { env: { ...env, AWS_ENDPOINT_URL_SFN: refusing.endpoint } });
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual(refusing.refused, [{ op: 'DescribeExecution', executionArn: ex.executionArn }]);
    const lines = st.stdout.split('\n');
    const lock = (await readReleaseLock(aws, config))!;
    assert.deepEqual(
      lines.filter((l) => /^(note|release running|release lock)/.test(l)),
      [`note: cannot read release execution ${ex.executionArn}: ${denied('DescribeExecution', ex.executionArn)}`, `release lock: held by ${lock.holder} since ${lock.acquiredAt} (execution ${ex.executionArn})`],
    );
    // The rest as status shows it: the aliases at 10 %, the stage, the release in progress.
    const at = lines.indexOf('aliases (live):');
    assert.deepEqual(lines.slice(at, at + 6), ['aliases (live):', ...FUNCTIONS.map((f) => `  ${f}  v1 90%, v2 10%`), `stage ${fx.stageName} (${fx.restApiId}): deployment ${(await stage()).deploymentId}`]);
    assert.match(st.stdout, /^env dev {2}\(shift in progress\)\n/);
    assert.match(st.stdout, new RegExp(`\\nreleases:\\n {2}${ex.name} {2}in-progress {2}\\S+\\n$`));

    const json = await runCli(args('status', '--json'), { env: { ...env, AWS_ENDPOINT_URL_SFN: refusing.endpoint } });
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as { note?: string; execution?: unknown; lock?: { execution?: string } };
    assert.deepEqual([s.note, s.execution, s.lock?.execution], [`cannot read release execution ${ex.executionArn}: ${denied('DescribeExecution', ex.executionArn)}`, undefined, ex.executionArn]);
    assert.equal(ex.status, 'RUNNING', 'status reads, it moves nothing');
  });
});
