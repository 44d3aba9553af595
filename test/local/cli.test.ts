/**
 * `catalogctl local`, `local token` and `verify` as a user runs them: separate processes, a token
 * minted by the CLI, verify's table and exit codes, and Ctrl-C leaving no process behind.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli, startLocalCli, type LocalCli } from '../support/cli.ts';

const HANDLERS = resolve('test/local/fixtures/cli-handlers.ts');

/** The built CLI; Node gets the tsx loader too, for the TypeScript handlers module. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env, tsx: true, timeoutMs: 60_000 });

function refused(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(false);
    });
    s.once('error', () => res(true));
  });
}

describe('catalogctl local / verify (CLI)', function () {
  this.timeout(90_000);
  let stateDir: string;
  let server: LocalCli | undefined;
  let url = '';
  let dbPort = 0;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-local-cli-'));
    server = await startLocalCli(['--port', '0', '--seed', '30', '--state-dir', stateDir, '--handlers-module', HANDLERS], { tsx: true });
    url = server.url;
    dbPort = server.dbPort!;
  });

  after(async () => {
    await server?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('names the external API it calls in the banner, and says when none was given', () => {
    assert.match(server!.stdout, /^external API {2}http:\/\/127\.0\.0\.1:9\/ {2}\(none given, so every poll fails: pass --external-api\)$/m);
  });

  it('mints a token that the running server accepts', async () => {
    const t = await cli(['local', 'token', '--tenant', 'tenant-a', '--role', 'reader', '--ttl', '10m', '--state-dir', stateDir]);
    assert.equal(t.code, 0, t.stderr);
    const token = t.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const res = await fetch(`${url}/storage/v1/catalog/datasets/ds-0000007`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { name: string }).name, 'dataset 7');
  });

  it('verify --url passes against it, and prints the table', async () => {
    const token = (await cli(['local', 'token', '--tenant', 'tenant-a', '--role', 'platform', '--state-dir', stateDir])).stdout.trim();
    // Latency limits raised: this is about verify against local, not about this machine's load.
    const loose = ['--health-p99-ms', '5000', '--db-p95-ms', '5000'];
    const r = await cli(['verify', '--url', url, '--requests', '20', ...loose], { CATALOGCTL_TOKEN: token });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const check of ['health', 'synthetic', 'db-smoke', 'auth-failures']) assert.match(r.stdout, new RegExp(`^${check}\\s.*\\spass$`, 'm'));
    assert.match(r.stdout, /all checks passed/);
    // The limits given are the ones judged, and shown.
    assert.match(r.stdout, /200, p99 < 5000 ms/);
    assert.match(r.stdout, /p95 < 5000 ms/);
    const bad = await cli(['verify', '--url', url, '--health-p99-ms', '0'], { CATALOGCTL_TOKEN: token });
    assert.deepEqual([bad.code, bad.stderr.trim()], [2, 'catalogctl: --health-p99-ms: must be a whole number from 1 to 60000, got "0"']);
    const j = await cli(['verify', '--url', url, '--requests', '5', '--json', ...loose], { CATALOGCTL_TOKEN: token });
    assert.equal(j.code, 0);
    assert.equal((JSON.parse(j.stdout) as { ok: boolean }).ok, true);
  });

  it('verify exits 3 naming the failing checks when every request is rejected', async () => {
    const r = await cli(['verify', '--url', url, '--requests', '5', '--token', 'not-a-jwt']);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^health\s.*\sfail$/m);
    assert.match(r.stdout, /^auth-failures\s.*\sfail$/m);
    assert.match(r.stderr, /verify: failed health, .*auth-failures/);
  });

  it('verify rejects bad flags with exit 2', async () => {
    assert.equal((await cli(['verify'])).code, 2);
    assert.equal((await cli(['verify', '--url', 'ftp://x'])).code, 2);
    assert.equal((await cli(['verify', '--url', url, '--requests', '0'])).code, 2);
  });

  it('stops cleanly on Ctrl-C: exit 130, database stopped and removed, no process left', async () => {
    assert.equal(await refused(dbPort), false, 'the throwaway database should be up before Ctrl-C');
    assert.equal(await server!.stop(), 130, server!.stderr);
    assert.equal(await refused(dbPort), true, 'database port still open');
    const left = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`-p ${dbPort} `));
    assert.deepEqual(left, []);
    assert.equal(await refused(Number(new URL(url).port)), true, 'API port still open');
    assert.ok(existsSync(join(stateDir, 'signing-key.json')), 'the signing key outlives the server');
  });
});

describe('catalogctl verify against nothing', () => {
  it('exits 3 naming health and synthetic when nothing listens', async () => {
    const srv = (await import('node:net')).createServer();
    const port = await new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as import('node:net').AddressInfo).port)));
    await new Promise((r) => srv.close(r));
    const env: NodeJS.ProcessEnv = { CATALOGCTL_TOKEN: 'x' };
    const r = await cli(['verify', '--url', `http://127.0.0.1:${port}`, '--requests', '3', '--json'], env);
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout) as { checks: { name: string; status: string; detail?: string }[] };
    assert.deepEqual(report.checks.map((c) => [c.name, c.status]), [
      ['health', 'fail'],
      ['synthetic', 'fail'],
      ['db-smoke', 'skipped'],
      ['auth-failures', 'skipped'],
    ]);
    assert.match(report.checks[0]!.detail!, /ECONNREFUSED/);
  });
});
