/**
 * Day one in an empty account, offline: a PostgreSQL started the way RDS starts one (only the
 * master exists, scram-sha-256, no trust), the secrets RDS and the rendered catalog-secrets template
 * create, put into the emulator with exactly their shapes; then the packaged zips, in Lambda's
 * layout, each with the environment the rendered catalog-service template gives it.
 *
 * What stands in for AWS, and why:
 * - Ref/GetAtt in the template's variables resolve to the local endpoints: Secrets Manager,
 *   EventBridge and Step Functions to the emulator (AWS_ENDPOINT_URL), DbEndpointAddress/Port to
 *   the local cluster.
 * - DB_SSL=false is added: the local server cannot present a certificate from an RDS CA. TLS with
 *   the shipped trust is covered by test/package/tls.test.ts. Nothing else is added to or taken
 *   from the template's variables.
 * - The replica: dev has none, so that test runs list and describe with prod's rendered template,
 *   whose DB_READER_HOST (the DbReadReplicaAddresses output) resolves to a relay on 127.0.0.2.
 *   prod writes through RDS Proxy with IAM tokens, which a local server cannot stand in for: its
 *   DB_PROXY_HOST resolves to an address nothing listens on (reads never use it), and the write in
 *   that test runs with dev's environment.
 * - Rotation is done the way the hosted PostgreSQLMultiUser function does it, as the master
 *   (create or alter `<user>_clone`, grant it the user's role, move AWSCURRENT); the emulator keeps
 *   serving the old version after a stage move, so the new version is put straight to AWSCURRENT.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, GetRandomPasswordCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import pg from 'pg';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { packageArtifacts, type ArtifactManifest } from '../../src/package/index.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { lambdaBaseEnv, layOut, startContainer, templateEnvironment, type Container, type LambdaLayout } from '../support/lambda.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { startRdsLikeCluster, type RdsLikeCluster } from '../support/rds-pg.ts';

const ENV = 'dev';
const API = '/storage/v1/catalog';
const LOGICAL_IDS: Record<string, string> = {
  migrate: 'MigrateFunction',
  'list-datasets': 'ListDatasetsFunction',
  'get-dataset': 'GetDatasetFunction',
  'write-dataset': 'WriteDatasetFunction',
  'update-catalog-db': 'UpdateCatalogDbFunction',
  'audit-relay': 'AuditRelayFunction',
};
const platform = { principalId: 'ops-1', tenantId: 'tenant-a', roles: 'platform' };
const apiEvent = (method: string, resource: string, extra: Record<string, unknown> = {}) => ({ httpMethod: method, resource, requestContext: { requestId: randomUUID(), authorizer: platform }, ...extra });

/** The app secret as CloudFormation creates it from the rendered template's GenerateSecretString. */
async function appSecretFromTemplate(sm: SecretsManagerClient, values: Record<string, string>): Promise<string> {
  const t = JSON.parse(await readFile(`templates-out/${ENV}/catalog-secrets.json`, 'utf8')) as { Resources: { AppDbSecret: { Properties: { GenerateSecretString: Record<string, unknown> } } } };
  const g = t.Resources.AppDbSecret.Properties.GenerateSecretString as { SecretStringTemplate: string | { 'Fn::Sub': string }; GenerateStringKey: string; PasswordLength: number; ExcludeCharacters?: string };
  const tpl = typeof g.SecretStringTemplate === 'string' ? g.SecretStringTemplate : g.SecretStringTemplate['Fn::Sub'];
  const json = JSON.parse(
    tpl.replace(/\$\{([A-Za-z0-9:.]+)\}/g, (_, name: string) => {
      if (values[name] === undefined) throw new Error(`catalog-secrets AppDbSecret: no local value for \${${name}}`);
      return values[name]!;
    }),
  ) as Record<string, unknown>;
  const pw = await sm.send(new GetRandomPasswordCommand({ PasswordLength: g.PasswordLength, ExcludeCharacters: g.ExcludeCharacters }));
  json[g.GenerateStringKey] = pw.RandomPassword!;
  return JSON.stringify(json);
}

