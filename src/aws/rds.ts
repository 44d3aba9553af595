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
