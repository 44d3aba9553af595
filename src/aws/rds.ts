/** The RDS part of the AWS interface: what preflight asks about engine versions and instance classes. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface EngineVersionInfo {
  version: string;
  /** `available`, or `deprecated` (listed only because all versions were asked for). */
  status: string;
}

/** One orderable combination of instance class, engine version and storage type in the region. */
export interface OrderableOption {
  storageType?: string;
  multiAzCapable: boolean;
  readReplicaCapable: boolean;
  storageEncryption: boolean;
  performanceInsights: boolean;
  storageAutoscaling: boolean;
  minStorageGb?: number;
  maxStorageGb?: number;
}

export interface RdsApi {
  /** The engine version as RDS offers it in the region (deprecated ones too), or undefined. */
  engineVersion(engine: string, version: string): Promise<EngineVersionInfo | undefined>;
  /** Every orderable option for the class, engine and version in a VPC, all pages. */
  orderableOptions(engine: string, version: string, instanceClass: string): Promise<OrderableOption[]>;
}

export async function createRdsApi(target: AwsTarget): Promise<RdsApi> {
  const rds = await import('@aws-sdk/client-rds');
  const client = new rds.RDSClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof rds.RDSClient>[0]>);
  return {
    async engineVersion(engine, version) {
      // IncludeAll: without it RDS lists only available versions, and a deprecated one reads as unknown.
      const out = await client.send(new rds.DescribeDBEngineVersionsCommand({ Engine: engine, EngineVersion: version, IncludeAll: true }));
      const v = (out.DBEngineVersions ?? []).find((e) => e.EngineVersion === version);
      return v ? { version, status: v.Status ?? 'available' } : undefined;
    },
    async orderableOptions(engine, version, instanceClass) {
      const options: OrderableOption[] = [];
      let marker: string | undefined;
      do {
        const out = await client.send(
          new rds.DescribeOrderableDBInstanceOptionsCommand({ Engine: engine, EngineVersion: version, DBInstanceClass: instanceClass, Vpc: true, Marker: marker, MaxRecords: 100 }),
        );
        for (const o of out.OrderableDBInstanceOptions ?? []) {
          options.push({
            storageType: o.StorageType,
            multiAzCapable: o.MultiAZCapable === true,
            readReplicaCapable: o.ReadReplicaCapable === true,
            storageEncryption: o.SupportsStorageEncryption === true,
            performanceInsights: o.SupportsPerformanceInsights === true,
            storageAutoscaling: o.SupportsStorageAutoscaling === true,
            minStorageGb: o.MinStorageSize,
            maxStorageGb: o.MaxStorageSize,
          });
        }
        marker = out.Marker;
      } while (marker);
      return options;
    },
  };
}

/** A DB instance as `db restore` needs it. */
export interface DbInstanceInfo {
  id: string;
  arn?: string;
  status: string;
  endpoint?: { address: string; port: number };
  engine?: string;
  multiAz: boolean;
  deletionProtection: boolean;
  backupRetentionDays: number;
  latestRestorableTime?: Date;
  createdAt?: Date;
  kmsKeyId?: string;
  masterSecretArn?: string;
  replicas: string[];
}

export interface DbSnapshotInfo {
  id: string;
  status: string;
  instanceId?: string;
  engine?: string;
  encrypted: boolean;
  createdAt?: Date;
}

/** The RDS calls of `db restore`: reading the source, protecting it, and what follows the restore. */
export interface RdsOpsApi {
  describeInstance(id: string): Promise<DbInstanceInfo | undefined>;
  /** The earliest time the automated backups can restore to (RestoreWindow), when RDS says. */
  earliestRestorableTime(id: string): Promise<Date | undefined>;
  describeSnapshot(id: string): Promise<DbSnapshotInfo | undefined>;
  createSnapshot(instanceId: string, snapshotId: string, tags: Record<string, string>): Promise<void>;
  enableDeletionProtection(id: string): Promise<void>;
  /** RDS manages (and rotates) the master password from now on, in a new secret under `kmsKeyId`. */
  manageMasterPassword(id: string, kmsKeyId: string): Promise<void>;
  stopInstance(id: string): Promise<void>;
}

export async function createRdsOpsApi(target: AwsTarget): Promise<RdsOpsApi> {
  const rds = await import('@aws-sdk/client-rds');
  const client = new rds.RDSClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof rds.RDSClient>[0]>);
  const notFound = (err: unknown) => /NotFound/.test((err as Error).name ?? '');
  return {
    async describeInstance(id) {
      try {
        const i = (await client.send(new rds.DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0];
        if (!i) return undefined;
        return {
          id: i.DBInstanceIdentifier ?? id,
          arn: i.DBInstanceArn,
          status: i.DBInstanceStatus ?? 'unknown',
          endpoint: i.Endpoint?.Address ? { address: i.Endpoint.Address, port: i.Endpoint.Port ?? 5432 } : undefined,
          engine: i.Engine,
          multiAz: i.MultiAZ === true,
          deletionProtection: i.DeletionProtection === true,
          backupRetentionDays: i.BackupRetentionPeriod ?? 0,
          latestRestorableTime: i.LatestRestorableTime,
          createdAt: i.InstanceCreateTime,
          kmsKeyId: i.KmsKeyId,
          masterSecretArn: i.MasterUserSecret?.SecretArn,
          replicas: i.ReadReplicaDBInstanceIdentifiers ?? [],
        };
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async earliestRestorableTime(id) {
      const out = await client.send(new rds.DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: id }));
      const times = (out.DBInstanceAutomatedBackups ?? []).map((b) => b.RestoreWindow?.EarliestTime).filter((t): t is Date => t instanceof Date);
      return times.length ? new Date(Math.min(...times.map((t) => t.getTime()))) : undefined;
    },
    async describeSnapshot(id) {
      try {
        const s = (await client.send(new rds.DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }))).DBSnapshots?.[0];
        return s ? { id: s.DBSnapshotIdentifier ?? id, status: s.Status ?? 'unknown', instanceId: s.DBInstanceIdentifier, engine: s.Engine, encrypted: s.Encrypted === true, createdAt: s.SnapshotCreateTime } : undefined;
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async createSnapshot(instanceId, snapshotId, tags) {
      await client.send(new rds.CreateDBSnapshotCommand({ DBInstanceIdentifier: instanceId, DBSnapshotIdentifier: snapshotId, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
    },
    async enableDeletionProtection(id) {
      await client.send(new rds.ModifyDBInstanceCommand({ DBInstanceIdentifier: id, DeletionProtection: true, ApplyImmediately: true }));
    },
    async manageMasterPassword(id, kmsKeyId) {
      await client.send(new rds.ModifyDBInstanceCommand({ DBInstanceIdentifier: id, ManageMasterUserPassword: true, MasterUserSecretKmsKeyId: kmsKeyId, ApplyImmediately: true }));
    },
    async stopInstance(id) {
      await client.send(new rds.StopDBInstanceCommand({ DBInstanceIdentifier: id }));
    },
  };
}
