/**
 * catalog-storage: RDS for PostgreSQL. RDS manages and rotates the master password itself
 * (ManageMasterUserPassword), so no password is ever a parameter or a literal. Encrypted with a
 * customer key, Multi-AZ outside dev, read replicas where the env asks, deletion protection and
 * snapshot-on-delete where the env protects its data.
 */
import type { EnvConfig } from '../config/types.ts';
import { allow, assumeRole, checkovSkip, Fn, kmsKey, noValue, rolePolicy, sub, tags, type Condition, type Output, type Parameter, type Template, type Value } from './cfn.ts';
import { CONDITION, OUT, PARAM, replicaId, STORAGE as S } from './ids.ts';
import { IAM, RDS, removalPolicy, type DBInstanceProperties, type ResourceBase } from './resources.ts';

/** Functions that run SQL as the app for a request or a job (not migrate, which runs DDL as the master). */
const APP_DB_FUNCTIONS = ['list-datasets', 'get-dataset', 'write-dataset', 'update-catalog-db', 'audit-relay'] as const;

/** The IAM database user the functions log in as through RDS Proxy (created by migrate). */
export const iamDbUser = (config: EnvConfig): string => `${config.database.appUsername}_iam`;

const proxyEnabled = (config: EnvConfig): boolean => config.database.proxy?.enabled === true;

/** A value only when the database is not restored (CloudFormation rejects it next to a restore source). */
const unlessRestored = <T>(value: T): T => Fn.If(CONDITION.IsRestored, noValue, value as never) as unknown as T;

/**
 * The server certificate's CA, stated rather than left to the region's default: the zips trust
 * only the region's G1 roots (src/handlers/shared/rds-ca.ts), and RSA2048 G1 is the one every
 * region `package` accepts has (a template test checks it per env).
 */
export const DB_CA_CERTIFICATE = 'rds-ca-rsa2048-g1';

/** What the writer and its read replicas share: monitoring, logs, IAM auth, Performance Insights, the CA. */
function instanceCommon(config: EnvConfig): DBInstanceProperties {
  const db = config.database;
  return {
    MonitoringInterval: 60,
    MonitoringRoleArn: Fn.GetAtt(S.MonitoringRole, 'Arn'),
    DBInstanceClass: Fn.Ref(PARAM.DBInstanceClass),
    CACertificateIdentifier: DB_CA_CERTIFICATE,
    PubliclyAccessible: false,
    DBParameterGroupName: Fn.Ref(S.DatabaseParameterGroup),
    VPCSecurityGroups: [Fn.Ref(OUT.DbSecurityGroupId)],
    AutoMinorVersionUpgrade: true,
    EnableIAMDatabaseAuthentication: true,
    CopyTagsToSnapshot: true,
    EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
    EnablePerformanceInsights: db.performanceInsights ? true : undefined,
    PerformanceInsightsKMSKeyId: db.performanceInsights ? Fn.Ref(S.DatabaseKey) : undefined,
    PerformanceInsightsRetentionPeriod: db.performanceInsights ? 7 : undefined,
  };
}

/**
 * Connection limits, timeouts and planner settings (the seed's "parameter tuning for connection
 * limits and query plans"). max_connections stays RDS's formula for the class
 * (LEAST(DBInstanceClassMemory/9531392, 5000)); the proxy takes database.proxy.maxConnectionsPercent
 * of it and migrate, rotation and operators connect directly within the rest.
 */
function tunedParameters(config: EnvConfig): Record<string, string> {
  // No statement runs longer than the longest function that waits for it; migrate sets none for its own session.
  const statementSeconds = Math.max(...APP_DB_FUNCTIONS.map((fn) => config.lambda.functions[fn].timeoutSeconds));
  return {
    statement_timeout: String(statementSeconds * 1000),
    // A transaction left open (a function frozen or timed out mid-transaction) holds locks and a proxy connection.
    idle_in_transaction_session_timeout: '60000',
    log_lock_waits: '1',
    log_autovacuum_min_duration: '10000',
    // gp3 is SSD: random reads cost about what sequential ones do (4 is the spinning-disk default), and it serves many at once.
    random_page_cost: '1.1',
    effective_io_concurrency: '200',
    // Per-query statistics and I/O timing for finding slow plans (static: applied at creation, or after a reboot).
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'top',
    track_io_timing: '1',
  };
}

function parameterGroupResource(config: EnvConfig) {
  const major = config.database.engineVersion.split('.')[0];
  return new RDS.DBParameterGroup({
    Description: `Catalog ${config.name} PostgreSQL ${major}`,
    Family: `postgres${major}`,
    Parameters: {
      'rds.force_ssl': '1',
      log_min_duration_statement: '500',
      log_connections: '1',
      log_disconnections: '1',
      ...tunedParameters(config),
    },
    Tags: tags(config),
  });
}

