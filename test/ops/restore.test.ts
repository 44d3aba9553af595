/**
 * `db restore` (src/ops/restore.ts): the plan's checks and the steps against the emulator's RDS and
 * Secrets Manager through the real SDK. What the emulator cannot do is scripted and says so:
 * - CloudFormation: the emulator cannot create the real catalog-storage (tagged KMS keys, the
 *   master secret attribute, RDS Proxy), so `deploy` is a recording stand-in that does to the
 *   stack Outputs what the change set would (a new DbInstanceIdentifier) and creates the restored
 *   instance by API, without a managed master password, as RDS restores a PostgreSQL instance;
 * - Lambda Invoke needs Docker in the emulator: migrate and audit-relay answer scripted payloads
 *   (the handlers themselves run against PostgreSQL in reconcile.test.ts).
 * The CLI's refusals (flags, no terminal, the window) run through the built bin in restore-cli.test.ts.
 */
import { strict as assert } from 'node:assert';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, RDSClient, CreateDBSnapshotCommand } from '@aws-sdk/client-rds';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationApi, StackSummary } from '../../src/aws/cloudformation.ts';
import { createRdsOpsApi } from '../../src/aws/rds.ts';
import { createSecretsInspectApi } from '../../src/aws/secretsmanager.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig, StackName } from '../../src/config/types.ts';
import type { DeployResult } from '../../src/deploy/stacks.ts';
import { DeployError, UserInputError } from '../../src/errors.ts';
import { executeRestore, parseRestoreTime, planRestore, restorePointFromFlags, type RestoreDeps } from '../../src/ops/restore.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';

