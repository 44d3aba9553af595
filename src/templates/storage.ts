/**
 * catalog-storage: RDS for PostgreSQL. RDS manages and rotates the master password itself
 * (ManageMasterUserPassword), so no password is ever a parameter or a literal. Encrypted with a
 * customer key, Multi-AZ outside dev, read replicas where the env asks, deletion protection and
 * snapshot-on-delete where the env protects its data.
 */
import type { EnvConfig } from '../config/types.ts';
import { assumeRole, checkovSkip, getAtt, kmsKey, ref, sub, tags, type Obj, type Template } from './cfn-json.ts';

export const replicaId = (i: number): string => `DatabaseReplica${i + 1}`;

export function buildStorageStack(config: EnvConfig): Template {
  const db = config.database;
  const major = db.engineVersion.split('.')[0];
  const policy = db.deletionProtection ? 'Snapshot' : 'Delete';
  const resources: Record<string, Obj> = {
    DatabaseKey: kmsKey(`Catalog ${config.name} database storage and Performance Insights`, ['rds.amazonaws.com'], config),
    DatabaseSubnetGroup: {
      Type: 'AWS::RDS::DBSubnetGroup',
      Properties: { DBSubnetGroupDescription: `Catalog ${config.name} private subnets`, SubnetIds: ref('SubnetIds'), Tags: tags(config) },
    },
    DatabaseParameterGroup: {
      Type: 'AWS::RDS::DBParameterGroup',
      Properties: {
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
      },
    },
    MonitoringRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: 'RDS enhanced monitoring',
        AssumeRolePolicyDocument: assumeRole('monitoring.rds.amazonaws.com'),
        ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole')],
        Tags: tags(config),
      },
    },
    Database: {
      Type: 'AWS::RDS::DBInstance',
      DeletionPolicy: policy,
      UpdateReplacePolicy: policy,
      ...(db.multiAz ? {} : { Metadata: checkovSkip([{ id: 'CKV_AWS_157', comment: 'The env file asks for a single instance (the seed: dev runs 1 RDS instance); staging and prod are Multi-AZ.' }]) }),
      Properties: {
        MonitoringInterval: 60,
        MonitoringRoleArn: getAtt('MonitoringRole', 'Arn'),
        Engine: 'postgres',
        EngineVersion: db.engineVersion,
        DBInstanceClass: ref('DBInstanceClass'),
        AllocatedStorage: ref('DBAllocatedStorage'),
        MaxAllocatedStorage: db.maxAllocatedStorageGb,
        StorageType: 'gp3',
        StorageEncrypted: true,
        KmsKeyId: ref('DatabaseKey'),
        MultiAZ: db.multiAz,
        DBName: db.databaseName,
        MasterUsername: db.masterUsername,
        ManageMasterUserPassword: true,
        MasterUserSecret: { KmsKeyId: ref('DatabaseKey') },
        DBSubnetGroupName: ref('DatabaseSubnetGroup'),
        DBParameterGroupName: ref('DatabaseParameterGroup'),
        VPCSecurityGroups: [ref('DbSecurityGroupId')],
        PubliclyAccessible: false,
        BackupRetentionPeriod: db.backupRetentionDays,
        DeletionProtection: db.deletionProtection,
        CopyTagsToSnapshot: true,
        AutoMinorVersionUpgrade: true,
        EnableIAMDatabaseAuthentication: true,
        EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
        ...(db.performanceInsights ? { EnablePerformanceInsights: true, PerformanceInsightsKMSKeyId: ref('DatabaseKey'), PerformanceInsightsRetentionPeriod: 7 } : {}),
        Tags: tags(config),
      },
    },
  };
  for (let i = 0; i < db.readReplicas; i++) {
    resources[replicaId(i)] = {
      Type: 'AWS::RDS::DBInstance',
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Metadata: checkovSkip([
        { id: 'CKV_AWS_16', comment: 'A read replica inherits encryption from its encrypted source; CloudFormation rejects StorageEncrypted next to SourceDBInstanceIdentifier (cfn-lint E3020).' },
        { id: 'CKV_AWS_157', comment: 'A read replica for GET traffic; the writer is Multi-AZ and a lost replica is recreated from it.' },
      ]),
      Properties: {
        MonitoringInterval: 60,
        MonitoringRoleArn: getAtt('MonitoringRole', 'Arn'),
        SourceDBInstanceIdentifier: ref('Database'),
        DBInstanceClass: ref('DBInstanceClass'),
        KmsKeyId: ref('DatabaseKey'),
        PubliclyAccessible: false,
        DBParameterGroupName: ref('DatabaseParameterGroup'),
        VPCSecurityGroups: [ref('DbSecurityGroupId')],
        AutoMinorVersionUpgrade: true,
        EnableIAMDatabaseAuthentication: true,
        CopyTagsToSnapshot: true,
        EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
        ...(db.performanceInsights ? { EnablePerformanceInsights: true, PerformanceInsightsKMSKeyId: ref('DatabaseKey'), PerformanceInsightsRetentionPeriod: 7 } : {}),
        Tags: tags(config, { Role: 'read-replica' }),
      },
    };
  }

  const outputs: Record<string, Obj> = {
    DbEndpointAddress: { Description: 'Primary (writer) endpoint', Value: getAtt('Database', 'Endpoint.Address') },
    DbEndpointPort: { Description: 'PostgreSQL port', Value: getAtt('Database', 'Endpoint.Port') },
    DbInstanceIdentifier: { Description: 'Primary instance id (alarms)', Value: ref('Database') },
    DbMasterSecretArn: { Description: 'RDS-managed master secret (rotation of the app user uses it)', Value: getAtt('Database', 'MasterUserSecret.SecretArn') },
    DbKmsKeyArn: { Description: 'Key encrypting the database and its master secret', Value: getAtt('DatabaseKey', 'Arn') },
  };
  if (db.readReplicas > 0) {
    outputs.DbReadReplicaAddress = { Description: 'First read replica endpoint', Value: getAtt(replicaId(0), 'Endpoint.Address') };
    outputs.DbReplicaIdentifier = { Description: 'First read replica id (replica-lag alarm)', Value: ref(replicaId(0)) };
  }

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: RDS for PostgreSQL ${db.engineVersion}${db.multiAz ? ' Multi-AZ' : ''}${db.readReplicas ? ` with ${db.readReplicas} read replica(s)` : ''}`,
    Parameters: {
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets in two AZs (catalog-network output SubnetIds)' },
      DbSecurityGroupId: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Database security group (catalog-network output)' },
      DBInstanceClass: { Type: 'String', Default: db.instanceClass, AllowedPattern: '^db\\.[a-z0-9]+\\.[a-z0-9]+$', Description: 'RDS instance class' },
      DBAllocatedStorage: { Type: 'Number', Default: db.allocatedStorageGb, MinValue: 20, MaxValue: 65536, Description: 'Storage in GB' },
    },
    Resources: resources,
    Outputs: outputs,
  };
}
