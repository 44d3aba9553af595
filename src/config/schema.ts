/**
 * JSON Schema for envs/<env>.yaml. Enums and ranges are the ones AWS itself accepts, so a value
 * CloudFormation or API Gateway would reject at deploy time is rejected here, before any render.
 * Each rule cites the AWS page it comes from. `x-hint` is ours (ajv ignores it): the words shown
 * when the rule next to it fails (see ./validate-schema.ts).
 *
 * The schema is compiled to plain JavaScript at build time (scripts/gen-env-validator.mjs), with
 * the region list AWS's SDK ships (its partition metadata), so nothing is compiled at start-up.
 */
import { API_CACHE_SIZES, FUNCTION_NAMES } from './types.ts';

/** One region of AWS's partition metadata (`@aws-sdk/core` util-endpoints `partitions`). */
export interface AwsRegion {
  region: string;
  /** `aws`, `aws-cn`, `aws-us-gov`, …: the first field of an ARN in that region. */
  partition: string;
}

/**
 * CloudWatch Logs accepts only these retention periods (days).
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
 */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * AWS allows 50 tags per resource and CloudFormation 50 per stack, propagated to every resource
 * (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html, "Tag naming limits and
 * requirements"; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html,
 * `Tags`). catalogctl adds its own (`catalog:env`, `Name`, and stack tags at deploy), so an env file
 * may set at most 40 and leaves 10 to the tool.
 */
export const MAX_USER_TAGS = 40;

/**
 * Characters AWS accepts in tag keys and values: letters, digits and spaces in any script, and
 * `_ . : / = + - @` (Resource Groups Tagging API `Tag`,
 * https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_Tag.html). ajv compiles
 * patterns with the `u` flag, so `\p{…}` classes count code points as AWS does.
 */
const TAG_CHARS = '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]';

/**
 * IPv4 CIDR with a /16–/28 netmask: the sizes AWS allows for a VPC and for a subnet
 * (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). Host bits must be zero:
 * EC2 silently rewrites `10.10.1.7/24` to `10.10.1.0/24` ("we modify the specified CIDR block to
 * its canonical form", CreateSubnet/CreateVpc `CidrBlock`), so a misaligned block is a typo that
 * the template would carry while AWS holds something else (./rules.ts checks the alignment).
 */
const cidr = '^(25[0-5]|2[0-4]\\d|1?\\d?\\d)(\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)){3}/(1[6-9]|2[0-8])$';

/**
 * An https URL whose host is DNS labels (RFC 1123, 253 chars at most) with an optional port in
 * 1–65535, and a path of visible ASCII. The authorizer fetches the JWKS with it and the poller calls
 * the external API with it; Node's fetch rejects any other port.
 */
const label = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const port = '(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})';
const httpsUrl = {
  type: 'string',
  maxLength: 2048,
  pattern: `^https://(?=[^/:?#]{1,253}([:/?#]|$))${label}(\\.${label})*(:${port})?([/?#][\\x21-\\x7e]*)?$`,
  'x-hint': 'must be an https:// URL: a DNS host name, an optional port 1–65535, no spaces',
} as const;

const functionSettings = {
  type: 'object',
  additionalProperties: false,
  required: ['memoryMb', 'timeoutSeconds'],
  properties: {
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html (128–10,240 MB)
    memoryMb: { type: 'integer', minimum: 128, maximum: 10240 },
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html (at most 900 s)
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 900 },
  },
} as const;

