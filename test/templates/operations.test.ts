/**
 * The operations resources in the rendered templates of every env: RDS Proxy (on in staging and
 * prod, IAM authentication end to end, TLS, the pool from the env file, security groups
 * functions → proxy → database), the functions wired to it, the tuned parameter group, the restore
 * parameters and what they switch, the app secret's connection details kept out of the
 * regenerating path, the poller's and storage's alarms and widgets, backups of 14 days (validate's
 * finding when an env keeps fewer), an env file's proxy idle share over its share refused; and
 * deploy's sticky parameters. cfn-lint and checkov run over these templates in test/validate.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvFileError, loadEnv, loadEnvFile, parseEnvConfig } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { resolveParameters } from '../../src/deploy/params.ts';
import { renderEnvironment } from '../../src/templates/index.ts';
import { freeStorageThresholdBytes, pollBudgetSeconds } from '../../src/templates/observability.ts';
import { templatesRenderer } from '../../src/validate/templates.ts';
import { runCli } from '../support/cli.ts';

type Res = { Type: string; Properties: Record<string, unknown>; UpdateReplacePolicy?: string; DeletionPolicy?: string };
type Tpl = { Parameters: Record<string, { Default?: unknown }>; Conditions?: Record<string, unknown>; Resources: Record<string, Res>; Outputs: Record<string, { Value: unknown }> };

describe('templates: operations (proxy, restore, tuning, alarms, backups)', () => {
  const envs: Record<string, { config: EnvConfig; t: (f: string) => Tpl }> = {};
  before(async () => {
    for (const name of ['dev', 'staging', 'prod']) {
      const config = await loadEnv(name);
      const r = renderEnvironment(config) as unknown as Record<string, Tpl>;
      envs[name] = { config, t: (f) => r[`${f}.json`]! };
    }
  });

  it('RDS Proxy in staging and prod only: IAM auth end to end, TLS required, the pool and timeouts from the env file, targeting the writer', () => {
    assert.equal(envs.dev!.t('catalog-storage').Resources.DatabaseProxy, undefined);
    for (const name of ['staging', 'prod']) {
      const { config, t } = envs[name]!;
      const r = t('catalog-storage').Resources;
      const p = config.database.proxy!;
      assert.deepEqual({ ...r.DatabaseProxy!.Properties, Tags: undefined, RoleArn: undefined, VpcSubnetIds: undefined }, {
        DBProxyName: `catalog-${name}-db`,
        EngineFamily: 'POSTGRESQL',
        DefaultAuthScheme: 'IAM_AUTH',
        RequireTLS: true,
        IdleClientTimeout: p.idleClientTimeoutSeconds,
        VpcSecurityGroupIds: [{ Ref: 'ProxySecurityGroupId' }],
        Tags: undefined,
        RoleArn: undefined,
        VpcSubnetIds: undefined,
      });
      assert.equal(r.DatabaseProxy!.Properties.Auth, undefined, 'no secret in the proxy: multi-user rotation would lock it out');
      assert.deepEqual(r.DatabaseProxyTargetGroup!.Properties, {
        DBProxyName: { Ref: 'DatabaseProxy' },
        TargetGroupName: 'default',
        DBInstanceIdentifiers: [{ Ref: 'Database' }],
        ConnectionPoolConfigurationInfo: { MaxConnectionsPercent: 75, MaxIdleConnectionsPercent: 25, ConnectionBorrowTimeout: 5 },
      });
      const role = JSON.stringify(r.DatabaseProxyRole!.Properties.Policies);
      assert.match(role, /"Action":"rds-db:connect"/);
      assert.match(role, /dbuser:\$\{Database\.DbiResourceId\}\/catalog_app_iam/);
      assert.ok(!/secretsmanager|kms/.test(role), 'the proxy reads no secret');
    }
  });

  it('security groups: functions → proxy → database on 5432 only, and the outputs and parameters that wire them', () => {
    assert.equal(envs.dev!.t('catalog-network').Resources.ProxySecurityGroup, undefined);
    const net = envs.prod!.t('catalog-network');
    const rule = (id: string) => net.Resources[id]!.Properties;
    assert.deepEqual(rule('LambdaToProxyEgress'), { GroupId: { 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] }, IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: { 'Fn::GetAtt': ['ProxySecurityGroup', 'GroupId'] }, Description: 'PostgreSQL to RDS Proxy' });
    assert.deepEqual(rule('ProxyIngressFromLambda').SourceSecurityGroupId, { 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] });
    assert.deepEqual(rule('ProxyToDatabaseEgress').DestinationSecurityGroupId, { 'Fn::GetAtt': ['DatabaseSecurityGroup', 'GroupId'] });
    assert.deepEqual(rule('DatabaseIngressFromProxy').SourceSecurityGroupId, { 'Fn::GetAtt': ['ProxySecurityGroup', 'GroupId'] });
    assert.deepEqual(rule('ProxySecurityGroup').SecurityGroupEgress, [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no egress but the rule below' }]);
    assert.ok(net.Outputs.ProxySecurityGroupId);
    assert.ok(envs.prod!.t('catalog-storage').Outputs.DbProxyEndpoint);
  });

  it('the functions: writes through the proxy as the IAM user (rds-db:connect on the proxy), migrate direct; success-log sampling from the env', () => {
    for (const name of ['dev', 'staging', 'prod']) {
      const { config, t } = envs[name]!;
      const svc = t('catalog-service').Resources;
      const env = (fn: string) => (svc[`${fn}Function`]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const policy = (fn: string) => JSON.stringify(svc[`${fn}Role`]!.Properties.Policies);
      for (const fn of ['ListDatasets', 'GetDataset', 'WriteDataset', 'UpdateCatalogDb', 'AuditRelay']) {
        if (config.database.proxy?.enabled) {
          assert.deepEqual([env(fn).DB_PROXY_HOST, env(fn).DB_IAM_USER], [{ Ref: 'DbProxyEndpoint' }, 'catalog_app_iam'], `${name} ${fn}`);
          assert.match(policy(fn), /rds-db:connect.*dbuser:\$\{DbProxyResourceId\}\/catalog_app_iam/);
        } else {
          assert.equal(env(fn).DB_PROXY_HOST, undefined);
          assert.ok(!policy(fn).includes('rds-db:connect'));
        }
      }
      assert.equal(env('Migrate').DB_PROXY_HOST, undefined, 'migrate connects to the instance as the master');
      assert.equal(env('Migrate').DB_IAM_USER, config.database.proxy?.enabled ? 'catalog_app_iam' : undefined, 'migrate creates the IAM user');
      for (const fn of ['ListDatasets', 'GetDataset', 'WriteDataset']) assert.equal(env(fn).LOG_SUCCESS_SAMPLE_RATE, String(config.logging.successLogSampleRate));
    }
    assert.equal(envs.prod!.config.logging.successLogSampleRate, 0.01, 'the seed: 1 % in prod');
  });

  it('the parameter group: timeouts from the functions, planner settings for SSD, pg_stat_statements', () => {
    const params = envs.prod!.t('catalog-storage').Resources.DatabaseParameterGroup!.Properties.Parameters as Record<string, string>;
    assert.deepEqual(
      { statement_timeout: params.statement_timeout, idle: params.idle_in_transaction_session_timeout, rpc: params.random_page_cost, eic: params.effective_io_concurrency, spl: params.shared_preload_libraries, ssl: params['rds.force_ssl'] },
      { statement_timeout: '60000', idle: '60000', rpc: '1.1', eic: '200', spl: 'pg_stat_statements', ssl: '1' },
    );
    assert.equal(params.log_statement, undefined, 'log_statement stays none: rotation sends passwords in ALTER USER');
  });

  it('restore: the Restore* parameters switch the writer to a restored one, keeping the old (UpdateReplacePolicy Retain); the master secret output follows', () => {
    for (const name of ['dev', 'prod']) {
      const s = envs[name]!.t('catalog-storage');
      for (const p of ['RestoreSourceDBInstanceIdentifier', 'RestoreTime', 'RestoreDBSnapshotIdentifier', 'RestoredMasterSecretArn']) assert.equal(s.Parameters[p]!.Default, '', p);
      const db = s.Resources.Database!;
      assert.equal(db.UpdateReplacePolicy, 'Retain');
      assert.equal(db.DeletionPolicy, name === 'prod' ? 'Snapshot' : 'Delete');
      const p = db.Properties;
      for (const k of ['MasterUsername', 'StorageEncrypted', 'KmsKeyId', 'DBName', 'AllocatedStorage']) assert.deepEqual((p[k] as { 'Fn::If': unknown[] })['Fn::If'].slice(0, 2), ['IsRestored', { Ref: 'AWS::NoValue' }], k);
      assert.deepEqual(p.SourceDBInstanceIdentifier, { 'Fn::If': ['IsRestoredFromInstance', { Ref: 'RestoreSourceDBInstanceIdentifier' }, { Ref: 'AWS::NoValue' }] });
      assert.deepEqual(p.UseLatestRestorableTime, { 'Fn::If': ['IsRestoredFromInstance', { 'Fn::If': ['HasRestoreTime', { Ref: 'AWS::NoValue' }, true] }, { Ref: 'AWS::NoValue' }] });
      assert.deepEqual(p.DBSnapshotIdentifier, { 'Fn::If': ['IsRestoredFromSnapshot', { Ref: 'RestoreDBSnapshotIdentifier' }, { Ref: 'AWS::NoValue' }] });
      assert.equal(p.ManageMasterUserPassword, true);
      assert.deepEqual(s.Outputs.DbMasterSecretArn!.Value, { 'Fn::If': ['HasRestoredMasterSecretArn', { Ref: 'RestoredMasterSecretArn' }, { 'Fn::GetAtt': ['Database', 'MasterUserSecret.SecretArn'] }] });
      assert.equal(p.BackupRetentionPeriod, envs[name]!.config.database.backupRetentionDays);
    }
    for (const { config } of Object.values(envs)) assert.ok(config.database.backupRetentionDays >= 14, `${config.name}: the seed keeps WAL 14 days`);
  });

  it('validate flags backups-14-days on an env file keeping backups under 14 days (the schema allows 7)', async () => {
    const text = (await readFile('envs/dev.yaml', 'utf8')).replace(/^ {2}backupRetentionDays: 14$/m, '  backupRetentionDays: 10');
    const config = parseEnvConfig(text, 'envs/dev.yaml', { expectName: 'dev' });
    assert.equal(config.database.backupRetentionDays, 10, 'the env file loads: 10 is within the schema');
    const rendered = renderEnvironment(config);
    assert.equal((rendered['catalog-storage.json'] as unknown as Tpl).Resources.Database!.Properties.BackupRetentionPeriod, 10);
    assert.deepEqual(templatesRenderer.invariants({ name: 'dev', config, rendered }), [
      {
        env: 'dev',
        stack: 'catalog-storage',
        resource: 'Database',
        checker: 'invariants',
        rule: 'backups-14-days',
        severity: 'error',
        message: "BackupRetentionPeriod 10: the seed keeps the WAL archive 14 days, and RDS's restore window is the retention period",
      },
    ]);
    // 14 is the floor, not a finding.
    assert.deepEqual(templatesRenderer.invariants({ name: 'dev', config: envs.dev!.config, rendered: renderEnvironment(envs.dev!.config) }), []);
  });

  it('an env file whose proxy idle share exceeds its share is exit 2, naming file:line:col and the key (RDS refuses the target group)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'catalogctl-proxy-'));
    try {
      await writeFile(join(dir, '_base.yaml'), await readFile('envs/_base.yaml', 'utf8'));
      const staging = await readFile('envs/staging.yaml', 'utf8');
      const path = join(dir, 'staging.yaml');
      // Lines 1-N of staging.yaml, then the override: the key is on the last line, indented 4.
      await writeFile(path, `${staging.trimEnd()}\ndatabase:\n  proxy:\n    maxIdleConnectionsPercent: 80\n`);
      const line = staging.trimEnd().split('\n').length + 3;
      const where = `${path}:${line}:5 database.proxy.maxIdleConnectionsPercent: must be <= maxConnectionsPercent (75)`;
      const err = await loadEnvFile(path).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EnvFileError, String(err));
      assert.equal(err.exitCode, 2);
      assert.deepEqual([err.file, err.line, err.col, err.keyPath], [path, line, 5, 'database.proxy.maxIdleConnectionsPercent']);
      assert.equal(err.message, where);
      const r = await runCli(['render', '--env-path', path, '--out', join(dir, 'out')]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `catalogctl: ${where}\n`);
      // Equal shares are allowed.
      await writeFile(path, `${staging.trimEnd()}\ndatabase:\n  proxy:\n    maxIdleConnectionsPercent: 75\n`);
      assert.equal((await loadEnvFile(path)).database.proxy!.maxIdleConnectionsPercent, 75);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("the app secret's generated value names no upstream Output: a moved endpoint cannot regenerate its password", () => {
    const s = envs.prod!.t('catalog-secrets');
    const gen = JSON.stringify((s.Resources.AppDbSecret!.Properties.GenerateSecretString as { SecretStringTemplate: unknown }).SecretStringTemplate);
    assert.ok(!/DbEndpointAddress|DbEndpointPort|DbMasterSecretArn/.test(gen), gen);
    assert.match(gen, /\$\{AppDbSecretHost\}.*\$\{AppDbSecretPort\}.*\$\{AppDbSecretMasterArn\}/);
  });

  it('deploy keeps sticky parameters: Restore* and the app secret details from the stack once it has them, upstream or defaults before', () => {
    const storage = envs.dev!.t('catalog-storage');
    const secrets = envs.dev!.t('catalog-secrets');
    const config = envs.dev!.config;
    const upstream = { DbEndpointAddress: 'new.host', DbEndpointPort: '5432', DbMasterSecretArn: 'arn:new', SubnetIds: 's', LambdaSecurityGroupId: 'g', DbKmsKeyArn: 'k', DbSecurityGroupId: 'd' };
    const first = resolveParameters(secrets as never, { config, upstreamOutputs: upstream });
    assert.deepEqual(first.parameters.filter((p) => p.key.startsWith('AppDbSecret')), [
      { key: 'AppDbSecretHost', value: 'new.host' },
      { key: 'AppDbSecretMasterArn', value: 'arn:new' },
      { key: 'AppDbSecretPort', value: '5432' },
    ]);
    const later = resolveParameters(secrets as never, { config, upstreamOutputs: upstream, previous: { AppDbSecretHost: 'old.host', AppDbSecretPort: '5432', AppDbSecretMasterArn: 'arn:old' } });
    assert.deepEqual(later.parameters.find((p) => p.key === 'AppDbSecretHost'), { key: 'AppDbSecretHost', value: 'old.host' });
    assert.equal(later.parameters.find((p) => p.key === 'DbMasterSecretArn')?.value, 'arn:new', 'the rotation schedule follows the new master secret');
    const kept = resolveParameters(storage as never, { config, upstreamOutputs: upstream, previous: { RestoreSourceDBInstanceIdentifier: 'db-old', RestoreTime: '2026-11-30T14:05:00Z', RestoreDBSnapshotIdentifier: '', RestoredMasterSecretArn: 'arn:m' } });
    assert.deepEqual(kept.parameters.find((p) => p.key === 'RestoreTime'), { key: 'RestoreTime', value: '2026-11-30T14:05:00Z' });
    assert.equal(kept.origins.RestoreSourceDBInstanceIdentifier, 'previous');
    const fresh = resolveParameters(storage as never, { config, upstreamOutputs: upstream });
    assert.equal(fresh.origins.RestoreTime, 'default');
    const restoring = resolveParameters(storage as never, { config, upstreamOutputs: upstream, previous: { RestoreTime: '' }, overrides: { RestoreTime: '2026-12-01T00:00:00Z' } });
    assert.deepEqual([restoring.parameters.find((p) => p.key === 'RestoreTime'), restoring.origins.RestoreTime], [{ key: 'RestoreTime', value: '2026-12-01T00:00:00Z' }, 'operation']);
  });

  it("alarms: the poller's execution time over 80 % of its budget, its functions' throttles, free storage under half of autoscaling's trigger; dashboard widgets", () => {
    for (const { config, t } of Object.values(envs)) {
      const o = t('catalog-observability');
      const exec = o.Resources.PollerExecutionTimeAlarm!.Properties;
      assert.equal(pollBudgetSeconds(config), 3000);
      assert.deepEqual([exec.MetricName, exec.Statistic, exec.Threshold], ['ExecutionTime', 'Maximum', 2_400_000]);
      const storage = o.Resources.FreeStorageSpaceAlarm!.Properties;
      assert.deepEqual([storage.MetricName, storage.ComparisonOperator, storage.Threshold], ['FreeStorageSpace', 'LessThanThreshold', freeStorageThresholdBytes(config)]);
      assert.ok(JSON.stringify(o.Resources.PollerThrottlesAlarm!.Properties).includes('FunctionNameCheckCatalogStatus'));
      const dash = JSON.stringify(o.Resources.Dashboard!.Properties.DashboardBody);
      for (const m of ['ExecutionsStarted', 'ExecutionTime', 'Invocations', 'Duration', 'Throttles', 'FreeStorageSpace']) assert.ok(dash.includes(`\\"${m}\\"`), `${config.name}: widget for ${m}`);
      // Lambda's Invocations, Duration and Throttles on the dashboard: exactly the poller's two functions, each once per statistic.
      const body = JSON.parse((o.Resources.Dashboard!.Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub']) as { widgets: { properties: { metrics: unknown[][] } }[] };
      const lambda = body.widgets.flatMap((w) => w.properties.metrics).filter((m) => m[0] === 'AWS/Lambda');
      const named = (metric: string) => lambda.filter((m) => m[1] === metric).map((m) => [m[2], m[3], (m[4] as { stat: string }).stat]);
      const poller = ['${FunctionNameCheckCatalogStatus}', '${FunctionNameUpdateCatalogDb}'];
      assert.deepEqual(named('Invocations'), poller.map((f) => ['FunctionName', f, 'Sum']), `${config.name}: Invocations`);
      assert.deepEqual(named('Throttles'), poller.map((f) => ['FunctionName', f, 'Sum']), `${config.name}: Throttles`);
      assert.deepEqual(named('Duration'), poller.flatMap((f) => [['FunctionName', f, 'p50'], ['FunctionName', f, 'Maximum']]), `${config.name}: Duration`);
      for (const p of ['FunctionNameCheckCatalogStatus', 'FunctionNameUpdateCatalogDb']) assert.ok(o.Parameters[p], `${config.name}: ${p} is a parameter the Fn::Sub fills`);
      assert.equal(dash.includes('DatabaseConnectionsCurrentlySessionPinned'), config.database.proxy?.enabled === true);
    }
    // dev 20 GB growing to 100: 5 % → 1 GiB; prod 200 → 1000: 10 GiB.
    assert.equal(freeStorageThresholdBytes(envs.dev!.config), 1024 ** 3);
    assert.equal(freeStorageThresholdBytes(envs.prod!.config), 10 * 1024 ** 3);
  });
});