/** A TCP relay standing in for the read replica's endpoint, counting the connections it carries. */
function replicaStandIn(host: string, port: number, target: { host: string; port: number }): Promise<{ server: Server; connections: () => number }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    n++;
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res({ server, connections: () => n }));
  });
}

describe('day one: an empty account, the packaged zips, the rendered templates', function () {
  this.timeout(240_000);
  let config: EnvConfig;
  let moto: Moto;
  let sm: SecretsManagerClient;
  let cluster: RdsLikeCluster;
  let root: string;
  let manifest: ArtifactManifest;
  let layout: LambdaLayout;
  let refs: Record<string, string>;
  let appSecretArn: string;
  let masterSecretArn: string;
  let initialAppPassword: string;
  const containers: Container[] = [];
  const warm: Record<string, Container> = {};

  function envFor(fn: string, env = ENV): Record<string, string> {
    const templated = templateEnvironment(`templates-out/${env}/catalog-service.json`, LOGICAL_IDS[fn]!, refs, layout, fn);
    return {
      ...lambdaBaseEnv(layout, fn, manifest.runtime, config.account.region),
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: 'day-one-session',
      AWS_ENDPOINT_URL: moto.endpoint,
      ...templated,
      DB_SSL: 'false',
    };
  }
  async function container(fn: string, env = ENV): Promise<Container> {
    const c = await startContainer(layout, fn, envFor(fn, env));
    containers.push(c);
    return c;
  }
  async function ok(c: Container, event: unknown): Promise<Record<string, unknown>> {
    const r = await c.invoke(event);
    assert.ok(r.ok, `${c.fn}: ${JSON.stringify(r)}\n${c.logs()}`);
    return r.result as Record<string, unknown>;
  }
  async function sessions(): Promise<string[]> {
    const a = await cluster.admin();
    try {
      const { rows } = await a.query<{ u: string }>("SELECT DISTINCT usename AS u FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' ORDER BY 1", [cluster.database]);
      return rows.map((r) => r.u);
    } finally {
      await a.end();
    }
  }

  const authFailures = () => cluster.log().split(`password authentication failed for user "${config.database.appUsername}"`).length - 1;

  /** One rotation as the hosted PostgreSQLMultiUser function runs it (create, set, test, finish). */
  async function rotate(): Promise<{ username: string; password: string }> {
    const current = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: appSecretArn }))).SecretString!) as Record<string, string>;
    const master = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: current.masterarn }))).SecretString!) as { username: string; password: string };
    const pendingUser = current.username!.endsWith('_clone') ? current.username!.slice(0, -6) : `${current.username}_clone`;
    const pending = { ...current, username: pendingUser, password: (await sm.send(new GetRandomPasswordCommand({ PasswordLength: 32, ExcludeCharacters: ':/@"\'\\' }))).RandomPassword! };
    const c = new pg.Client({ host: current.host, port: Number(current.port), database: current.dbname, user: master.username, password: master.password });
    await c.connect();
    try {
      const exists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [pendingUser])).rows.length > 0;
      if (!exists) {
        await c.query(`CREATE ROLE ${c.escapeIdentifier(pendingUser)} WITH LOGIN PASSWORD ${c.escapeLiteral(pending.password)}`);
        await c.query(`GRANT ${c.escapeIdentifier(current.username!)} TO ${c.escapeIdentifier(pendingUser)}`);
      } else {
        await c.query(`ALTER USER ${c.escapeIdentifier(pendingUser)} WITH PASSWORD ${c.escapeLiteral(pending.password)}`);
      }
    } finally {
      await c.end();
    }
    const test = new pg.Client({ host: current.host, port: Number(current.port), database: current.dbname, user: pending.username, password: pending.password });
    await test.connect();
    await test.query('SELECT now()');
    await test.end();
    // finishSecret moves AWSCURRENT to the AWSPENDING version; the emulator would keep serving the
    // old version after that move, so the new version goes straight to AWSCURRENT.
    await sm.send(new PutSecretValueCommand({ SecretId: appSecretArn, SecretString: JSON.stringify(pending), ClientRequestToken: randomUUID() }));
    return pending;
  }

  before(async () => {
    config = await loadEnv(ENV);
    moto = await getMoto();
    await moto.reset();
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: config.account.region, credentials: TEST_CREDENTIALS });
    cluster = await startRdsLikeCluster({ masterUsername: config.database.masterUsername, database: config.database.databaseName, logStatements: true });
    root = await mkdtemp(join(tmpdir(), 'catalogctl-dayone-'));
    manifest = await packageArtifacts({ config, rootDir: resolve('.'), outDir: join(root, 'build'), reporter: new RecordingReporter() });
    layout = layOut(manifest, join(root, 'fs'));

    // What RDS creates with ManageMasterUserPassword: a secret named rds!db-…, only {username, password}.
    masterSecretArn = (await sm.send(new CreateSecretCommand({ Name: `rds!db-${randomUUID()}`, SecretString: JSON.stringify(cluster.master) }))).ARN!;
    const appSecret = await appSecretFromTemplate(sm, { AppDbSecretHost: cluster.host, AppDbSecretPort: String(cluster.port), AppDbSecretMasterArn: masterSecretArn });
    initialAppPassword = (JSON.parse(appSecret) as { password: string }).password;
    appSecretArn = (await sm.send(new CreateSecretCommand({ Name: `catalog-${ENV}-AppDbSecret-${randomUUID().slice(0, 8)}`, SecretString: appSecret }))).ARN!;

    const eb = new EventBridgeClient({ endpoint: moto.endpoint, region: config.account.region, credentials: TEST_CREDENTIALS });
    const busArn = (await eb.send(new CreateEventBusCommand({ Name: `catalog-${ENV}-audit` }))).EventBusArn!;
    const sfn = new SFNClient({ endpoint: moto.endpoint, region: config.account.region, credentials: TEST_CREDENTIALS });
    const definition = await readFile(`templates-out/${ENV}/state_machine.json`, 'utf8');
    const stateMachineArn = (await sfn.send(new CreateStateMachineCommand({ name: `catalog-${ENV}-status-poller`, definition, roleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/poller` }))).stateMachineArn!;
    refs = {
      DbEndpointAddress: cluster.host,
      DbEndpointPort: String(cluster.port),
      AppDbSecretArn: appSecretArn,
      DbMasterSecretArn: masterSecretArn,
      'AuditBus.Arn': busArn,
      PollerStateMachine: stateMachineArn,
    };
  });
  after(async () => {
    for (const c of containers) await c.stop();
    await cluster?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('the master secret and the app secret have the shapes RDS and the template give them', async () => {
    const master = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: masterSecretArn }))).SecretString!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(master).sort(), ['password', 'username']);
    const app = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: appSecretArn }))).SecretString!) as Record<string, unknown>;
    // The fields multi-user rotation reads (all of them here), and only fields AWS documents for it.
    const keys = Object.keys(app);
    for (const k of ['engine', 'host', 'port', 'username', 'password', 'dbname', 'masterarn']) assert.ok(keys.includes(k), `app secret has ${k}`);
    for (const k of keys) assert.ok(['engine', 'host', 'port', 'username', 'password', 'dbname', 'masterarn', 'ssl', 'dbInstanceIdentifier'].includes(k), `app secret field ${k}`);
    assert.equal(app.engine, 'postgres');
    assert.equal(typeof app.port, 'number', 'the port a number, as the rotation templates read it');
    assert.equal(app.ssl, true);
    assert.equal(app.username, config.database.appUsername);
    assert.deepEqual(await sessions(), []);
  });

  it('migrate (the packaged zip, the template environment) creates the app role as the master, once', async () => {
    const first = await ok(await container('migrate'), {});
    assert.deepEqual(first.appRole, { role: config.database.appUsername, grantee: config.database.appUsername, created: true });
    assert.ok((first.applied as number[]).length > 0);
    const second = await ok(await container('migrate'), {});
    assert.deepEqual(second.applied, []);
    assert.equal((second.appRole as { created: boolean }).created, false);

    const a = await cluster.admin(cluster.database);
    try {
      const app = config.database.appUsername;
      const role = (await a.query('SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolinherit FROM pg_roles WHERE rolname = $1', [app])).rows[0];
      assert.deepEqual(role, { rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolcanlogin: true, rolinherit: true });
      // The stored password is a SCRAM verifier; the master owns every table.
      assert.match((await a.query<{ p: string }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [app])).rows[0]!.p, /^SCRAM-SHA-256\$4096:/);
      const owners = (await a.query<{ o: string }>("SELECT DISTINCT tableowner AS o FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.o);
      assert.deepEqual(owners, [config.database.masterUsername]);
      const priv = (await a.query(
        `SELECT has_table_privilege($1, 'catalog_dataset', 'SELECT,INSERT,UPDATE,DELETE') AS dml,
                has_table_privilege($1, 'catalog_dataset', 'TRUNCATE') AS truncate,
                has_table_privilege($1, 'schema_migrations', 'SELECT') AS migrations,
                has_schema_privilege($1, 'public', 'CREATE') AS create_in_public,
                has_database_privilege($1, current_database(), 'CREATE') AS create_schema,
                has_database_privilege('public', current_database(), 'CONNECT') AS public_connect`,
        [app],
      )).rows[0];
      assert.deepEqual(priv, { dml: true, truncate: false, migrations: false, create_in_public: false, create_schema: false, public_connect: false });
      // A table the master creates later is usable by the app without another grant.
      await a.query(`SET ROLE ${config.database.masterUsername}`);
      await a.query('CREATE TABLE later_table (id bigint GENERATED ALWAYS AS IDENTITY, v text)');
      const later = (await a.query("SELECT has_table_privilege($1, 'later_table', 'INSERT') AS ins, has_sequence_privilege($1, 'later_table_id_seq', 'USAGE') AS seq", [app])).rows[0];
      assert.deepEqual(later, { ins: true, seq: true });
      await a.query('DROP TABLE later_table');
    } finally {
      await a.end();
    }
  });

  it('list, describe, write and update-catalog-db work with their template environments', async () => {
    for (const fn of ['list-datasets', 'get-dataset', 'write-dataset', 'update-catalog-db', 'audit-relay']) warm[fn] = await container(fn);
    const created = await ok(warm['write-dataset']!, apiEvent('POST', `${API}/datasets`, { body: JSON.stringify({ name: 'orders', sla_minutes: 60 }) }));
    assert.equal(created.statusCode, 201, JSON.stringify(created));
    const id = (JSON.parse(created.body as string) as { id: string }).id;
    const etag = (created.headers as Record<string, string>).ETag!;
    const updated = await ok(warm['write-dataset']!, apiEvent('PUT', `${API}/datasets/{id}`, { pathParameters: { id }, headers: { 'If-Match': etag }, body: JSON.stringify({ description: 'all orders' }) }));
    assert.equal(updated.statusCode, 200, JSON.stringify(updated));
    const listed = await ok(warm['list-datasets']!, apiEvent('GET', `${API}/datasets`));
    assert.equal(listed.statusCode, 200);
    assert.deepEqual((JSON.parse(listed.body as string) as { items: { id: string; description: string }[] }).items.map((i) => [i.id, i.description]), [[id, 'all orders']]);
    const got = await ok(warm['get-dataset']!, apiEvent('GET', `${API}/datasets/{id}`, { pathParameters: { id } }));
    assert.equal(got.statusCode, 200);
    const catalog = await ok(warm['write-dataset']!, apiEvent('POST', `${API}/catalogs`, { body: JSON.stringify({ catalog_name: 'kb-orders' }) }));
    assert.equal(catalog.statusCode, 202, JSON.stringify(catalog));
    const { local_catalog_id, execution_arn } = JSON.parse(catalog.body as string) as { local_catalog_id: number; execution_arn: string | null };
    assert.match(execution_arn ?? '', /^arn:aws:states:/);
    const done = await ok(warm['update-catalog-db']!, { local_catalog_id, catalog_name: 'kb-orders', kb_name: 'kb-1', data_source_name: 'ds-1' });
    assert.equal(done.updated, true);
    assert.deepEqual(await ok(warm['audit-relay']!, {}), { sent: 0, failed: 0 });
    assert.deepEqual(await sessions(), [config.database.appUsername]);
  });

  it('after a rotation to <user>_clone, warm containers keep working and new ones log in as the clone', async () => {
    const clone = await rotate();
    assert.equal(clone.username, `${config.database.appUsername}_clone`);
    assert.equal((await ok(warm['list-datasets']!, apiEvent('GET', `${API}/datasets`))).statusCode, 200);
    const fresh = await container('list-datasets');
    assert.equal((await ok(fresh, apiEvent('GET', `${API}/datasets`))).statusCode, 200);
    warm['list-after-first-rotation'] = fresh;
    assert.ok((await sessions()).includes(clone.username), 'a new container logs in as the clone');
  });

  it("after the next rotation changes the first user's password, a warm container re-reads the secret once and reconnects", async () => {
    const back = await rotate();
    assert.equal(back.username, config.database.appUsername);
    // Connections are dropped (idle timeout, failover): the warm containers must open new ones.
    const a = await cluster.admin();
    await a.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()", [cluster.database]);
    await a.end();
    await new Promise((r) => setTimeout(r, 300));
    // This one still holds the first user's old password: 28P01, one fresh read, then it works.
    const failedBefore = authFailures();
    assert.equal((await ok(warm['list-datasets']!, apiEvent('GET', `${API}/datasets`))).statusCode, 200);
    assert.equal(authFailures(), failedBefore + 1, 'the stale password was tried once, then the secret re-read');
    assert.equal((await ok(warm['write-dataset']!, apiEvent('POST', `${API}/datasets`, { body: JSON.stringify({ name: 'after-rotation' }) }))).statusCode, 201);
    // This one holds the clone's password, which the second rotation left valid (AWSPREVIOUS).
    assert.equal((await ok(warm['list-after-first-rotation']!, apiEvent('GET', `${API}/datasets`))).statusCode, 200);
    const fresh = await container('get-dataset');
    const missing = await ok(fresh, apiEvent('GET', `${API}/datasets/{id}`, { pathParameters: { id: randomUUID() } }));
    assert.equal(missing.statusCode, 404);
  });

  it('list and describe read from DB_READER_HOST when the env has a replica; writes stay on the writer', async () => {
    // prod renders a replica; its endpoint here is a relay on 127.0.0.2 to the same server.
    const replica = await replicaStandIn('127.0.0.2', cluster.port, { host: cluster.host, port: cluster.port });
    try {
      refs.DbReadReplicaAddresses = '127.0.0.2';
      refs.DbProxyEndpoint = '127.0.0.3';
      for (const fn of ['list-datasets', 'get-dataset']) assert.equal(envFor(fn, 'prod').DB_READER_HOST, '127.0.0.2', `prod's ${fn} reads from the replicas`);
      assert.equal('DB_READER_HOST' in envFor('write-dataset', 'prod'), false, 'writes stay on the writer');
      const withReader = (fn: string) => container(fn, 'prod');
      const write = await container('write-dataset');
      const created = await ok(write, apiEvent('POST', `${API}/datasets`, { body: JSON.stringify({ name: 'replicated' }) }));
      assert.equal(created.statusCode, 201);
      assert.equal(replica.connections(), 0, 'writes never touch the replica');
      const id = (JSON.parse(created.body as string) as { id: string }).id;
      assert.equal((await ok(await withReader('list-datasets'), apiEvent('GET', `${API}/datasets`))).statusCode, 200);
      assert.equal(replica.connections(), 1);
      assert.equal((await ok(await withReader('get-dataset'), apiEvent('GET', `${API}/datasets/{id}`, { pathParameters: { id } }))).statusCode, 200);
      assert.equal(replica.connections(), 2);
    } finally {
      delete refs.DbReadReplicaAddresses;
      delete refs.DbProxyEndpoint;
      for (const c of containers.slice(-3)) await c.stop();
      await new Promise((r) => replica.server.close(() => r(undefined)));
    }
  });

  it('no password reaches a function log or the server log', () => {
    const logs = containers.map((c) => c.logs()).join('\n');
    const server = cluster.log();
    assert.match(server, /CREATE ROLE/, 'log_statement=all recorded the bootstrap');
    for (const secret of [initialAppPassword, cluster.master.password]) {
      assert.ok(!logs.includes(secret), 'a function logged a password');
      assert.ok(!server.includes(secret), 'the server logged a password');
    }
  });
});