describe('db restore: plan and steps (emulator RDS and Secrets Manager, scripted deploy and invoke)', function () {
  this.timeout(60_000);
  let config: EnvConfig;
  let rds: RDSClient;
  let sm: SecretsManagerClient;
  const target = { region: 'us-east-1', endpoint: '' };

  before(async () => {
    const moto = await getMoto();
    target.endpoint = moto.endpoint;
    rds = new RDSClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    config = await loadEnv('dev');
  });
  beforeEach(async () => (await getMoto()).reset());

  async function world(opts: { retention?: number } = {}) {
    const created = await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'catalog-storage-database-old1',
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.medium',
        AllocatedStorage: 20,
        MasterUsername: 'catalog_admin',
        ManageMasterUserPassword: true,
        StorageEncrypted: true,
        BackupRetentionPeriod: opts.retention ?? 14,
      }),
    );
    const oldMaster = created.DBInstance!.MasterUserSecret!.SecretArn!;
    // The database key, as catalog-storage creates it (the emulator checks MasterUserSecretKmsKeyId exists).
    // One JSON-protocol call: the project has no KMS client of its own.
    const kmsRes = await fetch(target.endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.CreateKey', Authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0' }, body: JSON.stringify({ Description: 'database key' }) });
    const keyArn = ((await kmsRes.json()) as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn;
    const app = await sm.send(
      new CreateSecretCommand({
        Name: 'catalog-dev-app-db',
        SecretString: JSON.stringify({ engine: 'postgres', host: created.DBInstance!.Endpoint?.Address ?? 'old.example', port: '5432', username: 'catalog_app_clone', password: 'kept-password', dbname: 'catalog', masterarn: oldMaster }),
      }),
    );
    const stacks = new Map<string, StackSummary>();
    const put = (name: string, outputs: Record<string, string>, parameters: Record<string, string> = {}) =>
      stacks.set(name, { name, status: 'UPDATE_COMPLETE', outputs, parameters, tags: { 'catalog:env': 'dev' } });
    put('catalog-storage', { DbInstanceIdentifier: 'catalog-storage-database-old1', DbMasterSecretArn: oldMaster, DbKmsKeyArn: keyArn }, { RestoreSourceDBInstanceIdentifier: '', RestoreTime: '', RestoreDBSnapshotIdentifier: '', RestoredMasterSecretArn: '' });
    put('catalog-secrets', { AppDbSecretArn: app.ARN! });
    put('catalog-service', { FunctionNameMigrate: 'catalog-dev-migrate', FunctionNameAuditRelay: 'catalog-dev-audit-relay' });
    const cloudformation: Pick<CloudFormationApi, 'describeStack'> = { describeStack: async (n) => stacks.get(n) };
    const deploys: { stacks: StackName[]; overrides?: Partial<Record<StackName, Record<string, string>>> }[] = [];
    const invokes: { fn: string; payload: unknown }[] = [];
    const deps: RestoreDeps = {
      rds: await createRdsOpsApi(target),
      secrets: await createSecretsInspectApi(target),
      cloudformation,
      reporter: new RecordingReporter(),
      pollMs: 1,
      sleep: async () => undefined,
      now: () => new Date(),
      // Scripted: what the storage change set does (see the header).
      async deploy(only, overrides) {
        deploys.push({ stacks: only, overrides });
        const storage = overrides?.['catalog-storage'];
        if (storage?.RestoreSourceDBInstanceIdentifier !== undefined) {
          await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'catalog-storage-database-new2', Engine: 'postgres', DBInstanceClass: 'db.t4g.medium', AllocatedStorage: 20, MasterUsername: 'catalog_admin', MasterUserPassword: 'restore-point-master', StorageEncrypted: true }));
          const s = stacks.get('catalog-storage')!;
          put('catalog-storage', { ...s.outputs, DbInstanceIdentifier: 'catalog-storage-database-new2' }, { ...s.parameters, ...storage });
        } else if (storage?.RestoredMasterSecretArn) {
          const s = stacks.get('catalog-storage')!;
          put('catalog-storage', { ...s.outputs, DbMasterSecretArn: storage.RestoredMasterSecretArn }, { ...s.parameters, ...storage });
        }
        return { stacks: only.map((st) => ({ stack: st, kind: 'updated' as const, outputs: {}, plan: { stack: st, kind: 'no-changes' as const } as never })), plans: [] } as DeployResult;
      },
      // Scripted: the emulator needs Docker to invoke.
      async invoke(fn, payload) {
        invokes.push({ fn, payload });
        const body = fn.endsWith('migrate')
          ? { applied: [], current: 1, reconciled: [{ role: 'catalog_app_clone', action: 'password-set' }], counts: { datasets: 12, catalogs: 2, newestChange: '2026-11-30T14:04:58.000Z', outbox: { total: 40, sent: 37, unsent: 3 } } }
          : { sent: 3, failed: 0, batches: 1, unsent: 0 };
        return { statusCode: 200, payload: JSON.stringify(body) };
      },
    };
    return { deps, deploys, invokes, appArn: app.ARN!, oldMaster, stacks };
  }

  it('parses the restore point: exactly one flag, ISO-8601 with a zone, an RDS snapshot id', () => {
    assert.throws(() => restorePointFromFlags({}), /exactly one of --to-time/);
    assert.throws(() => restorePointFromFlags({ latest: true, snapshot: 'x' }), /exactly one/);
    assert.throws(() => parseRestoreTime('2026-11-30 14:05'), (e: unknown) => e instanceof UserInputError && /--to-time: "2026-11-30 14:05" is not an ISO-8601 time with a zone/.test((e as Error).message));
    assert.throws(() => parseRestoreTime('2026-11-30T14:05:00'), /with a zone/);
    assert.throws(() => parseRestoreTime('2026-02-30T14:05:00Z'), /not a valid time|with a zone/);
    assert.equal(parseRestoreTime('2026-11-30T15:05:00+01:00').toISOString(), '2026-11-30T14:05:00.000Z');
    assert.deepEqual(restorePointFromFlags({ snapshot: 'rds:catalog-2026-11-30-04-10' }), { kind: 'snapshot', id: 'rds:catalog-2026-11-30-04-10' });
    assert.throws(() => restorePointFromFlags({ snapshot: 'bad--id' }), /not an RDS DB snapshot identifier/);
  });

  it('the plan refuses a time in the future or after the latest restorable time, an unknown or unencrypted snapshot, and no backups', async () => {
    const { deps } = await world();
    await assert.rejects(planRestore(config, deps, { kind: 'time', time: new Date(Date.now() + 3_600_000) }), (e: unknown) => e instanceof UserInputError && /is in the future/.test((e as Error).message));
    const latest = (await deps.rds.describeInstance('catalog-storage-database-old1'))!.latestRestorableTime!;
    const deps2 = { ...deps, now: () => new Date(latest.getTime() + 3_600_000) };
    await assert.rejects(planRestore(config, deps2, { kind: 'time', time: new Date(latest.getTime() + 60_000) }), /is after catalog-storage-database-old1's latest restorable time/);
    await assert.rejects(planRestore(config, deps, { kind: 'snapshot', id: 'nope' }), (e: unknown) => e instanceof UserInputError && /no DB snapshot nope/.test((e as Error).message));
    await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'plain', Engine: 'postgres', DBInstanceClass: 'db.t4g.medium', AllocatedStorage: 20, MasterUsername: 'a', MasterUserPassword: 'passwordpassword' }));
    await rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'plain', DBSnapshotIdentifier: 'plain-snap' }));
    await assert.rejects(planRestore(config, deps, { kind: 'snapshot', id: 'plain-snap' }), /is not encrypted/);
  });

  it('the plan refuses a --to-time before the earliest restorable time, and takes one inside the window', async () => {
    const { deps } = await world();
    const latest = (await deps.rds.describeInstance('catalog-storage-database-old1'))!.latestRestorableTime!;
    // Scripted: the emulator reports no automated backup with a RestoreWindow (earliestRestorableTime
    // reads undefined from it, and the plan then skips this check), so the window's start is given
    // here, an hour before the latest restorable time the emulator does report.
    const earliest = new Date(latest.getTime() - 3_600_000);
    const windowed: RestoreDeps = { ...deps, rds: { ...deps.rds, earliestRestorableTime: async () => earliest }, now: () => new Date(latest.getTime() + 60_000) };
    const before = new Date(earliest.getTime() - 60_000);
    await assert.rejects(
      planRestore(config, windowed, { kind: 'time', time: before }),
      (e: unknown) =>
        e instanceof UserInputError &&
        (e as Error).message === `--to-time: ${before.toISOString()} is before catalog-storage-database-old1's earliest restorable time ${earliest.toISOString()} (backups are kept 14 days)`,
    );
    const inside = new Date(earliest.getTime() + 60_000);
    const plan = await planRestore(config, windowed, { kind: 'time', time: inside });
    assert.equal(plan.overrides.RestoreTime, inside.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    assert.deepEqual(plan.source.earliestRestorableTime, earliest);
  });

  it('refuses PITR of an instance without automated backups', async () => {
    const { deps } = await world({ retention: 0 });
    await assert.rejects(planRestore(config, deps, { kind: 'latest' }), (e: unknown) => e instanceof UserInputError && /keeps no automated backups/.test((e as Error).message));
  });

  it('restores: snapshot and protection first, storage with the Restore* parameters, the master secret managed again, the app secret moved with its password, the stacks, reconciliation, the old one stopped', async () => {
    const { deps, deploys, invokes, appArn } = await world();
    const plan = await planRestore(config, deps, { kind: 'latest' });
    assert.equal(plan.steps.length, 7);
    assert.deepEqual(plan.overrides, { RestoreSourceDBInstanceIdentifier: 'catalog-storage-database-old1', RestoreTime: '', RestoreDBSnapshotIdentifier: '', RestoredMasterSecretArn: plan.overrides.RestoredMasterSecretArn });
    // Nothing changed by planning.
    assert.equal((await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots?.length ?? 0, 0);
    assert.equal(deploys.length, 0);

    const result = await executeRestore(config, deps, plan);
    const old = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'catalog-storage-database-old1' }))).DBInstances![0]!;
    assert.equal(old.DeletionProtection, true);
    assert.equal(old.DBInstanceStatus, 'stopped');
    const snaps = (await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: 'catalog-storage-database-old1', SnapshotType: 'manual' }))).DBSnapshots!;
    assert.deepEqual(snaps.map((s) => s.DBSnapshotIdentifier), [plan.snapshotBefore]);
    assert.match(plan.snapshotBefore, /^catalog-storage-database-old1-before-restore-\d{14}$/);

    const fresh = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'catalog-storage-database-new2' }))).DBInstances![0]!;
    const newMaster = fresh.MasterUserSecret?.SecretArn;
    assert.ok(newMaster, 'RDS manages the restored instance\'s master password');
    assert.equal(result.newInstance.masterSecretArn, newMaster);

    assert.deepEqual(
      deploys.map((d) => ({ stacks: d.stacks, keys: Object.keys(d.overrides?.['catalog-storage'] ?? {}) })),
      [
        { stacks: ['catalog-storage'], keys: ['RestoreSourceDBInstanceIdentifier', 'RestoreTime', 'RestoreDBSnapshotIdentifier', 'RestoredMasterSecretArn'] },
        { stacks: ['catalog-storage'], keys: ['RestoredMasterSecretArn'] },
        { stacks: ['catalog-secrets', 'catalog-service', 'catalog-observability'], keys: [] },
      ],
    );
    assert.equal(deploys[1]!.overrides!['catalog-storage']!.RestoredMasterSecretArn, newMaster);

    const secret = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: appArn }))).SecretString!);
    assert.deepEqual(secret, { engine: 'postgres', host: fresh.Endpoint!.Address, port: String(fresh.Endpoint!.Port), username: 'catalog_app_clone', password: 'kept-password', dbname: 'catalog', masterarn: newMaster });

    assert.deepEqual(invokes, [
      { fn: 'catalog-dev-migrate', payload: { reconcile: true } },
      { fn: 'catalog-dev-audit-relay', payload: { drain: true } },
    ]);
    assert.deepEqual(result.oldInstance, { id: 'catalog-storage-database-old1', snapshot: plan.snapshotBefore, stopped: true });
    assert.deepEqual(result.relay, { sent: 3, failed: 0, batches: 1, unsent: 0 });
    const reported = (deps.reporter as RecordingReporter).messages('restore');
    assert.ok(reported.indexOf(reported.find((m) => m.startsWith('protecting'))!) < reported.indexOf(reported.find((m) => m.includes('restoring from'))!));
    // The same restore again: the stack already holds it.
    const again = await planRestore(config, deps, { kind: 'latest' });
    assert.equal(again.overrides.RestoreSourceDBInstanceIdentifier, 'catalog-storage-database-new2');
  });

  it('restores from an encrypted manual snapshot, then refuses the same snapshot again: the stack already holds it', async () => {
    const { deps, deploys } = await world();
    await rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'catalog-storage-database-old1', DBSnapshotIdentifier: 'catalog-manual-20261130' }));
    const snap = (await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'catalog-manual-20261130' }))).DBSnapshots![0]!;
    assert.deepEqual([snap.Encrypted, snap.Engine, snap.Status], [true, 'postgres', 'available']);
    const point = { kind: 'snapshot', id: 'catalog-manual-20261130' } as const;
    const plan = await planRestore(config, deps, point);
    assert.deepEqual(plan.overrides, { RestoreSourceDBInstanceIdentifier: '', RestoreTime: '', RestoreDBSnapshotIdentifier: 'catalog-manual-20261130', RestoredMasterSecretArn: plan.overrides.RestoredMasterSecretArn });
    const result = await executeRestore(config, deps, plan);
    assert.equal(result.newInstance.id, 'catalog-storage-database-new2');
    assert.equal(deploys[0]!.overrides!['catalog-storage']!.RestoreDBSnapshotIdentifier, 'catalog-manual-20261130');
    const deployed = deploys.length;
    await assert.rejects(
      planRestore(config, deps, point),
      (e: unknown) => e instanceof UserInputError && (e as Error).message === 'db restore: catalog-storage already holds this restore (snapshot catalog-manual-20261130); nothing would change',
    );
    assert.equal(deploys.length, deployed, 'the refused plan deployed nothing');
  });

  it('a reconciliation that fails stops the restore with exit 3 and the function\'s message; the old instance is left running', async () => {
    const { deps } = await world();
    const failing: RestoreDeps = { ...deps, invoke: async () => ({ statusCode: 200, functionError: 'Unhandled', payload: JSON.stringify({ errorMessage: 'DB_MASTER_SECRET_ARN is not set' }) }) };
    const plan = await planRestore(config, failing, { kind: 'latest' });
    await assert.rejects(executeRestore(config, failing, plan), (e: unknown) => e instanceof DeployError && /catalog-dev-migrate failed: DB_MASTER_SECRET_ARN is not set/.test((e as Error).message));
    const old = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'catalog-storage-database-old1' }))).DBInstances![0]!;
    assert.equal(old.DBInstanceStatus, 'available');
  });

  it('refuses stacks that are mid-operation or predate the Restore* parameters', async () => {
    const { deps, stacks } = await world();
    const s = stacks.get('catalog-storage')!;
    stacks.set('catalog-storage', { ...s, status: 'UPDATE_IN_PROGRESS' });
    await assert.rejects(planRestore(config, deps, { kind: 'latest' }), /catalog-storage is UPDATE_IN_PROGRESS/);
    stacks.set('catalog-storage', { ...s, parameters: {} });
    await assert.rejects(planRestore(config, deps, { kind: 'latest' }), /has no RestoreSourceDBInstanceIdentifier, RestoreTime, RestoreDBSnapshotIdentifier parameter/);
  });
});
