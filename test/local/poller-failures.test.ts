/**
 * A poll that fails says why: `catalogctl local` with the real handlers and the rendered
 * `templates-out/dev/state_machine.json`, its external API on a port where nothing listens. Every
 * failed CheckCatalogStatus attempt is logged with the URL it called and the error, the failed
 * execution names its last failed step, and /_local/executions lists the attempts.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startLocalCli, type LocalCli } from '../support/cli.ts';

describe('catalogctl local: a failing poll names the URL and the error', function () {
  this.timeout(90_000);
  let dir: string;
  let server: LocalCli;
  let externalApi = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'catalogctl-poller-failures-'));
    const free = createServer();
    const port = await new Promise<number>((r) => free.listen(0, '127.0.0.1', () => r((free.address() as AddressInfo).port)));
    await new Promise((r) => free.close(r));
    externalApi = `http://127.0.0.1:${port}`;
    server = await startLocalCli(['--port', '0', '--state-dir', join(dir, 'state'), '--external-api', externalApi, '--poll-wait', '0']);
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the external API in the banner', () => {
    assert.match(server.stdout, new RegExp(`^external API  ${externalApi.replace(/\./g, '\\.')}/? {2}\\(from --external-api\\)$`, 'm'));
  });

  it('logs each failed step with the URL and the error, and the failed run with its last failed step', async () => {
    const token = (await runCli(['local', 'token', '--tenant', 'acme', '--role', 'platform', '--state-dir', join(dir, 'state')])).stdout.trim();
    const res = await fetch(`${server.url}/storage/v1/catalog/catalogs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ catalog_name: 'sales' }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { execution_arn } = (await res.json()) as { execution_arn: string };
    type Exec = { executionArn: string; status: string; error?: string; failures: { state: string; error: string; message: string }[] };
    let exec: Exec | undefined;
    for (let i = 0; i < 400 && exec?.status !== 'FAILED'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      exec = ((await (await fetch(`${server.url}/_local/executions`)).json()) as { executions: Exec[] }).executions.find((e) => e.executionArn === execution_arn);
    }
    assert.equal(exec?.status, 'FAILED', JSON.stringify(exec));
    const called = `GET ${externalApi}/catalogs/sales`;
    // The rendered machine retries ExternalApiError 3 times: 4 attempts, each named.
    assert.equal(exec.failures.length, 4, JSON.stringify(exec.failures));
    for (const f of exec.failures) {
      assert.equal(f.state, 'CheckCatalogStatus');
      assert.equal(f.error, 'ExternalApiError');
      assert.ok(f.message.startsWith(`${called}: `), f.message);
      assert.match(f.message, /ECONNREFUSED/);
    }
    const name = execution_arn.split(':').pop()!;
    const err = server.stderr;
    const failedSteps = err.split('\n').filter((l) => l.startsWith(`! ${name} CheckCatalogStatus failed: ExternalApiError: ${called}: `));
    assert.equal(failedSteps.length, 4, err);
    assert.match(err, new RegExp(`^! ${name} FAILED \\(CatalogPollFailed: .*\\); last failed step CheckCatalogStatus: ExternalApiError: GET .*ECONNREFUSED`, 'm'));
  });
});
