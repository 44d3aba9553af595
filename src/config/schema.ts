/**
 * JSON Schema for envs/<env>.yaml. Enums and ranges are the ones AWS itself accepts, so a value
 * CloudFormation or API Gateway would reject at deploy time is rejected here, before any render.
 */
import { API_CACHE_SIZES, FUNCTION_NAMES } from './types.ts';

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const cidr = '^(25[0-5]|2[0-4]\\d|1?\\d?\\d)(\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)){3}/(1[6-9]|2[0-8])$';
const httpsUrl = '^https://[A-Za-z0-9.-]+(:\\d+)?(/[^\\s]*)?$';

const functionSettings = {
  type: 'object',
  additionalProperties: false,
  required: ['memoryMb', 'timeoutSeconds'],
  properties: {
    memoryMb: { type: 'integer', minimum: 128, maximum: 10240 },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 900 },
  },
} as const;

const strictObject = (required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

export const envSchema = strictObject(
  ['name', 'account', 'tags', 'network', 'database', 'api', 'lambda', 'app', 'auth', 'evidenceLedger', 'poller', 'alarms', 'logging', 'release', 'artifacts'],
  {
    name: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,15}$' },
    // Stack names may be 128 characters; the longest suffix is -observability (14).
    stackPrefix: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{0,99}$' },
    account: strictObject(['id', 'region'], {
      id: { type: 'string', pattern: '^\\d{12}$' },
      region: { type: 'string', pattern: '^(us|eu|ap|ca|sa|me|af|il|mx)-(gov-)?[a-z]+-\\d$' },
    }),
    tags: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9 _.:/=+@-]{1,128}$' },
      additionalProperties: { type: 'string', maxLength: 256 },
    },
    network: {
      type: 'object',
      required: ['mode'],
      properties: { mode: { enum: ['create', 'adopt'] } },
      if: { properties: { mode: { const: 'create' } } },
      then: strictObject(['mode', 'vpcCidr', 'privateSubnetCidrs'], {
        mode: { const: 'create' },
        vpcCidr: { type: 'string', pattern: cidr },
        privateSubnetCidrs: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string', pattern: cidr } },
        availabilityZones: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string', pattern: '^[a-z]{2}-[a-z]+-\\d[a-z]$' } },
      }),
      else: strictObject(['mode', 'vpcId', 'subnetIds', 'routeTableIds'], {
        mode: { const: 'adopt' },
        vpcId: { type: 'string', pattern: '^vpc-[0-9a-f]{8,17}$' },
        subnetIds: { type: 'array', minItems: 2, maxItems: 16, uniqueItems: true, items: { type: 'string', pattern: '^subnet-[0-9a-f]{8,17}$' } },
        routeTableIds: { type: 'array', minItems: 1, maxItems: 16, uniqueItems: true, items: { type: 'string', pattern: '^rtb-[0-9a-f]{8,17}$' } },
      }),
    },
    database: strictObject(
      ['engineVersion', 'instanceClass', 'allocatedStorageGb', 'maxAllocatedStorageGb', 'multiAz', 'readReplicas', 'backupRetentionDays', 'deletionProtection', 'databaseName', 'masterUsername', 'appUsername', 'secretRotationDays', 'performanceInsights'],
      {
        engineVersion: { type: 'string', pattern: '^(1[3-7])\\.\\d{1,2}$' },
        instanceClass: { type: 'string', pattern: '^db\\.(t3|t4g|m5|m5d|m6g|m6gd|m6i|m6id|m7g|m7i|r5|r5b|r5d|r6g|r6gd|r6i|r6id|r7g|r7i|r8g|x2g)\\.(micro|small|medium|large|xlarge|\\d{1,2}xlarge)$' },
        allocatedStorageGb: { type: 'integer', minimum: 20, maximum: 65536 },
        maxAllocatedStorageGb: { type: 'integer', minimum: 20, maximum: 65536 },
        multiAz: { type: 'boolean' },
        readReplicas: { type: 'integer', minimum: 0, maximum: 5 },
        backupRetentionDays: { type: 'integer', minimum: 7, maximum: 30 },
        deletionProtection: { type: 'boolean' },
        databaseName: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' },
        masterUsername: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,15}$', not: { enum: ['postgres', 'admin', 'rdsadmin'] } },
        appUsername: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' },
        secretRotationDays: { type: 'integer', minimum: 1, maximum: 365 },
        performanceInsights: { type: 'boolean' },
      },
    ),
    api: strictObject(['stageName', 'throttling', 'cache', 'stageVariables', 'executionLogging'], {
      stageName: { type: 'string', pattern: '^[A-Za-z0-9_]{1,128}$' },
      throttling: strictObject(['rateLimit', 'burstLimit', 'routes'], {
        rateLimit: { type: 'number', minimum: 1, maximum: 10000 },
        burstLimit: { type: 'integer', minimum: 1, maximum: 5000 },
        routes: {
          type: 'array',
          items: strictObject(['method', 'path', 'rateLimit', 'burstLimit'], {
            method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
            path: { type: 'string', pattern: '^/storage/v1/catalog(/[A-Za-z0-9{}_-]+)*$' },
            rateLimit: { type: 'number', minimum: 1, maximum: 10000 },
            burstLimit: { type: 'integer', minimum: 1, maximum: 5000 },
          }),
        },
      }),
      cache: strictObject(['enabled', 'ttlSeconds'], {
        enabled: { type: 'boolean' },
        sizeGb: { enum: [...API_CACHE_SIZES] },
        ttlSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
      }),
      stageVariables: {
        type: 'object',
        propertyNames: { pattern: '^[A-Za-z0-9_]{1,64}$' },
        additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9\\-._~:/?#&=,]{0,512}$' },
      },
      executionLogging: { enum: ['OFF', 'ERROR', 'INFO'] },
    }),
    lambda: strictObject(['runtime', 'architecture', 'provisionedConcurrency', 'accountConcurrencyLimit', 'functions'], {
      runtime: { enum: ['nodejs22.x', 'nodejs24.x'] },
      architecture: { enum: ['arm64', 'x86_64'] },
      provisionedConcurrency: { type: 'integer', minimum: 0, maximum: 1000 },
      accountConcurrencyLimit: { type: 'integer', minimum: 10, maximum: 100000 },
      functions: strictObject([...FUNCTION_NAMES], Object.fromEntries(FUNCTION_NAMES.map((f) => [f, functionSettings]))),
    }),
    app: strictObject(['readPageLimit', 'cacheTtlSec', 'drrIntegration', 'auditAsync', 'dbMaxConn'], {
      readPageLimit: { type: 'integer', minimum: 1, maximum: 1000 },
      cacheTtlSec: { type: 'integer', minimum: 0, maximum: 3600 },
      drrIntegration: { type: 'boolean' },
      auditAsync: { type: 'boolean' },
      dbMaxConn: { type: 'integer', minimum: 1, maximum: 100 },
    }),
    auth: strictObject(['jwksUri', 'issuer', 'audience'], {
      jwksUri: { type: 'string', pattern: httpsUrl },
      issuer: { type: 'string', pattern: httpsUrl },
      audience: { type: 'string', minLength: 1, maxLength: 256 },
    }),
    evidenceLedger: strictObject(['busArn'], {
      busArn: { type: 'string', pattern: '^arn:aws[a-z-]*:events:[a-z0-9-]+:\\d{12}:event-bus/[A-Za-z0-9._-]{1,256}$' },
    }),
    poller: strictObject(['externalApiBaseUrl', 'intervalSeconds', 'maxAttempts'], {
      externalApiBaseUrl: { type: 'string', pattern: httpsUrl },
      intervalSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
      maxAttempts: { type: 'integer', minimum: 1, maximum: 10000 },
      backoff: strictObject(['rate', 'maxIntervalSeconds'], {
        rate: { type: 'number', minimum: 1, maximum: 10 },
        maxIntervalSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
      }),
    }),
    alarms: strictObject(['api5xxRatePercent', 'p99LatencyMs', 'authFailureRatePercent', 'replicaLagSeconds', 'concurrencyUtilizationPercent', 'evaluationMinutes'], {
      api5xxRatePercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
      p99LatencyMs: { type: 'integer', minimum: 1, maximum: 29000 },
      authFailureRatePercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
      replicaLagSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
      concurrencyUtilizationPercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
      evaluationMinutes: { type: 'integer', minimum: 1, maximum: 60 },
      notificationEmail: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$' },
    }),
    logging: strictObject(['retentionDays', 'successLogSampleRate'], {
      retentionDays: { enum: [...LOG_RETENTION_DAYS] },
      successLogSampleRate: { type: 'number', minimum: 0, maximum: 1 },
    }),
    release: strictObject(['trafficSteps', 'bakeSeconds', 'requireApproval', 'alarmPollSeconds'], {
      trafficSteps: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'integer', minimum: 1, maximum: 100 } },
      bakeSeconds: { type: 'integer', minimum: 0, maximum: 86400 },
      requireApproval: { type: 'boolean' },
      alarmPollSeconds: { type: 'integer', minimum: 1, maximum: 15 },
    }),
    artifacts: strictObject(['bucket', 'prefix'], {
      bucket: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
      prefix: { type: 'string', pattern: '^[A-Za-z0-9!_.*()/-]{1,200}[^/]$' },
    }),
  },
);
