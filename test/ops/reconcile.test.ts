/**
 * The reconciliation `db restore` runs inside the VPC, here in process against a PostgreSQL started
 * as RDS starts one and the secrets in the emulator in RDS's and the rotation's shapes:
 * - `migrate {"reconcile": true}`: a database restored from before the last two rotations holds
 *   the base user with an old password and no clone; afterwards both users the secret names
 *   (AWSCURRENT's and AWSPREVIOUS's) log in with the secret's passwords, the IAM user for the
 *   proxy exists as a member of the base role, and the data is counted;
 * - `audit-relay {"drain": true}`: every unsent outbox event is published (emulator's
 *   EventBridge), in as many batches as it takes, and what is left is counted.
 */
import { strict as assert } from 'node:assert';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { handler as auditRelay } from '../../src/handlers/audit-relay/index.ts';
import { handler as migrateHandler } from '../../src/handlers/migrate/index.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { migrate } from '../../src/handlers/shared/migrations.ts';
import { clearSecretCache } from '../../src/handlers/shared/secrets.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS } from '../support/moto.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';
import { startRdsLikeCluster, type RdsLikeCluster } from '../support/rds-pg.ts';

describe('reconciliation after a restore (migrate reconcile, audit-relay drain)', function () {
  this.timeout(120_000);
  let cluster: RdsLikeCluster;
  let sm: SecretsManagerClient;
  const saved = { ...process.env };

  before(async () => {
    cluster = await startRdsLikeCluster({ masterUsername: 'catalog_admin', database: 'catalog', logStatements: true });
    const moto = await getMoto();
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
  });
  after(async () => {
    process.env = saved;
    await resetPool();
    await cluster?.stop();
  });
  beforeEach(async () => {
    process.env = { ...saved, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL: (await getMoto()).endpoint, DB_SSL: 'false' };
    delete process.env.DATABASE_URL;
    clearSecretCache();
    await resetPool();
  });

  const login = async (user: string, password: string) => {
    const c = new pg.Client({ host: cluster.host, port: cluster.port, database: 'catalog', user, password });
    try {
      await c.connect();
      return (await c.query<{ n: string }>('SELECT count(*) AS n FROM catalog_dataset')).rows[0]!.n;
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  it('sets the secret users\' passwords as the master, creates the missing clone and the IAM user, counts the data', async () => {
    const master = await sm.send(new CreateSecretCommand({ Name: `rds!db-${Date.now()}`, SecretString: JSON.stringify(cluster.master) }));
    const shape = { engine: 'postgres', host: cluster.host, port: String(cluster.port), dbname: 'catalog', masterarn: master.ARN };
    const app = await sm.send(new CreateSecretCommand({ Name: `app-${Date.now()}`, SecretString: JSON.stringify({ ...shape, username: 'catalog_app', password: 'restore-point-password-1' }) }));
    Object.assign(process.env, { DB_SECRET_ARN: app.ARN!, DB_MASTER_SECRET_ARN: master.ARN!, DB_HOST: cluster.host, DB_PORT: String(cluster.port), DB_NAME: 'catalog', DB_IAM_USER: 'catalog_app_iam' });
    // The database as it was at the restore point: migrated, catalog_app with the password of then.
    const first = await migrateHandler({});
    assert.equal(first.appRole?.created, true);
    assert.deepEqual(first.iamRole, { role: 'catalog_app_iam', created: true, rdsIam: false });
    // Two rotations happened after the restore point: the clone (AWSPREVIOUS), then catalog_app again (AWSCURRENT).
    await sm.send(new PutSecretValueCommand({ SecretId: app.ARN, SecretString: JSON.stringify({ ...shape, username: 'catalog_app_clone', password: 'rotated-password-2' }) }));
    await sm.send(new PutSecretValueCommand({ SecretId: app.ARN, SecretString: JSON.stringify({ ...shape, username: 'catalog_app', password: 'rotated-password-3' }) }));
    await assert.rejects(login('catalog_app', 'rotated-password-3'), /password authentication failed/);

    const out = await migrateHandler({ reconcile: true });
    assert.deepEqual(out.reconciled, [
      { role: 'catalog_app', action: 'password-set' },
      { role: 'catalog_app_clone', action: 'created' },
    ]);
    assert.deepEqual(out.counts, { datasets: 0, catalogs: 0, newestChange: null, outbox: { total: 0, sent: 0, unsent: 0 } });
    assert.equal(out.iamRole?.created, false);
    assert.equal(await login('catalog_app', 'rotated-password-3'), '0');
    assert.equal(await login('catalog_app_clone', 'rotated-password-2'), '0');
    const admin = await cluster.admin('catalog');
    try {
      const { rows } = await admin.query("SELECT pg_has_role('catalog_app_clone', 'catalog_app', 'USAGE') AS clone, pg_has_role('catalog_app_iam', 'catalog_app', 'USAGE') AS iam");
      assert.deepEqual(rows[0], { clone: true, iam: true });
    } finally {
      await admin.end();
    }
    const log = cluster.log();
    for (const p of ['restore-point-password-1', 'rotated-password-2', 'rotated-password-3']) assert.ok(!log.includes(p), `${p} is in the server log`);
    assert.match(log, /ALTER ROLE "catalog_app" WITH LOGIN PASSWORD 'SCRAM-SHA-256\$4096:/);
  });

  describe('audit-relay drain', () => {
    let db: TestDatabase;
    before(async () => {
      db = await createTestDatabase('drain');
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await migrate(c);
        await c.query(`INSERT INTO audit_outbox (tenant_id, detail_type, detail) SELECT 't1', 'dataset.updated', jsonb_build_object('dataset_id', 'd' || g) FROM generate_series(1, 250) g`);
        await c.query(`INSERT INTO audit_outbox (tenant_id, detail_type, detail, sent_at) VALUES ('t1', 'dataset.created', '{}', now())`);
      } finally {
        await c.end();
      }
    });
    after(async () => db?.drop());

    it('publishes every unsent event in batches of 100 and counts what is left', async () => {
      process.env.DATABASE_URL = db.url;
      process.env.EVIDENCE_BUS_ARN = `arn:aws:events:us-east-1:${MOTO_ACCOUNT_ID}:event-bus/default`;
      const out = await auditRelay({ drain: true });
      assert.deepEqual(out, { sent: 250, failed: 0, batches: 3, unsent: 0 });
      // A scheduled run (no event) does one batch, and finds nothing now.
      assert.deepEqual(await auditRelay(undefined as never), { sent: 0, failed: 0 });
    });
  });
});
