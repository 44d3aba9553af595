/**
 * `catalogctl db restore` through the built bin against the emulator: the plan it prints, and its
 * refusals before anything changes (no restore point or two, a time outside the window, no
 * approval without a terminal, --json's plan event and failure summary). The stacks are small
 * templates holding only the Parameters and Outputs `db restore` reads (the emulator cannot create
 * the real catalog-storage); the DB instance, its backups and the app secret are the emulator's.
 * The approved run itself (deploys, invokes) is in restore.test.ts, where deploy and Lambda Invoke
 * are scripted: the emulator runs neither the real storage stack nor functions without Docker.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

describe('catalogctl db restore (CLI, emulator): the plan, and every refusal before anything changes', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let rds: RDSClient;
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const restore = (...more: string[]) => runCli(['db', 'restore', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, ...more], { env });
  const ID = 'catalog-storage-database-old1';

  before(async () => {
    moto = await getMoto();
    await moto.reset();
    rds = new RDSClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-restore-cli-'));
    await writeEmulatorEnv(join(dir, 'envs'));

    const created = await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: ID, Engine: 'postgres', DBInstanceClass: 'db.t4g.medium', AllocatedStorage: 20, MasterUsername: 'catalog_admin', ManageMasterUserPassword: true, StorageEncrypted: true, BackupRetentionPeriod: 14 }));
    const master = created.DBInstance!.MasterUserSecret!.SecretArn!;
    const app = await sm.send(new CreateSecretCommand({ Name: 'catalog-dev-app-db', SecretString: JSON.stringify({ engine: 'postgres', host: 'old.example', port: '5432', username: 'catalog_app', password: 'p', dbname: 'catalog', masterarn: master }) }));
    // Tagged for env dev, as `catalogctl deploy` tags the stacks it creates.
    const Tags = [{ Key: 'catalog:env', Value: 'dev' }];
    const tpl = (outputs: Record<string, string>, parameters: string[] = []) =>
      JSON.stringify({
        Parameters: Object.fromEntries(parameters.map((p) => [p, { Type: 'String', Default: '' }])),
        Resources: { Logs: { Type: 'AWS::Logs::LogGroup', Properties: {} } },
        Outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { Value: v }])),
      });
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-storage', Tags, TemplateBody: tpl({ DbInstanceIdentifier: ID, DbMasterSecretArn: master, DbKmsKeyArn: `arn:aws:kms:us-east-1:${MOTO_ACCOUNT_ID}:key/db` }, ['RestoreSourceDBInstanceIdentifier', 'RestoreTime', 'RestoreDBSnapshotIdentifier', 'RestoredMasterSecretArn']) }));
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-secrets', Tags, TemplateBody: tpl({ AppDbSecretArn: app.ARN! }) }));
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-service', Tags, TemplateBody: tpl({ FunctionNameMigrate: 'catalog-dev-migrate', FunctionNameAuditRelay: 'catalog-dev-audit-relay' }) }));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /** Nothing was touched: no manual snapshot, deletion protection as it was, the instance running. */
  async function unchanged(): Promise<void> {
    assert.deepEqual((await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? [], []);
    const db = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: ID }))).DBInstances![0]!;
    assert.equal(db.DeletionProtection, false);
    assert.equal(db.DBInstanceStatus, 'available');
  }

  it('prints the whole plan, then refuses without a terminal and without --approve: exit 2, nothing changed', async () => {
    const r = await restore('--latest');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `Restore plan for dev (the latest restorable time, from ${ID}):`);
    const steps = lines.filter((l) => /^ {2}\d\. /.test(l));
    assert.equal(steps.length, 7, r.stderr);
    assert.match(steps[0]!, new RegExp(`^  1\\. deletion protection on ${ID}, then a manual snapshot ${ID}-before-restore-\\d{14}$`));
    assert.match(steps[1]!, /^ {2}2\. catalog-storage: a new DB instance restored from the latest restorable time replaces .* \(UpdateReplacePolicy Retain\)$/);
    assert.match(steps[5]!, /catalog-dev-migrate \{"reconcile": true\}.*catalog-dev-audit-relay \{"drain": true\}/);
    assert.match(steps[6]!, new RegExp(`^  7\\. ${ID} stopped`));
    assert.equal(lines.at(-1), 'catalogctl: db restore: the restore of dev needs approval and there is no terminal to ask: pass --approve; nothing was changed');
    await unchanged();
  });

  it('--keep-old-running says so in the plan; --json gives the plan as an event and a failure summary with the exit code', async () => {
    const r = await restore('--latest', '--keep-old-running', '--json');
    assert.equal(r.code, 2, r.stderr);
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const plan = events.find((e) => e.message === 'plan') as { data: { plan: { steps: string[]; stopOld: boolean; overrides: Record<string, string> } } };
    assert.ok(plan, r.stdout);
    assert.equal(plan.data.plan.stopOld, false);
    assert.equal(plan.data.plan.steps.at(-1), `${ID} left running (--keep-old-running)`);
    assert.equal(plan.data.plan.overrides.RestoreSourceDBInstanceIdentifier, ID);
    const summary = events.at(-1) as { type?: string; outcome: string; exitCode: number; error: string };
    assert.deepEqual({ outcome: summary.outcome, exitCode: summary.exitCode }, { outcome: 'failed', exitCode: 2 });
    assert.match(summary.error, /needs approval and there is no terminal to ask: pass --approve/);
    await unchanged();
  });

  it('refuses a missing or doubled restore point, a time without a zone, in the future, and an unknown snapshot: exit 2, one line, before any plan', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^catalogctl: .*exactly one of --to-time/],
      [['--latest', '--snapshot', 'x'], /^catalogctl: .*exactly one of --to-time/],
      [['--to-time', '2026-11-30 14:05'], /^catalogctl: --to-time: "2026-11-30 14:05" is not an ISO-8601 time with a zone/],
      [['--to-time', new Date(Date.now() + 86_400_000).toISOString()], /^catalogctl: --to-time: .* is in the future$/],
      [['--snapshot', 'no-such-snapshot'], /^catalogctl: --snapshot: no DB snapshot no-such-snapshot in this account and region$/],
    ];
    for (const [flags, re] of cases) {
      const r = await restore(...flags, '--approve');
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trimEnd(), re, flags.join(' '));
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${flags.join(' ')}: one line\n${r.stderr}`);
    }
    // After the latest restorable time: the emulator reports the current time as the latest, so that
    // refusal is shown in restore.test.ts with a later clock.
    await unchanged();
  });

  it('refuses another env\'s stacks: an env whose stack names are dev\'s reads stacks tagged catalog:env=dev (exit 2), nothing planned', async () => {
    // qa: dev.yaml copied with only its name changed, so it kept dev's stack names.
    await writeFile(join(dir, 'envs', 'qa.yaml'), (await readFile(join(dir, 'envs', 'dev.yaml'), 'utf8')).replace(/^name: dev$/m, 'name: qa'));
    try {
      const r = await runCli(['db', 'restore', '--env', 'qa', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, '--latest', '--approve'], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /catalog-storage.*catalog:env.*dev/);
      assert.doesNotMatch(r.stderr, /Restore plan/);
    } finally {
      await rm(join(dir, 'envs', 'qa.yaml'), { force: true });
    }
    await unchanged();
  });

  it('refuses an env whose account is not the credentials\' (exit 2) before reading any stack', async () => {
    await writeFile(join(dir, 'envs', 'dev.yaml'), (await readFile('envs/dev.yaml', 'utf8')).replaceAll('111111111111', '999999999999'));
    try {
      const r = await restore('--latest', '--approve');
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /999999999999/);
      assert.doesNotMatch(r.stderr, /Restore plan/);
    } finally {
      await writeEmulatorEnv(join(dir, 'envs'));
    }
    await unchanged();
  });
});
