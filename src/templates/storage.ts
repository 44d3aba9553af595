/**
 * catalog-storage: RDS for PostgreSQL. RDS manages and rotates the master password itself
 * (ManageMasterUserPassword), so no password is ever a parameter or a literal. Encrypted with a
 * customer key, Multi-AZ outside dev, read replicas where the env asks, deletion protection and
 * snapshot-on-delete where the env protects its data.
 */
import type { EnvConfig } from '../config/types.ts';
import { assumeRole, checkovSkip, Fn, kmsKey, sub, tags, type Output, type Parameter, type Template } from './cfn.ts';
import { OUT, PARAM, replicaId, STORAGE as S } from './ids.ts';
import { IAM, RDS, removalPolicy, type DBInstanceProperties, type ResourceBase } from './resources.ts';

/** What the writer and its read replicas share: monitoring, logs, IAM auth, Performance Insights. */
function instanceCommon(config: EnvConfig): DBInstanceProperties {
  const db = config.database;
  return {
    MonitoringInterval: 60,
    MonitoringRoleArn: Fn.GetAtt(S.MonitoringRole, 'Arn'),
    DBInstanceClass: Fn.Ref(PARAM.DBInstanceClass),
    KmsKeyId: Fn.Ref(S.DatabaseKey),
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
      // Each function holds at most DB_MAX_CONN; headroom for the migrate and relay functions.
      idle_in_transaction_session_timeout: '60000',
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

/** The writer: encrypted, private, RDS-managed master password, Multi-AZ and protection per env. */
function dbInstanceResource(config: EnvConfig) {
  const db = config.database;
  const instance = new RDS.DBInstance({
    ...instanceCommon(config),
    Engine: 'postgres',
    EngineVersion: db.engineVersion,
    AllocatedStorage: Fn.Ref(PARAM.DBAllocatedStorage),
    MaxAllocatedStorage: db.maxAllocatedStorageGb,
    StorageType: 'gp3',
    StorageEncrypted: true,
    MultiAZ: db.multiAz,
    DBName: db.databaseName,
    MasterUsername: db.masterUsername,
    ManageMasterUserPassword: true,
    MasterUserSecret: { KmsKeyId: Fn.Ref(S.DatabaseKey) },
    DBSubnetGroupName: Fn.Ref(S.DatabaseSubnetGroup),
    BackupRetentionPeriod: db.backupRetentionDays,
    DeletionProtection: db.deletionProtection,
    Tags: tags(config),
  });
  if (!db.multiAz) instance.metadata(checkovSkip([{ id: 'CKV_AWS_157', comment: 'The env file asks for a single instance (the seed: dev runs 1 RDS instance); staging and prod are Multi-AZ.' }]));
  return removalPolicy(instance, db.deletionProtection ? 'Snapshot' : 'Delete');
}

/** A read replica for GET traffic; it inherits encryption, subnet group and engine from the writer. */
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

function storageResources(config: EnvConfig): Record<string, ResourceBase> {
  const resources: Record<string, ResourceBase> = {
    [S.DatabaseKey]: kmsKey(`Catalog ${config.name} database storage and Performance Insights`, ['rds.amazonaws.com'], config),
    [S.DatabaseSubnetGroup]: new RDS.DBSubnetGroup({ DBSubnetGroupDescription: `Catalog ${config.name} private subnets`, SubnetIds: Fn.Ref(OUT.SubnetIds), Tags: tags(config) }),
    [S.DatabaseParameterGroup]: parameterGroupResource(config),
    [S.MonitoringRole]: monitoringRoleResource(config),
    [S.Database]: dbInstanceResource(config),
  };
  for (let i = 0; i < config.database.readReplicas; i++) resources[replicaId(i)] = readReplicaResource(config);
  return resources;
}

function storageParameters(config: EnvConfig): Record<string, Parameter> {
  const db = config.database;
  return {
    [OUT.SubnetIds]: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets in two AZs (catalog-network output SubnetIds)' },
    [OUT.DbSecurityGroupId]: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Database security group (catalog-network output)' },
    [PARAM.DBInstanceClass]: { Type: 'String', Default: db.instanceClass, AllowedPattern: '^db\\.[a-z0-9]+\\.[a-z0-9]+$', Description: 'RDS instance class' },
    [PARAM.DBAllocatedStorage]: { Type: 'Number', Default: db.allocatedStorageGb, MinValue: 20, MaxValue: 65536, Description: 'Storage in GB' },
  };
}

function storageOutputs(config: EnvConfig): Record<string, Output> {
  const outputs: Record<string, Output> = {
    [OUT.DbEndpointAddress]: { Description: 'Primary (writer) endpoint', Value: Fn.GetAtt(S.Database, 'Endpoint.Address') },
    [OUT.DbEndpointPort]: { Description: 'PostgreSQL port', Value: Fn.GetAtt(S.Database, 'Endpoint.Port') },
    [OUT.DbInstanceIdentifier]: { Description: 'Primary instance id (alarms)', Value: Fn.Ref(S.Database) },
    [OUT.DbMasterSecretArn]: { Description: 'RDS-managed master secret (rotation of the app user uses it)', Value: Fn.GetAtt(S.Database, 'MasterUserSecret.SecretArn') },
    [OUT.DbKmsKeyArn]: { Description: 'Key encrypting the database and its master secret', Value: Fn.GetAtt(S.DatabaseKey, 'Arn') },
  };
  if (config.database.readReplicas > 0) {
    outputs[OUT.DbReadReplicaAddress] = { Description: 'First read replica endpoint', Value: Fn.GetAtt(replicaId(0), 'Endpoint.Address') };
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
    Resources: storageResources(config),
    Outputs: storageOutputs(config),
  };
}
