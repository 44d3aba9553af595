/**
 * The functions' connection path (src/handlers/shared/db.ts, db-connection.ts) as a restore and the
 * proxy need it, against a real PostgreSQL started as RDS starts one and the app secret in the
 * emulator's Secrets Manager:
 * - the writer's address comes from the secret, not from a published version's DB_HOST, and a
 *   warm container whose database went away re-reads the secret and follows it;
 * - a read replica that goes away hands reads to the writer;
 * - through RDS Proxy: the IAM user and a token per connection, TLS verified against Amazon Trust
 *   Services' roots only (a certificate from another CA is refused), two connections per container.
 */
import { strict as assert } from 'node:assert';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { AMAZON_TRUST_ROOT_CNS } from '../../src/handlers/shared/amazon-ca.ts';
import { appConnection } from '../../src/handlers/shared/db-connection.ts';
import { connectFailure, poolSize, resetPool, setIdleProbeMs, withClient, withReader } from '../../src/handlers/shared/db.ts';
import { rdsIamToken } from '../../src/handlers/shared/rds-iam-token.ts';
import { clearSecretCache } from '../../src/handlers/shared/secrets.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { freePort } from '../support/ports.ts';
import { startRdsLikeCluster, testCertificates, type RdsLikeCluster } from '../support/rds-pg.ts';