function monitoringRoleResource(config: EnvConfig) {
  return new IAM.Role({
    Description: 'RDS enhanced monitoring',
    AssumeRolePolicyDocument: assumeRole('monitoring.rds.amazonaws.com'),
    ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole')],
    Tags: tags(config),
  });
}

/**
 * The writer: encrypted, private, RDS-managed master password, Multi-AZ and protection per env.
 * `catalogctl db restore` sets the Restore* parameters: a new instance restored to a point in time
 * (SourceDBInstanceIdentifier with RestoreTime or UseLatestRestorableTime) or from a snapshot
 * (DBSnapshotIdentifier) replaces this one, which is kept (UpdateReplacePolicy Retain). A
 * restored instance inherits its storage, encryption key, master user and database from the
 * source, and CloudFormation rejects MasterUsername and StorageEncrypted next to a source (the
 * registry schema's dependentExcluded); AllocatedStorage is left to the source too, which storage
 * autoscaling may have grown past the template's value (RDS cannot shrink it).
 */
function dbInstanceResource(config: EnvConfig) {
  const db = config.database;
  const instance = new RDS.DBInstance({
    ...instanceCommon(config),
    Engine: 'postgres',
    EngineVersion: db.engineVersion,
    AllocatedStorage: unlessRestored(Fn.Ref(PARAM.DBAllocatedStorage)),
    MaxAllocatedStorage: db.maxAllocatedStorageGb,
    StorageType: 'gp3',
    StorageEncrypted: unlessRestored(true),
    KmsKeyId: unlessRestored(Fn.Ref(S.DatabaseKey)),
    MultiAZ: db.multiAz,
    DBName: unlessRestored(db.databaseName),
    MasterUsername: unlessRestored(db.masterUsername),
    ManageMasterUserPassword: true,
    MasterUserSecret: { KmsKeyId: Fn.Ref(S.DatabaseKey) },
    DBSubnetGroupName: Fn.Ref(S.DatabaseSubnetGroup),
    BackupRetentionPeriod: db.backupRetentionDays,
    DeletionProtection: db.deletionProtection,
    SourceDBInstanceIdentifier: Fn.If(CONDITION.IsRestoredFromInstance, Fn.Ref(PARAM.RestoreSourceDBInstanceIdentifier), noValue) as Value<string>,
    RestoreTime: Fn.If(CONDITION.HasRestoreTime, Fn.Ref(PARAM.RestoreTime), noValue) as Value<string>,
    UseLatestRestorableTime: Fn.If(CONDITION.IsRestoredFromInstance, Fn.If(CONDITION.HasRestoreTime, noValue, true), noValue) as Value<boolean>,
    DBSnapshotIdentifier: Fn.If(CONDITION.IsRestoredFromSnapshot, Fn.Ref(PARAM.RestoreDBSnapshotIdentifier), noValue) as Value<string>,
    Tags: tags(config),
  });
  instance.metadata(
    checkovSkip([
      { id: 'CKV_AWS_16', comment: 'StorageEncrypted is true unless catalogctl db restore restored the instance, which then inherits the encrypted source\'s key; CloudFormation rejects StorageEncrypted next to a restore source.' },
      ...(db.multiAz ? [] : [{ id: 'CKV_AWS_157', comment: 'The env file asks for a single instance (the seed: dev runs 1 RDS instance); staging and prod are Multi-AZ.' }]),
    ]),
  );
  // Deleting the stack keeps a snapshot (or not, per env); replacing the instance (a restore) keeps the old one.
  removalPolicy(instance, db.deletionProtection ? 'Snapshot' : 'Delete');
  return Object.assign(instance, { UpdateReplacePolicy: 'Retain' });
}

/**
 * A read replica for GET traffic; it inherits encryption (the writer's key: RDS rejects KmsKeyId
 * on a same-region replica), subnet group and engine from the writer.
 */
function readReplicaResource(config: EnvConfig) {
  const replica = new RDS.DBInstance({
    ...instanceCommon(config),
    SourceDBInstanceIdentifier: Fn.Ref(S.Database),
    Tags: tags(config, { Role: 'read-replica' }),
  }).metadata(
    checkovSkip([
      { id: 'CKV_AWS_16', comment: 'A read replica inherits encryption from its encrypted source; CloudFormation rejects StorageEncrypted next to SourceDBInstanceIdentifier (cfn-lint E3020).' },
      { id: 'CKV_AWS_157', comment: 'A read replica for GET traffic; the writer is Multi-AZ and a lost replica is recreated from it.' },
    ]),
  );
  return removalPolicy(replica, 'Delete');
}

