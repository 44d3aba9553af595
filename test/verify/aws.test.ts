/**
 * verify against an AWS-shaped target with nothing but the API and CloudWatch: the real handlers
 * (`catalogctl local`, its own process) behind a stand-in for the API Gateway stage that, like a
 * stage, has no `/_local/*` endpoints, so verify treats it as AWS and gets no database. The write
 * handler's PutEvents goes to the emulator's EventBridge (AWS_ENDPOINT_URL_EVENTBRIDGE), whose rule
 * delivers catalog events to a CloudWatch Logs group, as the audit bus's log rule does in AWS;
 * verify reads that group. The local server's database stays private to it.
 */
import { strict as assert } from 'node:assert';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand, DeleteStackCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { createLogsApi } from '../../src/aws/logs.ts';
import { loadOrCreateKey, mintToken } from '../../src/local/keys.ts';
import { auditFromLogs } from '../../src/verify/audit-logs.ts';
import { authorizerRefusal, verify, type VerifyReport } from '../../src/verify/index.ts';
import { runCli, startLocalCli, type LocalCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';

const LOG_GROUP = '/aws/events/catalog-dev-audit';

describe('verify against an AWS-shaped stage: API and CloudWatch only', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let local: LocalCli;
  let stage: Server;
  let stageUrl = '';
  let platform = '';
  let reader = '';
  const seen: { method: string; path: string; status: number }[] = [];

  before(async () => {
    moto = await getMoto();
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    const cfg = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
    // The audit bus (named as `catalogctl local` names it) and its rule to the log group.
    const eb = new EventBridgeClient(cfg);
    await eb.send(new CreateEventBusCommand({ Name: 'evidence-ledger' }));
    const logs = new CloudWatchLogsClient(cfg);
    await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
    await logs.send(new CreateLogGroupCommand({ logGroupName: '/aws/events/elsewhere' }));
    await eb.send(new PutRuleCommand({ Name: 'catalog-dev-audit-to-logs', EventBusName: 'evidence-ledger', EventPattern: JSON.stringify({ source: ['catalog.service'] }) }));
    await eb.send(new PutTargetsCommand({ Rule: 'catalog-dev-audit-to-logs', EventBusName: 'evidence-ledger', Targets: [{ Id: 'audit-log', Arn: `arn:aws:logs:${moto.region}:${MOTO_ACCOUNT_ID}:log-group:${LOG_GROUP}` }] }));

    dir = await mkdtemp(join(tmpdir(), 'catalogctl-verify-aws-'));
    local = await startLocalCli(['--port', '0', '--seed', '3', '--seed-tenant', 'acme', '--state-dir', join(dir, 'state'), '--templates-dir', join(dir, 'none')], { env: { AWS_ENDPOINT_URL_EVENTBRIDGE: moto.endpoint } });
    const target = local.url;

    // The stage: forwards the API, has no /_local endpoints (so no database URL to find).
    stage = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const path = (req.url ?? '/').replace(/^\/dev/, '');
        if (path.startsWith('/_local/')) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type', 'if-match'].includes(k))) as Record<string, string>;
        const r = await fetch(target + path, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        seen.push({ method: req.method ?? 'GET', path, status: r.status });
        const body = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, Object.fromEntries([...r.headers].filter(([k]) => !['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k))));
        res.end(body);
      });
    });
    await new Promise<void>((r) => stage.listen(0, '127.0.0.1', r));
    stageUrl = `http://127.0.0.1:${(stage.address() as { port: number }).port}/dev`;
    const key = await loadOrCreateKey(join(dir, 'state'));
    platform = await mintToken(key, { tenant: 'acme', roles: ['platform'], ttlSeconds: 900 });
    reader = await mintToken(key, { tenant: 'acme', roles: ['reader'], ttlSeconds: 900 });
  });

  after(async () => {
    await local?.stop();
    await new Promise((r) => stage?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const logsApi = () => createLogsApi({ region: moto.region, endpoint: moto.endpoint });
  const byName = (r: VerifyReport) => Object.fromEntries(r.checks.map((c) => [c.name, c]));

  it('passes with no database: the synthetic write\'s audit event is read from the audit bus\'s log group; 401s sent before the run do not count', async () => {
    // Token-less requests just before the run, as a curl would.
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${stageUrl}/storage/v1/catalog/datasets`)).status, 401);
    // The latency limit is raised: this test is about the audit and auth checks, not this machine's load.
    const report = await verify({ baseUrl: stageUrl, token: platform, requests: 5, thresholds: { healthP99Ms: 5_000 }, auditEmitted: auditFromLogs(await logsApi(), LOG_GROUP, { waitMs: 15_000, pollMs: 200 }) });
    const c = byName(report);
    assert.equal(report.mode, 'aws');
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 2));
    assert.equal(c.synthetic!.status, 'pass');
    assert.match(c.synthetic!.figure, /^describe [\d.]+ ms, audit emitted$/);
    assert.equal(c.synthetic!.detail, `1 event(s) on the audit bus (${LOG_GROUP}): CatalogDatasetCreated`);
    assert.deepEqual([c['db-smoke']!.status, c['db-smoke']!.detail], ['skipped', 'no database to query: pass --database-url']);
    assert.equal(c['auth-failures']!.status, 'pass');
    assert.match(c['auth-failures']!.figure, /^0\.00 % \(0\/9, verify's own requests\)$/);
    // The event verify found is the one for the dataset it created.
    const created = seen.filter((s) => s.method === 'POST' && s.status === 201);
    assert.equal(created.length, 1);
    const events = await new CloudWatchLogsClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS }).send(new FilterLogEventsCommand({ logGroupName: LOG_GROUP }));
    assert.ok(events.events!.some((e) => JSON.parse(e.message!).source === 'catalog.service'), 'the bus delivered the handler\'s event');
  });

  it('fails the synthetic check when no event for its dataset reaches the audit bus\'s log group, naming it', async () => {
    const report = await verify({ baseUrl: stageUrl, token: platform, requests: 2, auditEmitted: auditFromLogs(await logsApi(), '/aws/events/elsewhere', { waitMs: 1500, pollMs: 200 }) });
    const s = byName(report).synthetic!;
    assert.equal(s.status, 'fail');
    assert.match(s.detail!, /^no audit event for [0-9a-f-]{36} reached the audit bus within 2 s \(log group \/aws\/events\/elsewhere\)$/);
    // Without a way to see the bus, it says how to give one.
    const blind = byName(await verify({ baseUrl: stageUrl, token: platform, requests: 2 })).synthetic!;
    assert.match(blind.detail!, /cannot see the audit bus: give --env .* or --audit-log-group/);
  });

  it('counts only the authorizer\'s refusals of its own requests: a bad token fails auth-failures, a handler\'s 403 does not', async () => {
    const bad = byName(await verify({ baseUrl: stageUrl, token: 'a.b.c', requests: 4 }))['auth-failures']!;
    assert.equal(bad.status, 'fail');
    assert.match(bad.detail!, /^\d+ of this run's \d+ requests refused by the authorizer \(\d+ × 401\)$/);
    const r = byName(await verify({ baseUrl: stageUrl, token: reader, requests: 4, auditEmitted: auditFromLogs(await logsApi(), LOG_GROUP, { waitMs: 500 }) }));
    assert.match(r.synthetic!.detail!, /403.*owner or platform role/);
    assert.equal(r['auth-failures']!.status, 'pass', r['auth-failures']!.figure);
    assert.equal(authorizerRefusal(403, new Headers({ 'x-amzn-errortype': 'AccessDeniedException' }), '{"Message":"User is not authorized to access this resource with an explicit deny"}'), '403 deny');
    assert.equal(authorizerRefusal(500, new Headers({ 'x-amzn-errortype': 'AuthorizerConfigurationException' }), '{"message":null}'), '500 authorizer failure');
    assert.equal(authorizerRefusal(403, new Headers(), '{"error":"forbidden"}'), undefined);
  });

  it('catalogctl verify: --env takes ApiUrl and AuditLogGroupName from catalog-service; --url with --audit-log-group; bad flags exit 2', async () => {
    const envDir = join(dir, 'envs');
    await cp('envs', envDir, { recursive: true });
    await writeFile(join(envDir, 'dev.yaml'), (await readFile(join(envDir, 'dev.yaml'), 'utf8')).replace('id: "111111111111"', `id: "${MOTO_ACCOUNT_ID}"`));
    const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-service', TemplateBody: JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } }, Outputs: { ApiUrl: { Value: stageUrl }, AuditLogGroupName: { Value: LOG_GROUP } } }) }));
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', CATALOGCTL_TOKEN: platform, DATABASE_URL: '' };
    // Latency limits raised throughout: what is tested here is where the targets come from.
    const loose = ['--health-p99-ms', '5000'];
    const byEnv = await runCli(['verify', '--env', 'dev', '--env-dir', envDir, '--endpoint-url', moto.endpoint, '--requests', '3', '--json', ...loose], { env });
    assert.equal(byEnv.code, 0, byEnv.stdout + byEnv.stderr);
    const report = JSON.parse(byEnv.stdout) as VerifyReport;
    assert.deepEqual(report.checks.map((c) => [c.name, c.status]), [['health', 'pass'], ['synthetic', 'pass'], ['db-smoke', 'skipped'], ['auth-failures', 'pass']]);
    assert.match(report.checks[1]!.detail!, /^1 event\(s\) on the audit bus \(\/aws\/events\/catalog-dev-audit\): CatalogDatasetCreated$/);

    // A catalog-service without the audit log group (deployed before it existed): said so, not guessed.
    await cfn.send(new DeleteStackCommand({ StackName: 'catalog-service' }));
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-service', TemplateBody: JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } }, Outputs: { ApiUrl: { Value: stageUrl } } }) }));
    const old = await runCli(['verify', '--env', 'dev', '--env-dir', envDir, '--endpoint-url', moto.endpoint, '--requests', '3', '--json'], { env });
    assert.equal(old.code, 3);
    assert.equal((JSON.parse(old.stdout) as VerifyReport).checks[1]!.detail, "stack catalog-service of dev has no AuditLogGroupName output (the audit bus's log group); deploy it, or give --audit-log-group");

    const byUrl = await runCli(['verify', '--url', stageUrl, '--audit-log-group', LOG_GROUP, '--region', moto.region, '--endpoint-url', moto.endpoint, '--requests', '3', ...loose], { env });
    assert.equal(byUrl.code, 0, byUrl.stdout + byUrl.stderr);
    assert.match(byUrl.stdout, /\nsynthetic +describe [\d.]+ ms, audit emitted /);
    const noRegion = await runCli(['verify', '--url', stageUrl, '--audit-log-group', LOG_GROUP], { env: { ...env, AWS_REGION: '' } });
    assert.equal(noRegion.code, 2);
    assert.equal(noRegion.stderr, 'catalogctl: --audit-log-group: give --region (or AWS_REGION) for the log group, or use --env\n');
    assert.equal((await runCli(['verify', '--url', stageUrl, '--audit-log-group', 'bad name!', '--region', 'us-east-1'], { env })).code, 2);
  });
});