/** A TCP relay standing in for a DB endpoint that can disappear (an instance stopped after a restore). */
async function relay(target: number): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((client) => {
    count++;
    const upstream = netConnect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => (client.destroy(), upstream.destroy());
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const port = await freePort();
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}

describe('connection path: secret-led endpoint, failover to a moved database, the proxy', function () {
  this.timeout(120_000);
  let cluster: RdsLikeCluster;
  let sm: SecretsManagerClient;
  const saved = { ...process.env };

  before(async () => {
    cluster = await startRdsLikeCluster({ masterUsername: 'catalog_admin', database: 'catalog' });
    const moto = await getMoto();
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const admin = await cluster.admin('catalog');
    try {
      await admin.query(`CREATE ROLE catalog_app LOGIN PASSWORD 'app-password-1'`);
      await admin.query('GRANT CONNECT ON DATABASE catalog TO catalog_app');
    } finally {
      await admin.end();
    }
  });
  after(async () => {
    process.env = saved;
    await resetPool();
    await cluster?.stop();
  });
  beforeEach(async () => {
    process.env = { ...saved, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL: (await getMoto()).endpoint, DB_SSL: 'false', DB_NAME: 'catalog' };
    delete process.env.DATABASE_URL;
    clearSecretCache();
    await resetPool();
  });

  async function appSecret(host: string, port: number): Promise<string> {
    const out = await sm.send(new CreateSecretCommand({ Name: `conn-${Date.now()}-${Math.random()}`, SecretString: JSON.stringify({ engine: 'postgres', host, port: String(port), username: 'catalog_app', password: 'app-password-1', dbname: 'catalog' }) }));
    return out.ARN!;
  }
  const backendPort = (c: pg.PoolClient) => c.query<{ port: number }>('SELECT inet_server_port() AS port').then((r) => r.rows[0]!.port);

  it("takes the writer's address from the secret, not from DB_HOST/DB_PORT (a published version's)", async () => {
    process.env.DB_SECRET_ARN = await appSecret('127.0.0.1', cluster.port);
    process.env.DB_HOST = 'old-instance.invalid';
    process.env.DB_PORT = '1';
    assert.equal(await withClient(backendPort), cluster.port);
  });

  it('a warm container whose database went away re-reads the secret and follows it to the restored one', async () => {
    const old = await relay(cluster.port);
    const arn = await appSecret('127.0.0.1', old.port);
    process.env.DB_SECRET_ARN = arn;
    assert.equal(await withClient(backendPort), cluster.port);
    assert.equal(old.connections(), 1, 'the first connection went to the old instance the secret named');
    // The restore: the secret names the new instance, the old one stops answering.
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: String(cluster.port), username: 'catalog_app', password: 'app-password-1', dbname: 'catalog' }) }));
    await old.close();
    // The container was frozen long enough for the idle probe (5 s in a function).
    setIdleProbeMs(0);
    const lines: string[] = [];
    const orig = console.error;
    console.error = (l: string) => void lines.push(l);
    try {
      assert.equal(await withClient(backendPort), cluster.port);
    } finally {
      console.error = orig;
      setIdleProbeMs(5_000);
    }
    assert.ok(lines.some((l) => /an idle database connection was closed by the other end/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /cannot open a database connection \(unreachable\); reading the secret again/.test(l)), lines.join('\n'));
  });

  it('a read replica that goes away hands the reads to the writer', async () => {
    process.env.DB_SECRET_ARN = await appSecret('127.0.0.1', cluster.port);
    // The replica's endpoint after it was deleted: an address where nothing listens (the server listens on 127.0.0.1 only).
    process.env.DB_READER_HOST = '127.0.0.3';
    const orig = console.error;
    const lines: string[] = [];
    console.error = (l: string) => void lines.push(l);
    try {
      assert.equal(await withReader(backendPort), cluster.port);
    } finally {
      console.error = orig;
      delete process.env.DB_READER_HOST;
    }
    assert.ok(lines.some((l) => /read replica unreachable; reads go to the writer in this container/.test(l)), lines.join('\n'));
    assert.equal(connectFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'unreachable');
    assert.equal(connectFailure(Object.assign(new Error('password authentication failed'), { code: '28P01' })), 'auth');
    assert.equal(connectFailure(Object.assign(new Error('relation does not exist'), { code: '42P01' })), undefined);
  });

  it('through RDS Proxy: the IAM user with a fresh token per connection, TLS only against Amazon Trust Services roots, two per container', async () => {
    process.env.DB_PROXY_HOST = 'catalog-prod.proxy-abcdefghijkl.us-east-1.rds.amazonaws.com';
    process.env.DB_IAM_USER = 'catalog_app_iam';
    delete process.env.DB_SSL;
    process.env.DB_MAX_CONN = '10';
    const cfg = await appConnection('writer', false);
    assert.equal(cfg.user, 'catalog_app_iam');
    assert.equal(cfg.host, process.env.DB_PROXY_HOST);
    assert.equal(cfg.port, 5432);
    const ssl = cfg.ssl as { rejectUnauthorized: boolean; ca: string[] };
    assert.equal(ssl.rejectUnauthorized, true);
    assert.deepEqual(ssl.ca.map((p) => /CN=(.*)$/m.exec(new X509Certificate(p).subject)![1]).sort(), [...AMAZON_TRUST_ROOT_CNS].sort());
    const token = await (cfg.password as () => Promise<string>)();
    const u = new URL(`https://${token}`);
    assert.equal(u.host, `${process.env.DB_PROXY_HOST}:5432`);
    assert.equal(u.searchParams.get('Action'), 'connect');
    assert.equal(u.searchParams.get('DBUser'), 'catalog_app_iam');
    assert.equal(u.searchParams.get('X-Amz-Expires'), '900');
    assert.match(u.searchParams.get('X-Amz-Credential')!, /^test\/\d{8}\/us-east-1\/rds-db\/aws4_request$/);
    assert.equal(u.searchParams.get('X-Amz-SignedHeaders'), 'host');
    assert.match(u.searchParams.get('X-Amz-Signature')!, /^[0-9a-f]{64}$/);
    assert.equal(poolSize(), 2);
    // Readers never go through the proxy (its read-only endpoints are Aurora's): the secret's user.
    process.env.DB_SECRET_ARN = await appSecret('127.0.0.1', cluster.port);
    assert.equal((await appConnection('reader', false)).user, 'catalog_app');
    delete process.env.DB_PROXY_HOST;
    assert.equal(poolSize(), 10);
  });

  it('the same token is reproducible for a fixed time and changes with the user (what the proxy checks is signed)', () => {
    const base = { host: 'p.proxy-x.us-east-1.rds.amazonaws.com', port: 5432, region: 'us-east-1', credentials: TEST_CREDENTIALS, now: new Date('2026-11-30T14:05:00Z') };
    const a = rdsIamToken({ ...base, user: 'catalog_app_iam' });
    assert.equal(a, rdsIamToken({ ...base, user: 'catalog_app_iam' }));
    assert.notEqual(new URL(`https://${a}`).searchParams.get('X-Amz-Signature'), new URL(`https://${rdsIamToken({ ...base, user: 'other' })}`).searchParams.get('X-Amz-Signature'));
    assert.match(a, /X-Amz-Date=20261130T140500Z/);
    const withSession = rdsIamToken({ ...base, user: 'catalog_app_iam', credentials: { ...TEST_CREDENTIALS, sessionToken: 'tok/en' } });
    assert.equal(new URL(`https://${withSession}`).searchParams.get('X-Amz-Security-Token'), 'tok/en');
  });

  it("the proxy path's trust refuses a server certificate from another CA (verification is on)", async () => {
    const certs = await testCertificates();
    const tlsCluster = await startRdsLikeCluster({ masterUsername: 'catalog_admin', database: 'catalog', tls: certs });
    try {
      process.env.DB_PROXY_HOST = 'localhost';
      process.env.DB_PROXY_PORT = String(tlsCluster.port);
      process.env.DB_IAM_USER = 'catalog_admin';
      delete process.env.DB_SSL;
      const cfg = await appConnection('writer', false);
      const client = new pg.Client({ ...cfg, password: tlsCluster.master.password });
      await assert.rejects(client.connect(), /unable to verify the first certificate|self.signed|UNABLE_TO_VERIFY/);
      await client.end().catch(() => undefined);
      // The same options with the test CA as the trust connect: only the trust differs.
      const ok = new pg.Client({ ...cfg, password: tlsCluster.master.password, ssl: { ...(cfg.ssl as object), ca: [certs.caPem] } });
      await ok.connect();
      assert.equal((await ok.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl, true);
      await ok.end();
    } finally {
      delete process.env.DB_PROXY_PORT;
      await tlsCluster.stop();
    }
  });
});