const strictObject = (required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

/** The schema, with the regions AWS's partition metadata lists (given by the build). */
export function envSchemaFor(regions: readonly AwsRegion[]) {
  const partitions = [...new Set(regions.map((r) => r.partition))].sort();
  return strictObject(
    ['name', 'account', 'tags', 'network', 'database', 'api', 'lambda', 'app', 'auth', 'evidenceLedger', 'poller', 'alarms', 'logging', 'release', 'artifacts'],
    {
      name: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,15}$', 'x-hint': 'must be lower-case letters, digits and -, starting with a letter (2–16 chars)' },
      // Stack names: letters, digits and hyphens, starting with a letter, at most 128 characters
      // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html,
      // `StackName`); the longest suffix added is -observability (14).
      stackPrefix: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{0,99}$', 'x-hint': 'must start with a letter: letters, digits and - (at most 100), the start of a CloudFormation stack name' },
      account: strictObject(['id', 'region'], {
        id: { type: 'string', pattern: '^\\d{12}$', 'x-hint': 'must be a 12-digit AWS account id (quote it in YAML)' },
        // Regions of every partition in the AWS SDK's endpoint metadata (aws, aws-cn, aws-us-gov, …),
        // https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html
        region: { type: 'string', enum: regions.map((r) => r.region), 'x-hint': 'is not an AWS region' },
      }),
      // https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html: keys 1–128 and values
      // 0–256 Unicode characters; `aws:` in any letter case is reserved for AWS as a prefix of keys and
      // values. `catalog:*` and `Name` are set by the templates themselves (src/templates/cfn.ts).
      tags: {
        type: 'object',
        maxProperties: MAX_USER_TAGS,
        'x-hint': `at most ${MAX_USER_TAGS} tags: AWS allows 50 per resource and catalogctl adds its own (catalog:env, Name, stack tags)`,
        propertyNames: {
          allOf: [
            { pattern: `^${TAG_CHARS}{1,128}$`, 'x-hint': 'tag keys are 1–128 letters, digits, spaces and _ . : / = + - @' },
            { not: { pattern: '^[aA][wW][sS]:' }, 'x-hint': 'tag keys starting with aws: are reserved for AWS' },
            { not: { pattern: '^catalog:' }, 'x-hint': 'tag keys starting with catalog: are set by catalogctl itself' },
            { not: { const: 'Name' }, 'x-hint': 'the Name tag is set by catalogctl itself (per resource)' },
          ],
        },
        additionalProperties: {
          type: 'string',
          allOf: [
            { pattern: `^${TAG_CHARS}{0,256}$`, 'x-hint': 'tag values are up to 256 letters, digits, spaces and _ . : / = + - @' },
            { not: { pattern: '^[aA][wW][sS]:' }, 'x-hint': 'tag values starting with aws: are reserved for AWS' },
          ],
        },
      },
      network: {
        type: 'object',
        required: ['mode'],
        properties: { mode: { enum: ['create', 'adopt'] } },
        if: { properties: { mode: { const: 'create' } } },
        then: strictObject(['mode', 'vpcCidr', 'privateSubnetCidrs'], {
          mode: { const: 'create' },
          vpcCidr: { type: 'string', pattern: cidr, 'x-hint': 'must be an IPv4 CIDR between /16 and /28, e.g. 10.0.0.0/16' },
          privateSubnetCidrs: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string', pattern: cidr, 'x-hint': 'must be an IPv4 CIDR between /16 and /28, e.g. 10.0.1.0/24' } },
          // AZ names are the region's name and a letter (us-east-1a); ./rules.ts checks the region.
          availabilityZones: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-\\d+[a-z]$', 'x-hint': "must be an Availability Zone name of the env's region, e.g. us-east-1a" } },
        }),
        // Resource id formats: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html
        else: strictObject(['mode', 'vpcId', 'subnetIds', 'routeTableIds'], {
          mode: { const: 'adopt' },
          vpcId: { type: 'string', pattern: '^vpc-([0-9a-f]{8}|[0-9a-f]{17})$', 'x-hint': 'must be a VPC id such as vpc-0abc1234' },
          subnetIds: { type: 'array', minItems: 2, maxItems: 16, uniqueItems: true, items: { type: 'string', pattern: '^subnet-([0-9a-f]{8}|[0-9a-f]{17})$', 'x-hint': 'must be a subnet id such as subnet-0abc1234' } },
          routeTableIds: { type: 'array', minItems: 1, maxItems: 16, uniqueItems: true, items: { type: 'string', pattern: '^rtb-([0-9a-f]{8}|[0-9a-f]{17})$', 'x-hint': 'must be a route table id such as rtb-0abc1234' } },
        }),
      },
      database: strictObject(
        ['engineVersion', 'instanceClass', 'allocatedStorageGb', 'maxAllocatedStorageGb', 'multiAz', 'readReplicas', 'backupRetentionDays', 'deletionProtection', 'databaseName', 'masterUsername', 'appUsername', 'secretRotationDays', 'performanceInsights'],
        {
          // https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-versions.html
          engineVersion: { type: 'string', pattern: '^(1[3-7])\\.\\d{1,2}$', 'x-hint': 'must be a PostgreSQL major.minor version from 13 to 17, e.g. "16.4" (quote it)' },
          // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.Support.html
          instanceClass: {
            type: 'string',
            pattern: '^db\\.(t3|t4g|m5|m5d|m6g|m6gd|m6i|m6id|m7g|m7i|r5|r5b|r5d|r6g|r6gd|r6i|r6id|r7g|r7i|r8g|x2g)\\.(micro|small|medium|large|xlarge|\\d{1,2}xlarge)$',
            'x-hint': 'must be an RDS instance class such as db.r6g.large',
          },
          // gp2/gp3 storage for RDS for PostgreSQL: 20–65,536 GiB
          // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html)
          allocatedStorageGb: { type: 'integer', minimum: 20, maximum: 65536 },
          maxAllocatedStorageGb: { type: 'integer', minimum: 20, maximum: 65536 },
          multiAz: { type: 'boolean' },
          // Up to 15 read replicas per instance are allowed; the seed needs one.
          readReplicas: { type: 'integer', minimum: 0, maximum: 5 },
          // AWS allows 0–35 days; the seed asks for 7 to 30.
          backupRetentionDays: { type: 'integer', minimum: 7, maximum: 30 },
          deletionProtection: { type: 'boolean' },
          // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
          // (`DBName`, `MasterUsername`; `rdsadmin` and `postgres`-style names are reserved)
          databaseName: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$', 'x-hint': 'must start with a letter: lower-case letters, digits, _ (max 63)' },
          masterUsername: {
            type: 'string',
            allOf: [
              { pattern: '^[a-z][a-z0-9_]{0,15}$', 'x-hint': 'must start with a letter: lower-case letters, digits, _ (max 16)' },
              { not: { enum: ['postgres', 'admin', 'rdsadmin'] }, 'x-hint': 'is a name RDS reserves' },
            ],
          },
          appUsername: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$', 'x-hint': 'must start with a letter: lower-case letters, digits, _ (max 63)' },
          // https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html (1–1000 days; we cap at a year)
          secretRotationDays: { type: 'integer', minimum: 1, maximum: 365 },
          performanceInsights: { type: 'boolean' },
          // RDS Proxy: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-connections.html
          // (MaxConnectionsPercent 1–100, MaxIdleConnectionsPercent 0–MaxConnectionsPercent,
          // ConnectionBorrowTimeout 0–3600 s, IdleClientTimeout 1–28,800 s)
          proxy: strictObject(['enabled', 'maxConnectionsPercent', 'maxIdleConnectionsPercent', 'connectionBorrowTimeoutSeconds', 'idleClientTimeoutSeconds'], {
            enabled: { type: 'boolean' },
            maxConnectionsPercent: { type: 'integer', minimum: 1, maximum: 100 },
            maxIdleConnectionsPercent: { type: 'integer', minimum: 0, maximum: 100 },
            connectionBorrowTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
            idleClientTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 28800 },
          }),
        },
      ),
      api: strictObject(['stageName', 'throttling', 'cache', 'stageVariables', 'executionLogging'], {
        // https://docs.aws.amazon.com/apigateway/latest/api/API_CreateStage.html (`stageName`: alphanumerics and _, ≤ 128)
        stageName: { type: 'string', pattern: '^[A-Za-z0-9_]{1,128}$', 'x-hint': 'must be letters, digits or _ (API Gateway stage names)' },
        // Account-level defaults: 10,000 rps and 5,000 burst
        // (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html)
        throttling: strictObject(['rateLimit', 'burstLimit', 'routes'], {
          rateLimit: { type: 'number', minimum: 1, maximum: 10000 },
          burstLimit: { type: 'integer', minimum: 1, maximum: 5000 },
          routes: {
            type: 'array',
            maxItems: 50,
            items: strictObject(['method', 'path', 'rateLimit', 'burstLimit'], {
              method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
              path: { type: 'string', maxLength: 512, pattern: '^/storage/v1/catalog(/[A-Za-z0-9{}_-]+)*$', 'x-hint': 'must be a route under /storage/v1/catalog' },
              rateLimit: { type: 'number', minimum: 1, maximum: 10000 },
              burstLimit: { type: 'integer', minimum: 1, maximum: 5000 },
            }),
          },
        }),
        cache: strictObject(['enabled', 'ttlSeconds'], {
          enabled: { type: 'boolean' },
          // https://docs.aws.amazon.com/apigateway/latest/api/API_CreateStage.html (`cacheClusterSize`)
          sizeGb: { enum: [...API_CACHE_SIZES] },
          // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html (TTL 0–3600 s)
          ttlSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
        }),
        // Names: alphanumerics and _; values: alphanumerics and - . _ ~ : / ? # & = , up to 512
        // (https://docs.aws.amazon.com/apigateway/latest/developerguide/aws-api-gateway-stage-variables-reference.html)
        stageVariables: {
          type: 'object',
          maxProperties: 100,
          propertyNames: { pattern: '^[A-Za-z0-9_]{1,64}$', 'x-hint': 'stage variable names are letters, digits and _ (at most 64)' },
          additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9\\-._~:/?#&=,]{0,512}$', 'x-hint': 'stage variable values are letters, digits and - . _ ~ : / ? # & = , (at most 512)' },
        },
        executionLogging: { enum: ['OFF', 'ERROR', 'INFO'] },
      }),
      lambda: strictObject(['runtime', 'architecture', 'provisionedConcurrency', 'accountConcurrencyLimit', 'functions'], {
        // Supported, non-deprecated Node runtimes: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
        runtime: { enum: ['nodejs22.x', 'nodejs24.x'] },
        architecture: { enum: ['arm64', 'x86_64'] },
        provisionedConcurrency: { type: 'integer', minimum: 0, maximum: 1000 },
        // https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (default 1,000; raised on request)
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
        jwksUri: httpsUrl,
        issuer: httpsUrl,
        // Goes into the authorizer's environment (4 KB for all variables,
        // https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html); control and
        // bidi characters are refused for every string by ./rules.ts.
        audience: { type: 'string', minLength: 1, maxLength: 256 },
      }),
      evidenceLedger: strictObject(['busArn'], {
        // https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateEventBus.html (`Name`:
        // [/\.\-_A-Za-z0-9]+, ≤ 256); ./rules.ts checks the ARN's region against its partition.
        busArn: {
          type: 'string',
          pattern: `^arn:(${partitions.join('|')}):events:[a-z0-9-]+:\\d{12}:event-bus/[A-Za-z0-9._-]{1,256}$`,
          'x-hint': 'must be an EventBridge event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
        },
      }),
      poller: strictObject(['externalApiBaseUrl', 'intervalSeconds', 'maxAttempts'], {
        externalApiBaseUrl: httpsUrl,
        intervalSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
        maxAttempts: { type: 'integer', minimum: 1, maximum: 10000 },
        backoff: strictObject(['rate', 'maxIntervalSeconds'], {
          // Step Functions Retry `BackoffRate` (1.0 minimum); `MaxDelaySeconds` up to a day here.
          rate: { type: 'number', minimum: 1, maximum: 10 },
          maxIntervalSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
        }),
      }),
      alarms: strictObject(['api5xxRatePercent', 'p99LatencyMs', 'authFailureRatePercent', 'replicaLagSeconds', 'concurrencyUtilizationPercent', 'evaluationMinutes'], {
        api5xxRatePercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        // API Gateway's integration timeout is 29 s.
        p99LatencyMs: { type: 'integer', minimum: 1, maximum: 29000 },
        authFailureRatePercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        replicaLagSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
        concurrencyUtilizationPercent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
        evaluationMinutes: { type: 'integer', minimum: 1, maximum: 60 },
        notificationEmail: { type: 'string', maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', 'x-hint': 'must be an email address' },
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
        // Where the traffic shift runs by default: this process, or the env's release state machine.
        shift: { enum: ['cli', 'aws'] },
      }),
      artifacts: strictObject(['bucket', 'prefix'], {
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html: 3–63 of
        // a-z 0-9 . -, starting and ending with a letter or digit, no `..`, not an IP address, not
        // starting xn-- / sthree- / amzn-s3-demo-, not ending -s3alias / --ol-s3 / .mrap / --x-s3 / --table-s3.
        bucket: {
          type: 'string',
          pattern: '^(?!xn--|sthree-|amzn-s3-demo-)(?!.*\\.\\.)(?!\\d+\\.\\d+\\.\\d+\\.\\d+$)(?!.*(-s3alias|--ol-s3|\\.mrap|--x-s3|--table-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
          'x-hint': 'must be a valid S3 bucket name (lower-case letters, digits, . and -, 3–63 chars; see the S3 bucket naming rules)',
        },
        // Key prefix: S3's "safe characters" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html)
        // without `*` and `'`: the prefix also goes into IAM policy ARNs, where `*` and `?` are
        // wildcards (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
        // Segments joined by single `/`, none of them `.` or `..`, no leading or trailing `/`.
        prefix: {
          type: 'string',
          maxLength: 200,
          pattern: '^(?!(.*/)?\\.{1,2}(/|$))[A-Za-z0-9!_.()-]+(/[A-Za-z0-9!_.()-]+)*$',
          'x-hint': 'must be an S3 key prefix: segments of letters, digits and ! _ . ( ) - joined by single /, no * or ?, no . or .. segments, no leading or trailing /',
        },
      }),
    },
  );
}
