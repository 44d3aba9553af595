/**
 * verify --env: the API URL comes from the catalog-service stack's ApiUrl output, after the account
 * guard. The stack is created in the emulator with CreateStack from a template holding just that
 * output (moto registers Outputs on CreateStack).
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS } from '../support/moto.ts';
import { runCli } from '../support/cli.ts';

describe('verify --env (AWS emulator)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: Server;
  const seen: string[] = [];
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-verify-env-'));
    await cp('envs', join(dir, 'envs'), { recursive: true });
    const dev = await readFile(join(dir, 'envs/dev.yaml'), 'utf8');
    await writeFile(join(dir, 'envs/dev.yaml'), dev.replace('id: "111111111111"', `id: "${MOTO_ACCOUNT_ID}"`));
    // Stands in for the deployed API: every request is a 503, so verify must fail its checks.
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(503).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the stage URL from the stack outputs and verifies it', async () => {
    const moto = await getMoto();
    await moto.reset();
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/dev`;
    const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-service', TemplateBody: JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } }, Outputs: { ApiUrl: { Value: url } } }) }));
    const r = await runCli(['verify', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, '--requests', '2', '--token', 'x.y.z'], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /verify: failed .*health/);
    assert.ok(seen.some((p) => p.startsWith('/dev/storage/v1/catalog/datasets?limit=1')), seen.join(','));
  });

  it('refuses an env whose account is not the credentials\' account, with exit 2', async () => {
    const moto = await getMoto();
    const r = await runCli(['verify', '--env', 'prod', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /account mismatch: env prod is account 333333333333 but the credentials are for 123456789012/);
  });

  it('says so when the stack does not exist (exit 3)', async () => {
    const moto = await getMoto();
    await moto.reset();
    const r = await runCli(['verify', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint], { env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /stack catalog-service does not exist/);
  });
});
