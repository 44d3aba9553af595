/**
 * `catalogctl local` with the real handlers from src/handlers: the real authorizer accepts a token
 * from `local token`, verify passes, creating a catalog runs the state machine against the real
 * poller handlers and an external API stand-in, and Ctrl-C leaves nothing running.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as run, startLocalCli, type LocalCli } from '../support/cli.ts';
import { STAND_IN_STATE_MACHINE } from './fixtures/stand-in-handlers.ts';

const portOpen = (port: number): Promise<boolean> =>
  new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });

describe('catalogctl local with the real handlers', function () {
  this.timeout(90_000);
  let dir: string;
  let server: LocalCli;
  let external: Server;
  let url = '';
  const seenTokens: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'catalogctl-local-real-'));
    mkdirSync(join(dir, 'templates', 'dev'), { recursive: true });
    writeFileSync(join(dir, 'templates', 'dev', 'state_machine.json'), JSON.stringify(STAND_IN_STATE_MACHINE));
    // The external catalog API: ready on the second look.
    let looks = 0;
    external = createServer((req, res) => {
      seenTokens.push(String(req.headers.authorization));
      const ready = ++looks >= 2;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ catalog_name: 'sales', kb_name: ready ? 'kb_sales' : 'PENDING', data_source_name: ready ? 'ds_sales' : 'PENDING' }));
    });
    await new Promise<void>((r) => external.listen(0, '127.0.0.1', () => r()));
    server = await startLocalCli(['--port', '0', '--seed', '40', '--seed-tenant', 'acme', '--state-dir', join(dir, 'state'), '--templates-dir', join(dir, 'templates'), '--external-api', `http://127.0.0.1:${(external.address() as AddressInfo).port}`, '--poll-wait', '0']);
    url = server.url;
  });

  after(async () => {
    await server?.stop();
    await new Promise((r) => external.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (role: string, tenant = 'acme'): Promise<string> => (await run(['local', 'token', '--tenant', tenant, '--role', role, '--state-dir', join(dir, 'state')])).stdout.trim();

  it('verify --url passes', async () => {
    // What this shows is verify against the real handlers, not this machine's latency under load:
    // the limits are raised (their own behaviour is tested in test/verify).
    const r = await run(['verify', '--url', url, '--requests', '20', '--health-p99-ms', '5000', '--db-p95-ms', '5000'], { env: { CATALOGCTL_TOKEN: await token('platform') } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /all checks passed/);
  });

  it('round-trips a minted token through the real authorizer to list and describe', async () => {
    const reader = await token('reader');
    const list = await fetch(`${url}/storage/v1/catalog/datasets?limit=3`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(list.status, 200);
    const { items } = (await list.json()) as { items: { id: string; name: string }[] };
    assert.equal(items.length, 3);
    const one = await fetch(`${url}/storage/v1/catalog/datasets/${items[0]!.id}`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { name: string }).name, items[0]!.name);
    // Another tenant sees none of acme's datasets.
    const other = await fetch(`${url}/storage/v1/catalog/datasets/${items[0]!.id}`, { headers: { authorization: `Bearer ${await token('reader', 'globex')}` } });
    assert.equal(other.status, 404);
    assert.equal((await fetch(`${url}/storage/v1/catalog/datasets`, { headers: { authorization: 'Bearer a.b.c' } })).status, 401);
  });

  it('creating a catalog runs the state machine against the real poller handlers', async () => {
    const res = await fetch(`${url}/storage/v1/catalog/catalogs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token('platform')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ catalog_name: 'sales' }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { execution_arn } = (await res.json()) as { execution_arn: string };
    let exec: { status: string; output?: { rows_updated?: number; kb_name?: string } } | undefined;
    for (let i = 0; i < 100; i++) {
      const { executions } = (await (await fetch(`${url}/_local/executions`)).json()) as { executions: (typeof exec & { executionArn: string })[] };
      exec = executions.find((e) => e!.executionArn === execution_arn);
      if (exec && exec.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(exec?.status, 'SUCCEEDED', JSON.stringify(exec));
    assert.equal(exec?.output?.rows_updated, 1);
    assert.equal(exec?.output?.kb_name, 'kb_sales');
    // The poller's bearer token came from the local secret, not the execution input.
    assert.match(seenTokens[0]!, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('names the external API in the banner', () => {
    assert.match(server.stdout, new RegExp(`^external API  http://127\\.0\\.0\\.1:${(external.address() as AddressInfo).port} {2}\\(from --external-api\\)$`, 'm'));
  });

  it('stops cleanly on Ctrl-C', async () => {
    assert.equal(await server.stop(), 130, server.stderr);
    assert.ok(server.dbPort, 'the banner names the throwaway database');
    assert.equal(await portOpen(server.dbPort), false);
    assert.equal(await portOpen(Number(new URL(url).port)), false);
  });
});