/**
 * RDS Proxy in front of the writer, with end-to-end IAM authentication (DefaultAuthScheme
 * IAM_AUTH): the functions present IAM tokens for the IAM database user, and the proxy logs in to
 * the database with IAM too, so it holds no secret. A proxy that reads a multi-user-rotated secret
 * follows only AWSCURRENT and refuses the other user mid-rotation ("This RDS proxy has no
 * credentials for the role"), which is why it does not use the app secret. TLS is required; the
 * proxy's certificate comes from ACM. Its target follows the Database resource through a restore,
 * while its endpoint stays. Read replicas are not behind it: proxy read-only endpoints exist for
 * Aurora only, so readers connect to the replica directly.
 */
function proxyResources(config: EnvConfig): Record<string, ResourceBase> {
  const p = config.database.proxy!;
  const proxyName = `catalog-${config.name}-db`;
  return {
    [S.DatabaseProxyRole]: new IAM.Role({
      Description: `Catalog ${config.name} RDS Proxy: may log in to the database as the IAM user, nothing else`,
      AssumeRolePolicyDocument: assumeRole('rds.amazonaws.com'),
      Policies: [rolePolicy('connect-as-iam-user', [allow('rds-db:connect', sub(`arn:\${AWS::Partition}:rds-db:\${AWS::Region}:\${AWS::AccountId}:dbuser:\${${S.Database}.DbiResourceId}/${iamDbUser(config)}`))])],
      Tags: tags(config),
    }),
    [S.DatabaseProxy]: new RDS.DBProxy({
      DBProxyName: proxyName,
      EngineFamily: 'POSTGRESQL',
      DefaultAuthScheme: 'IAM_AUTH',
      RequireTLS: true,
      IdleClientTimeout: p.idleClientTimeoutSeconds,
      RoleArn: Fn.GetAtt(S.DatabaseProxyRole, 'Arn'),
      VpcSubnetIds: Fn.Ref(OUT.SubnetIds),
      VpcSecurityGroupIds: [Fn.Ref(OUT.ProxySecurityGroupId)],
      Tags: tags(config),
    }),
    [S.DatabaseProxyTargetGroup]: new RDS.DBProxyTargetGroup({
      DBProxyName: Fn.Ref(S.DatabaseProxy),
      TargetGroupName: 'default',
      DBInstanceIdentifiers: [Fn.Ref(S.Database)],
      ConnectionPoolConfigurationInfo: {
        MaxConnectionsPercent: p.maxConnectionsPercent,
        MaxIdleConnectionsPercent: p.maxIdleConnectionsPercent,
        ConnectionBorrowTimeout: p.connectionBorrowTimeoutSeconds,
      },
    }),
  };
}

function storageConditions(): Record<string, Condition> {
  return {
    [CONDITION.IsRestoredFromInstance]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoreSourceDBInstanceIdentifier), '')),
    [CONDITION.IsRestoredFromSnapshot]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoreDBSnapshotIdentifier), '')),
    [CONDITION.IsRestored]: Fn.Or([Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoreSourceDBInstanceIdentifier), '')), Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoreDBSnapshotIdentifier), ''))]),
    [CONDITION.HasRestoreTime]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoreTime), '')),
    [CONDITION.HasRestoredMasterSecretArn]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.RestoredMasterSecretArn), '')),
  };
}

/** What `catalogctl db restore` sets; deploy keeps their values (src/deploy/params.ts STICKY_PARAMETERS). */
function restoreParameters(): Record<string, Parameter> {
  const set = 'set by catalogctl db restore; deploy keeps it';
  return {
    [PARAM.RestoreSourceDBInstanceIdentifier]: { Type: 'String', Default: '', AllowedPattern: '^([a-zA-Z][a-zA-Z0-9-]{0,62})?$', Description: `Instance the database was restored from to a point in time (${set})` },
    [PARAM.RestoreTime]: { Type: 'String', Default: '', AllowedPattern: '^(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z)?$', Description: `Point in time restored to, UTC; empty: the latest restorable time (${set})` },
    [PARAM.RestoreDBSnapshotIdentifier]: { Type: 'String', Default: '', Description: `Snapshot the database was restored from (${set})` },
    [PARAM.RestoredMasterSecretArn]: { Type: 'String', Default: '', Description: `The RDS-managed master secret of a restored instance, which RDS creates after the restore (${set})` },
  };
}

