/**
 * The authorizer gate end to end: the real authorizer handler's output (its EMF log lines, captured
 * from stdout) is extracted as CloudWatch Logs would (./fixture-emf.ts) and put into the emulator
 * with PutMetricData, since the emulator has no EMF extraction; Lambda's own Errors and Invocations,
 * which the emulator cannot produce without invoking, are put the way Lambda counts them (every
 * thrown Unauthorized is an error). The gate then reads the emulator through the real AWS interface.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { JWKSTimeout } from 'jose/errors';
import { createGuardedAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { authorizerFailureMetric, readManifest, release } from '../../src/deploy/release.ts';
import { judgeGates, lambdaMetric, readGates, type ShiftPlan } from '../../src/deploy/shift.ts';
import { handler } from '../../src/handlers/authorizer/index.ts';
import { AUTHORIZER_METRICS, classifyVerifyError } from '../../src/handlers/authorizer/metrics.ts';
import { AUDIENCE, ISSUER, startIssuer, type Issuer } from '../handlers/env.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { freePort } from '../support/ports.ts';
import { createFixture, createOutputStacks, released, type Fixture } from './fixture.ts';
import { extractEmf, putEmfLines } from './fixture-emf.ts';

const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];
const AUTHORIZER = 'catalog-authorizer';
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/storage/v1/catalog/datasets';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

describe('gates: the authorizer is judged by its own failures, not by rejected tokens', function () {
  this.timeout(60_000);
  let moto: Moto;
  let issuer: Issuer;
  let cw: CloudWatchClient;
  const savedEnv = { ...process.env };

  before(async () => {
    moto = await getMoto();
    issuer = await startIssuer();
    cw = new CloudWatchClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, protocol: AwsQueryProtocol });
  });
  after(async () => issuer.close());
  beforeEach(async () => {
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    Object.assign(process.env, { JWT_JWKS_URI: issuer.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, AWS_LAMBDA_FUNCTION_NAME: AUTHORIZER, AWS_LAMBDA_FUNCTION_VERSION: '2' });
  });
  afterEach(() => {
    for (const k of ['JWT_JWKS_URI', 'JWT_ISSUER', 'JWT_AUDIENCE', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION']) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
  });

  /** Runs the handler like Lambda does for one request; returns whether it allowed and the lines it wrote to stdout. */
  async function invoke(token: string): Promise<{ allowed: boolean; lines: string[] }> {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await handler({ type: 'TOKEN', authorizationToken: `Bearer ${token}`, methodArn: METHOD_ARN });
      return { allowed: true, lines: lines.join('').split('\n').filter(Boolean) };
    } catch (err) {
      assert.equal((err as Error).message, 'Unauthorized', 'API Gateway needs exactly Unauthorized for a 401');
      return { allowed: false, lines: lines.join('').split('\n').filter(Boolean) };
    } finally {
      process.stdout.write = write;
    }
  }

  /** Tokens the authorizer must refuse, each for a different reason that is the caller's. */
  async function rejectedTokens(n: number): Promise<string[]> {
    const good = await issuer.sign({ sub: 'alice', tenant_id: 'acme' });
    const [h, p, s] = good.split('.');
    const kinds = [
      await issuer.sign({ sub: 'a', tenant_id: 't' }, { exp: nowS() - 60 }),
      await issuer.sign({ sub: 'a', tenant_id: 't' }, { nbf: nowS() + 600 }),
      await issuer.sign({ sub: 'a', tenant_id: 't' }, { iss: 'https://evil.example.com/' }),
      await issuer.sign({ sub: 'a', tenant_id: 't' }, { aud: 'another-api' }),
      await issuer.sign({ sub: 'a', tenant_id: 't' }, { kid: 'unknown-key' }),
      await issuer.sign({ sub: 'a' }),
      `${h}.${b64({ sub: 'alice', tenant_id: 'other', iss: ISSUER, aud: AUDIENCE, exp: nowS() + 60 })}.${s}`,
      `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      'a.b.c',
      `${h}.${p}.${s!.slice(0, -4)}AAAA`,
    ];
    return Array.from({ length: n }, (_, i) => kinds[i % kinds.length]!);
  }

  /** What Lambda itself publishes for the invocations: every thrown Unauthorized is an Errors data point. */
  async function putLambdaCounts(version: string, invocations: number, errors: number): Promise<void> {
    const dims = (m: 'Errors' | 'Invocations') => Object.entries(lambdaMetric(AUTHORIZER, version, m).dimensions).map(([Name, Value]) => ({ Name, Value }));
    await cw.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/Lambda',
        MetricData: [
          { MetricName: 'Invocations', Dimensions: dims('Invocations'), Value: invocations, Timestamp: new Date() },
          { MetricName: 'Errors', Dimensions: dims('Errors'), Value: errors, Timestamp: new Date() },
        ],
      }),
    );
  }

  const plan = (failureMetric = true): Pick<ShiftPlan, 'functions' | 'alarmNames' | 'errorRatePercent' | 'insufficientDataGraceSeconds'> => ({
    functions: [{ functionName: AUTHORIZER, previousVersion: '1', newVersion: '2', ...(failureMetric ? { failureMetric: authorizerFailureMetric(AUTHORIZER, '2') } : {}) }],
    alarmNames: [],
    errorRatePercent: 1,
  });
  const window = () => ({ since: new Date(Date.now() - 120_000), until: new Date(Date.now() + 60_000) });
  /** The verdict on these readings with one gating alarm in OK (alarms are covered in shift.test.ts). */
  const judge = (p: ReturnType<typeof plan>, r: Awaited<ReturnType<typeof readGates>>) =>
    judgeGates({ ...p, alarmNames: ['catalog-dev-api-5xx'] }, { ...r, alarms: { states: { 'catalog-dev-api-5xx': 'OK' }, missing: [] } }, new Map(), 0, 'at 10%');

  it('40 rejected tokens: Lambda counts 40 errors, the gate reads 0 failures and passes; a JWKS outage raises AuthorizerFailures and fails it', async () => {
    const aws = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, { name: 'dev', account: { id: MOTO_ACCOUNT_ID } });
    const lines: string[] = [];
    for (const t of await rejectedTokens(40)) {
      const r = await invoke(t);
      assert.equal(r.allowed, false);
      lines.push(...r.lines);
    }
    for (let i = 0; i < 10; i++) {
      const r = await invoke(await issuer.sign({ sub: `u${i}`, tenant_id: 'acme' }));
      assert.deepEqual(r, { allowed: true, lines: [] }, 'an allowed request writes nothing');
    }
    assert.equal(lines.length, 40, 'one EMF line per refused request');
    const data = (await putEmfLines(cw, lines)).map((x) => x.datum);
    const sum = (name: string, dims: number) => data.filter((d) => d.MetricName === name && d.Dimensions!.length === dims).reduce((n, d) => n + d.Value!, 0);
    assert.deepEqual([sum(AUTHORIZER_METRICS.failures, 2), sum(AUTHORIZER_METRICS.rejections, 2), sum(AUTHORIZER_METRICS.rejections, 1)], [0, 40, 40]);
    await putLambdaCounts('2', 50, 40);

    const readings = await readGates(aws, plan(), window());
    assert.deepEqual(readings.versions, [{ functionName: AUTHORIZER, version: '2', failuresLabel: 'AuthorizerFailures', failures: 0, invocations: 50 }]);
    const passing = judge(plan(), readings);
    assert.deepEqual(passing, { kind: 'pass', summary: '1 alarm OK; new versions: 0 failures in 50 invocations' });
    // What the gate did before: Lambda's Errors for the same invocations are over any rate.
    const old = await readGates(aws, plan(false), window());
    assert.deepEqual(old.versions.map((v) => [v.failuresLabel, v.failures, v.invocations]), [['errors', 40, 50]]);
    assert.equal(judge(plan(false), old).kind, 'fail');

    // The JWKS goes away (a port nothing listens on; a new URI, so no cached key set).
    process.env.JWT_JWKS_URI = `http://127.0.0.1:${await freePort()}/.well-known/jwks.json`;
    const outage: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await invoke(await issuer.sign({ sub: `u${i}`, tenant_id: 'acme' }));
      assert.equal(r.allowed, false);
      outage.push(...r.lines);
    }
    const outageData = await putEmfLines(cw, outage);
    assert.deepEqual(
      outageData.filter((x) => x.datum.Dimensions!.length === 2).map((x) => [x.datum.MetricName, x.datum.Value]),
      Array.from({ length: 5 }, () => [[AUTHORIZER_METRICS.failures, 1], [AUTHORIZER_METRICS.rejections, 0]]).flat(),
    );
    assert.match(JSON.parse(outage[0]!).message, /^authorizer failure \(jwks\)$/);
    await putLambdaCounts('2', 5, 5);
    const down = await readGates(aws, plan(), window());
    assert.deepEqual(down.versions.map((v) => [v.failures, v.invocations]), [[5, 55]]);
    const verdict = judge(plan(), down);
    assert.deepEqual(verdict, { kind: 'fail', reason: 'new version errors above 1% at 10%: catalog-authorizer v2 5 AuthorizerFailures in 55 invocations', alarms: [] });

    // Only version 2's failures: version 3 reads nothing of them.
    const other = await readGates(aws, { ...plan(), functions: [{ functionName: AUTHORIZER, previousVersion: '2', newVersion: '3', failureMetric: authorizerFailureMetric(AUTHORIZER, '3') }] }, window());
    assert.deepEqual(other.versions.map((v) => v.failures), [0]);
    const total = await cw.send(
      new GetMetricDataCommand({
        StartTime: window().since,
        EndTime: window().until,
        MetricDataQueries: [{ Id: 'f', MetricStat: { Metric: { Namespace: AUTHORIZER_METRICS.namespace, MetricName: AUTHORIZER_METRICS.failures, Dimensions: [{ Name: 'FunctionName', Value: AUTHORIZER }] }, Period: 60, Stat: 'Sum' } }],
      }),
    );
    assert.equal((total.MetricDataResults![0]!.Values ?? []).reduce((a, b) => a + b, 0), 5, 'the [FunctionName] set an alarm watches counts them too');
  });

  it('a JWKS answering 500 or garbage, and a missing setting, are failures; each refused line is valid EMF', async () => {
    const servers: Server[] = [];
    const serve = async (status: number, body: string): Promise<string> => {
      const s = createServer((_q, r) => r.writeHead(status, { 'content-type': 'application/json' }).end(body));
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as { port: number }).port}/jwks.json`;
    };
    try {
      const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme' });
      const cases: [string, () => Promise<void> | void, string][] = [
        ['500', async () => void (process.env.JWT_JWKS_URI = await serve(500, '{}')), 'jwks'],
        ['not JSON', async () => void (process.env.JWT_JWKS_URI = await serve(200, '<html>')), 'jwks'],
        ['no keys member', async () => void (process.env.JWT_JWKS_URI = await serve(200, '{"nokeys":true}')), 'jwks'],
        ['JWT_AUDIENCE unset', () => void delete process.env.JWT_AUDIENCE, 'config'],
        ['JWT_JWKS_URI not a URL', () => void (process.env.JWT_JWKS_URI = 'not a url'), 'config'],
      ];
      for (const [name, arrange, cause] of cases) {
        Object.assign(process.env, { JWT_JWKS_URI: issuer.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
        await arrange();
        const r = await invoke(token);
        assert.equal(r.allowed, false, name);
        assert.equal(r.lines.length, 1, name);
        const rec = JSON.parse(r.lines[0]!);
        assert.equal(rec.message, `authorizer failure (${cause})`, `${name}: ${rec.reason}`);
        assert.deepEqual(extractEmf(r.lines[0]!).map((x) => [x.datum.MetricName, x.datum.Dimensions!.map((d) => d.Value).join('/'), x.datum.Value]), [
          ['AuthorizerFailures', AUTHORIZER, 1],
          ['AuthorizerFailures', `${AUTHORIZER}/2`, 1],
          ['TokensRejected', AUTHORIZER, 0],
          ['TokensRejected', `${AUTHORIZER}/2`, 0],
        ]);
        assert.ok(!r.lines[0]!.includes(token.split('.')[2]!), 'the token is never logged');
      }
    } finally {
      for (const s of servers) s.close();
    }
  });

  it('classifies what verification throws: only the authorizer\'s own causes are failures, whatever a token is shaped like', () => {
    const env = { JWT_JWKS_URI: 'https://idp.example.com/jwks.json', JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
    const fetchFailed = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const failures: [unknown, string][] = [
      [new JWKSTimeout(), 'jwks'],
      [fetchFailed, 'jwks'],
      [Object.assign(new Error('socket hang up'), { cause: { code: 'UND_ERR_SOCKET' } }), 'jwks'],
      [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'jwks'],
      [new ReferenceError('claims is not defined'), 'crash'],
      ['a string thrown', 'crash'],
      [undefined, 'crash'],
    ];
    for (const [err, cause] of failures) assert.deepEqual(classifyVerifyError(err, env), { kind: 'failure', cause }, String(err));
    // Attacker-shaped input, and checks other code adds (a plain Error), stay rejections.
    const rejections: unknown[] = [
      new TypeError('Invalid base64url'),
      new TypeError('"exp" claim must be a finite number'),
      new RangeError('Invalid time value'),
      new SyntaxError('Unexpected token'),
      new Error('token issued in the future'),
      new Error('missing bearer token'),
      Object.assign(new Error('no applicable key found in the JSON Web Key Set'), { code: 'ERR_JWKS_NO_MATCHING_KEY' }),
      Object.assign(new Error('"exp" claim timestamp check failed'), { code: 'ERR_JWT_EXPIRED' }),
    ];
    for (const err of rejections) assert.deepEqual(classifyVerifyError(err, env), { kind: 'rejected' }, String(err));
    assert.deepEqual(classifyVerifyError(new Error('x'), { ...env, JWT_ISSUER: '' }), { kind: 'failure', cause: 'config' });
  });

  it('the EMF stand-in refuses what CloudWatch would not extract', () => {
    const rec = { _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: 'Catalog/Authorizer', Dimensions: [['FunctionName']], Metrics: [{ Name: 'AuthorizerFailures', Unit: 'Count' }] }] }, FunctionName: 'f', AuthorizerFailures: 1 };
    assert.equal(extractEmf(JSON.stringify(rec)).length, 1);
    const bad: [string, RegExp][] = [
      [`2026-01-01T00:00:00.000Z\tabc\tINFO\t${JSON.stringify(rec)}`, /not a JSON object alone/],
      [JSON.stringify({ ...rec, FunctionName: undefined }), /dimension FunctionName must be/],
      [JSON.stringify({ ...rec, AuthorizerFailures: '1' }), /target member AuthorizerFailures/],
      [JSON.stringify({ ...rec, _aws: { ...rec._aws, Timestamp: new Date().toISOString() } }), /Timestamp/],
      [JSON.stringify({ ...rec, _aws: { ...rec._aws, CloudWatchMetrics: [{ ...rec._aws.CloudWatchMetrics[0], Metrics: [{ Name: 'AuthorizerFailures', Unit: 'Things' }] }] } }), /invalid Unit/],
    ];
    for (const [line, why] of bad) assert.throws(() => extractEmf(line), why);
  });

  describe('through a whole release', () => {
    let fx: Fixture;
    let config: EnvConfig;
    let aws: AwsApi;

    beforeEach(async () => {
      fx = await createFixture(moto, FUNCTIONS);
      await createOutputStacks(moto, fx, FUNCTIONS);
      const dev = structuredClone(await loadEnv('dev')) as EnvConfig;
      config = { ...dev, account: { ...dev.account, id: MOTO_ACCOUNT_ID }, artifacts: { bucket: 'catalog-artifacts', prefix: 'dev' } };
      aws = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, config);
    });

    /** A release whose first bake sees `traffic` run against the new authorizer version. */
    const releaseWith = async (version: string, traffic: () => Promise<{ lines: string[]; invocations: number; errors: number }>) => {
      let n = 0;
      return released(
        await release(config, aws, {
          bakeSeconds: 30,
          now: () => n * 10_000,
          sleep: async () => {
            if (++n !== 1) return;
            process.env.AWS_LAMBDA_FUNCTION_VERSION = version;
            const t = await traffic();
            await putEmfLines(cw, t.lines);
            await putLambdaCounts(version, t.invocations, t.errors);
          },
        }),
      );
    };

    it('rejected tokens at 10% do not stop it; a JWKS outage on the next release rolls it back, naming the authorizer\'s own metric', async () => {
      await fx.changeFunctions('r2');
      const ok = await releaseWith('2', async () => {
        const lines: string[] = [];
        for (const t of await rejectedTokens(30)) lines.push(...(await invoke(t)).lines);
        return { lines, invocations: 33, errors: 30 };
      });
      assert.equal(ok.outcome.kind, 'promoted', JSON.stringify(ok.outcome));
      assert.equal((await aws.lambda.getAlias(AUTHORIZER, 'live')).functionVersion, '2');

      await fx.changeFunctions('r3');
      process.env.JWT_JWKS_URI = `http://127.0.0.1:${await freePort()}/jwks.json`;
      const bad = await releaseWith('3', async () => {
        const lines: string[] = [];
        for (let i = 0; i < 4; i++) lines.push(...(await invoke(await issuer.sign({ sub: 'alice', tenant_id: 'acme' }))).lines);
        return { lines, invocations: 4, errors: 4 };
      });
      assert.deepEqual(bad.outcome, { kind: 'rolled-back', reason: 'new version errors above 1% at 10%: catalog-authorizer v3 4 AuthorizerFailures in 4 invocations', alarms: [], atStep: 10 });
      for (const fn of FUNCTIONS) assert.deepEqual(await aws.lambda.getAlias(fn, 'live'), { functionVersion: '2', additionalWeights: {} });
      assert.equal((await readManifest(aws, config))?.outcome, 'rolled-back');
    });
  });
});
