/**
 * EnvConfig: everything that differs per environment, loaded from envs/<env>.yaml, validated by the
 * JSON Schema in ./schema.ts and frozen. Builders in src/templates are pure functions of it.
 *
 * Keys in YAML are exactly these property names (camelCase).
 */

/** The Lambda functions of catalog-service; each has a handler in src/handlers/<name>/index.ts. */
export const FUNCTION_NAMES = [
  'list-datasets',
  'get-dataset',
  'write-dataset',
  'authorizer',
  'check-catalog-status',
  'update-catalog-db',
  'migrate',
  'audit-relay',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Functions that serve API traffic behind the `live` alias and are shifted by `release`. */
export const API_FUNCTIONS = ['list-datasets', 'get-dataset', 'write-dataset', 'authorizer'] as const satisfies readonly FunctionName[];

/** The five stacks, in deploy order. Names are fixed by the seed. */
export const STACK_NAMES = [
  'catalog-network',
  'catalog-storage',
  'catalog-secrets',
  'catalog-service',
  'catalog-observability',
] as const;
export type StackName = (typeof STACK_NAMES)[number];

/** The default of `stackPrefix`: the seed's stack names (`catalog-network`, …). */
export const DEFAULT_STACK_PREFIX = 'catalog';

/**
 * The CloudFormation stack name of one of the five stacks for this env: `<stackPrefix>-network`, …
 * With the default prefix these are the seed's names; two envs sharing an account and region must
 * set distinct prefixes (render and validate refuse a collision).
 */
export function stackName(config: Pick<EnvConfig, 'stackPrefix'>, stack: StackName): string {
  return `${config.stackPrefix}${stack.slice('catalog'.length)}`;
}

export interface AccountConfig {
  /** 12-digit AWS account id; deploy refuses to run against any other account. */
  id: string;
  region: string;
}

export type NetworkConfig =
  | {
      mode: 'create';
      vpcCidr: string;
      /** Two private subnets, one per AZ. */
      privateSubnetCidrs: [string, string];
      /** Two AZs; the builder uses Fn::GetAZs when omitted. */
      availabilityZones?: [string, string];
    }
  | {
      mode: 'adopt';
      vpcId: string;
      /** Private subnets in at least two AZs. */
      subnetIds: string[];
      /** Route tables of those subnets, for the S3 gateway endpoint. */
      routeTableIds: string[];
    };

export interface DatabaseConfig {
  engineVersion: string;
  instanceClass: string;
  allocatedStorageGb: number;
  /** Storage autoscaling ceiling; >= allocatedStorageGb. */
  maxAllocatedStorageGb: number;
  multiAz: boolean;
  readReplicas: number;
  backupRetentionDays: number;
  deletionProtection: boolean;
  databaseName: string;
  masterUsername: string;
  /** The application's least-privilege DB user, whose credentials live in catalog-secrets. */
  appUsername: string;
  /** Days between rotations of the app user's secret. */
  secretRotationDays: number;
  performanceInsights: boolean;
  /** RDS Proxy in front of the writer (the seed's connection pooling); absent or disabled: none. */
  proxy?: ProxyConfig;
}

/**
 * RDS Proxy for the writer. The functions authenticate with IAM (end-to-end IAM authentication:
 * no secret in the proxy, so nothing for multi-user rotation to break) over TLS; reads on a read
 * replica connect to it directly (proxy read-only endpoints exist only for Aurora).
 */
export interface ProxyConfig {
  enabled: boolean;
  /** Share of the writer's max_connections the proxy may open (target group MaxConnectionsPercent). */
  maxConnectionsPercent: number;
  /** Share it may keep idle (MaxIdleConnectionsPercent); at most maxConnectionsPercent. */
  maxIdleConnectionsPercent: number;
  /** How long a client waits for a database connection when all are busy (ConnectionBorrowTimeout). */
  connectionBorrowTimeoutSeconds: number;
  /** The proxy closes a client connection idle this long (IdleClientTimeout). */
  idleClientTimeoutSeconds: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteThrottle {
  method: HttpMethod;
  /** API resource path, e.g. /storage/v1/catalog/datasets */
  path: string;
  rateLimit: number;
  burstLimit: number;
}

/** API Gateway cache cluster sizes, in GB, as AWS accepts them. */
export const API_CACHE_SIZES = ['0.5', '1.6', '6.1', '13.5', '28.4', '58.2', '118', '237'] as const;
export type ApiCacheSize = (typeof API_CACHE_SIZES)[number];

export interface ApiConfig {
  stageName: string;
  throttling: {
    rateLimit: number;
    burstLimit: number;
    routes: RouteThrottle[];
  };
  cache: {
    enabled: boolean;
    /** Required when enabled. */
    sizeGb?: ApiCacheSize;
    ttlSeconds: number;
  };
  /** Stage variables applied at release: feature flags and the DRR integration toggle. */
  stageVariables: Record<string, string>;
  /** API Gateway execution logging level; detailed logs off in dev per the seed's cost controls. */
  executionLogging: 'OFF' | 'ERROR' | 'INFO';
}

export interface FunctionSettings {
  memoryMb: number;
  timeoutSeconds: number;
}

export interface LambdaConfig {
  runtime: 'nodejs22.x' | 'nodejs24.x';
  architecture: 'arm64' | 'x86_64';
  /** Provisioned concurrency on the `live` alias of each API function; 0 = on demand. */
  provisionedConcurrency: number;
  /** Account concurrency limit used for the ≥ 80 % utilisation alarm. */
  accountConcurrencyLimit: number;
  functions: Record<FunctionName, FunctionSettings>;
}

/** The seed's configuration keys, passed to the functions as environment variables. */
export interface AppConfig {
  readPageLimit: number;
  cacheTtlSec: number;
  drrIntegration: boolean;
  auditAsync: boolean;
  dbMaxConn: number;
}

export interface AuthConfig {
  jwksUri: string;
  issuer: string;
  audience: string;
}

export interface PollerConfig {
  externalApiBaseUrl: string;
  intervalSeconds: number;
  maxAttempts: number;
  /** Capped exponential backoff between checks; fixed interval when absent. */
  backoff?: { rate: number; maxIntervalSeconds: number };
}

export interface AlarmConfig {
  api5xxRatePercent: number;
  p99LatencyMs: number;
  authFailureRatePercent: number;
  replicaLagSeconds: number;
  concurrencyUtilizationPercent: number;
  /** Evaluation window for the rate/latency alarms, in minutes (the seed: 5). */
  evaluationMinutes: number;
  /** Email for the SNS notification topic; optional. */
  notificationEmail?: string;
}

export interface LoggingConfig {
  retentionDays: number;
  /** Fraction of successful requests whose logs are kept (the seed: 1 % in prod). */
  successLogSampleRate: number;
}

export interface ReleaseConfig {
  /** Percent of traffic on the new version at each step; strictly increasing, ends at 100. */
  trafficSteps: number[];
  /** Bake time after each step but the last, in seconds (the seed: 10 minutes). */
  bakeSeconds: number;
  requireApproval: boolean;
  /** How often alarms are polled during a bake, in seconds (≤ 15). */
  alarmPollSeconds: number;
  /**
   * Where `release` runs the traffic shift unless `--on` says otherwise: `cli` (this process, the
   * default) or `aws` (the env's release state machine in AWS Step Functions).
   */
  shift?: 'cli' | 'aws';
}

export interface ArtifactsConfig {
  bucket: string;
  prefix: string;
}

export interface EnvConfig {
  /** Environment name: dev, staging, prod (or a custom one loaded by render --env-path). */
  name: string;
  account: AccountConfig;
  /**
   * Prefix of the five stack names (`<prefix>-network`, …); optional in the file, default `catalog`
   * (the seed's names). Envs sharing an account and region need distinct prefixes.
   */
  stackPrefix: string;
  tags: Record<string, string>;
  network: NetworkConfig;
  database: DatabaseConfig;
  api: ApiConfig;
  lambda: LambdaConfig;
  app: AppConfig;
  auth: AuthConfig;
  evidenceLedger: { busArn: string };
  poller: PollerConfig;
  alarms: AlarmConfig;
  logging: LoggingConfig;
  release: ReleaseConfig;
  artifacts: ArtifactsConfig;
}