function storageResources(config: EnvConfig): Record<string, ResourceBase> {
  const resources: Record<string, ResourceBase> = {
    [S.DatabaseKey]: kmsKey(`Catalog ${config.name} database storage and Performance Insights`, ['rds.amazonaws.com'], config),
    [S.DatabaseSubnetGroup]: new RDS.DBSubnetGroup({ DBSubnetGroupDescription: `Catalog ${config.name} private subnets`, SubnetIds: Fn.Ref(OUT.SubnetIds), Tags: tags(config) }),
    [S.DatabaseParameterGroup]: parameterGroupResource(config),
    [S.MonitoringRole]: monitoringRoleResource(config),
    [S.Database]: dbInstanceResource(config),
  };
  for (let i = 0; i < config.database.readReplicas; i++) resources[replicaId(i)] = readReplicaResource(config);
  if (proxyEnabled(config)) Object.assign(resources, proxyResources(config));
  return resources;
}

function storageParameters(config: EnvConfig): Record<string, Parameter> {
  const db = config.database;
  return {
    [OUT.SubnetIds]: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets in two AZs (catalog-network output SubnetIds)' },
    [OUT.DbSecurityGroupId]: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Database security group (catalog-network output)' },
    [PARAM.DBInstanceClass]: { Type: 'String', Default: db.instanceClass, AllowedPattern: '^db\\.[a-z0-9]+\\.[a-z0-9]+$', Description: 'RDS instance class' },
    [PARAM.DBAllocatedStorage]: { Type: 'Number', Default: db.allocatedStorageGb, MinValue: 20, MaxValue: 65536, Description: 'Storage in GB' },
    ...(proxyEnabled(config) ? { [OUT.ProxySecurityGroupId]: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'RDS Proxy security group (catalog-network output)' } } : {}),
    ...restoreParameters(),
  };
}

function storageOutputs(config: EnvConfig): Record<string, Output> {
  const outputs: Record<string, Output> = {
    [OUT.DbEndpointAddress]: { Description: 'Primary (writer) endpoint', Value: Fn.GetAtt(S.Database, 'Endpoint.Address') },
    [OUT.DbEndpointPort]: { Description: 'PostgreSQL port', Value: Fn.GetAtt(S.Database, 'Endpoint.Port') },
    [OUT.DbInstanceIdentifier]: { Description: 'Primary instance id (alarms)', Value: Fn.Ref(S.Database) },
    // A restored instance gets its managed secret only after the restore (catalogctl db restore records it).
    [OUT.DbMasterSecretArn]: { Description: 'RDS-managed master secret (rotation of the app user uses it)', Value: Fn.If(CONDITION.HasRestoredMasterSecretArn, Fn.Ref(PARAM.RestoredMasterSecretArn), Fn.GetAtt(S.Database, 'MasterUserSecret.SecretArn')) as Value<string> },
    [OUT.DbKmsKeyArn]: { Description: 'Key encrypting the database and its master secret', Value: Fn.GetAtt(S.DatabaseKey, 'Arn') },
  };
  if (proxyEnabled(config)) {
    outputs[OUT.DbProxyEndpoint] = { Description: 'RDS Proxy endpoint (writes; stays through a restore)', Value: Fn.GetAtt(S.DatabaseProxy, 'Endpoint') };
    // The proxy's resource id (prx-…), the last field of its ARN: IAM policies name it in rds-db:connect.
    outputs[OUT.DbProxyResourceId] = { Description: 'RDS Proxy resource id (rds-db:connect)', Value: Fn.Select(6, Fn.Split(':', Fn.GetAtt(S.DatabaseProxy, 'DBProxyArn'))) };
    outputs[OUT.DbProxyName] = { Description: 'RDS Proxy name (metrics)', Value: Fn.Ref(S.DatabaseProxy) };
  }
  const replicas = Array.from({ length: config.database.readReplicas }, (_, i) => replicaId(i));
  if (replicas.length > 0) {
    outputs[OUT.DbReadReplicaAddresses] = { Description: 'Read replica endpoints, comma-separated (list and describe read from them)', Value: Fn.Join(',', replicas.map((r) => Fn.GetAtt(r, 'Endpoint.Address'))) };
    outputs[OUT.DbReplicaIdentifier] = { Description: 'First read replica id (replica-lag alarm)', Value: Fn.Ref(replicaId(0)) };
  }
  return outputs;
}

export function buildStorageStack(config: EnvConfig): Template {
  const db = config.database;
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: RDS for PostgreSQL ${db.engineVersion}${db.multiAz ? ' Multi-AZ' : ''}${db.readReplicas ? ` with ${db.readReplicas} read replica(s)` : ''}`,
    Parameters: storageParameters(config),
    Conditions: storageConditions(),
    Resources: storageResources(config),
    Outputs: storageOutputs(config),
  };
}
