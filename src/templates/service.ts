/**
 * catalog-service: the eight functions (each with its own least-privilege role), `live` aliases,
 * the REST API with its JWT authorizer, throttling, GET caching and JSON access logs, the audit
 * bus rule to the Evidence Ledger, and the status poller's state machine.
 *
 * Traffic is moved only by `catalogctl release`/`rollback`: each alias serves the version in its
 * LiveVersion* parameter and the stage the deployment in LiveDeploymentId, both filled by deploy
 * with what is live now. Empty (first create) falls back to bootstrap resources that never change.
 */
import { API_FUNCTIONS, FUNCTION_NAMES, type EnvConfig, type FunctionName } from '../config/types.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { assumeRole, checkovSkip, equals, functionName, getAtt, ifThen, logGroup, noValue, not, pascal, ref, sub, tags, type Json, type Obj, type Template } from './cfn-json.ts';
import { codeKeyParameter, liveVersionParameter } from './ids.ts';
import { buildStateMachine } from './state-machine.ts';


const API_ROOT = '/storage/v1/catalog';
/** Functions that talk to PostgreSQL: in the VPC, with the pg layer and the DB secret. */
const DB_FUNCTIONS: readonly FunctionName[] = ['list-datasets', 'get-dataset', 'write-dataset', 'update-catalog-db', 'migrate', 'audit-relay'];

const fnId = (fn: FunctionName) => `${pascal(fn)}Function`;
const roleId = (fn: FunctionName) => `${pascal(fn)}Role`;
const aliasId = (fn: FunctionName) => `${pascal(fn)}LiveAlias`;
const isApi = (fn: FunctionName) => (API_FUNCTIONS as readonly string[]).includes(fn);

interface Route {
  id: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  resource: string;
  fn: FunctionName;
  cacheKeys: string[];
}

const ROUTES: Route[] = [
  { id: 'ListDatasets', method: 'GET', resource: 'DatasetsResource', fn: 'list-datasets', cacheKeys: ['method.request.querystring.limit', 'method.request.querystring.cursor'] },
  { id: 'GetDataset', method: 'GET', resource: 'DatasetResource', fn: 'get-dataset', cacheKeys: ['method.request.path.id'] },
  { id: 'CreateDataset', method: 'POST', resource: 'DatasetsResource', fn: 'write-dataset', cacheKeys: [] },
  { id: 'UpdateDataset', method: 'PUT', resource: 'DatasetResource', fn: 'write-dataset', cacheKeys: ['method.request.path.id'] },
  { id: 'DeleteDataset', method: 'DELETE', resource: 'DatasetResource', fn: 'write-dataset', cacheKeys: ['method.request.path.id'] },
  { id: 'CreateCatalog', method: 'POST', resource: 'CatalogsResource', fn: 'write-dataset', cacheKeys: [] },
];
const RESOURCE_PATHS: Record<string, string> = {
  DatasetsResource: `${API_ROOT}/datasets`,
  DatasetResource: `${API_ROOT}/datasets/{id}`,
  CatalogsResource: `${API_ROOT}/catalogs`,
};

/** MethodSettings paths are the resource path with / escaped as ~1. */
const settingsPath = (path: string) => `/${path.replace(/\//g, '~1')}`;

function policy(name: string, statements: Json[]): Obj {
  return { PolicyName: name, PolicyDocument: { Version: '2012-10-17', Statement: statements } };
}

const readDbSecret: Json[] = [
  { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref('AppDbSecretArn') },
  { Effect: 'Allow', Action: 'kms:Decrypt', Resource: ref('SecretsKmsKeyArn') },
];

function functionPolicies(fn: FunctionName): Json[] {
  const logs = { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: getAtt(`${pascal(fn)}LogGroup`, 'Arn') };
  const putAudit = { Effect: 'Allow', Action: 'events:PutEvents', Resource: getAtt('AuditBus', 'Arn') };
  const xray = { Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' };
  const base = [logs, xray, { Effect: 'Allow', Action: 'kms:Decrypt', Resource: ref('SecretsKmsKeyArn') }];
  switch (fn) {
    case 'list-datasets':
    case 'get-dataset':
    case 'update-catalog-db':
    case 'migrate':
      return [...base, ...readDbSecret];
    case 'write-dataset':
      return [...base, ...readDbSecret, putAudit, { Effect: 'Allow', Action: 'states:StartExecution', Resource: ref('PollerStateMachine') }];
    case 'audit-relay':
      return [...base, ...readDbSecret, putAudit];
    case 'authorizer':
      return [...base, { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref('JwtKeysSecretArn') }];
    case 'check-catalog-status':
      return [...base, { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref('PollerTokenSecretArn') }];
  }
}

function environment(config: EnvConfig, fn: FunctionName): Obj {
  const a = config.app;
  const common: Obj = { NODE_OPTIONS: '--enable-source-maps', AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1' };
  const db: Obj = {
    DB_HOST: ref('DbEndpointAddress'),
    DB_PORT: ref('DbEndpointPort'),
    DB_NAME: config.database.databaseName,
    DB_USER: config.database.appUsername,
    DB_SECRET_ARN: ref('AppDbSecretArn'),
    DB_MAX_CONN: String(a.dbMaxConn),
    // RDS certificates are trusted through the runtime's CA bundle.
    NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
  };
  const app: Obj = {
    READ_PAGE_LIMIT: String(a.readPageLimit),
    CACHE_TTL_SEC: String(a.cacheTtlSec),
    DRR_INTEGRATION: String(a.drrIntegration),
    AUDIT_ASYNC: String(a.auditAsync),
    // Handlers publish to the catalog audit bus; its rule forwards to the Evidence Ledger bus.
    EVIDENCE_BUS_ARN: getAtt('AuditBus', 'Arn'),
  };
  const vars: Record<FunctionName, Obj> = {
    'list-datasets': { ...db, ...app },
    'get-dataset': { ...db, ...app },
    'write-dataset': { ...db, ...app, STATE_MACHINE_ARN: ref('PollerStateMachine') },
    authorizer: { JWT_JWKS_URI: config.auth.jwksUri, JWT_ISSUER: config.auth.issuer, JWT_AUDIENCE: config.auth.audience },
    'check-catalog-status': { EXTERNAL_API_BASE_URL: config.poller.externalApiBaseUrl, TOKEN_SECRET_ARN: ref('PollerTokenSecretArn') },
    'update-catalog-db': db,
    migrate: db,
    'audit-relay': { ...db, EVIDENCE_BUS_ARN: getAtt('AuditBus', 'Arn') },
  };
  return { Variables: { ...common, ...vars[fn] } };
}

function lambdaResources(config: EnvConfig, resources: Record<string, Obj>): void {
  resources.PgLayer = {
    Type: 'AWS::Lambda::LayerVersion',
    Properties: {
      Description: 'PostgreSQL driver (pg) for the Catalog functions',
      Content: { S3Bucket: ref('ArtifactBucket'), S3Key: ref('LayerKeyPg') },
      CompatibleRuntimes: [config.lambda.runtime],
      CompatibleArchitectures: [config.lambda.architecture],
    },
  };
  for (const fn of FUNCTION_NAMES) {
    const name = functionName(config, fn);
    const settings = config.lambda.functions[fn];
    const inVpc = DB_FUNCTIONS.includes(fn);
    resources[`${pascal(fn)}LogGroup`] = logGroup(config, `/aws/lambda/${name}`, ref('SecretsKmsKeyArn'));
    resources[roleId(fn)] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: `Catalog ${config.name} ${fn}: only what this function needs`,
        AssumeRolePolicyDocument: assumeRole('lambda.amazonaws.com'),
        ManagedPolicyArns: inVpc ? [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole')] : [],
        Policies: [policy(`${fn}-least-privilege`, functionPolicies(fn))],
        Tags: tags(config),
      },
    };
    resources[fnId(fn)] = {
      Type: 'AWS::Lambda::Function',
      Metadata: checkovSkip([
        { id: 'CKV_AWS_116', comment: 'Invoked synchronously by API Gateway or Step Functions, or on a schedule that retries by itself; a DLQ would never receive anything.' },
        { id: 'CKV_AWS_115', comment: 'Concurrency is governed by API Gateway throttling and provisioned concurrency on the live alias; a reserved cap would turn bursts into throttles.' },
        ...(inVpc ? [] : [{ id: 'CKV_AWS_117', comment: fn === 'authorizer' ? 'Fetches the JWKS from the identity provider on the internet and never touches the database.' : 'Calls the external catalog API on the internet (no NAT in the VPC) and never touches the database.' }]),
      ]),
      Properties: {
        FunctionName: name,
        Description: `Catalog ${config.name}: ${fn}`,
        Runtime: config.lambda.runtime,
        Architectures: [config.lambda.architecture],
        Handler: 'index.handler',
        Code: { S3Bucket: ref('ArtifactBucket'), S3Key: ref(codeKeyParameter(fn)) },
        MemorySize: settings.memoryMb,
        Timeout: settings.timeoutSeconds,
        Role: getAtt(roleId(fn), 'Arn'),
        KmsKeyArn: ref('SecretsKmsKeyArn'),
        Environment: environment(config, fn),
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: ref(`${pascal(fn)}LogGroup`) },
        ...(inVpc ? { Layers: [ref('PgLayer')], VpcConfig: { SubnetIds: ref('SubnetIds'), SecurityGroupIds: [ref('LambdaSecurityGroupId')] } } : {}),
        Tags: tags(config),
      },
    };
    if (isApi(fn)) {
      const p = pascal(fn);
      resources[`${p}BootstrapVersion`] = {
        Type: 'AWS::Lambda::Version',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { FunctionName: ref(fnId(fn)), Description: 'first version; later versions are published by catalogctl release' },
      };
      resources[aliasId(fn)] = {
        Type: 'AWS::Lambda::Alias',
        Properties: {
          FunctionName: ref(fnId(fn)),
          Name: 'live',
          Description: 'moved only by catalogctl release and rollback',
          FunctionVersion: ifThen(`Has${liveVersionParameter(fn)}`, ref(liveVersionParameter(fn)), getAtt(`${p}BootstrapVersion`, 'Version')),
          ProvisionedConcurrencyConfig: ifThen('HasProvisionedConcurrency', { ProvisionedConcurrentExecutions: ref('LambdaProvisionedConcurrency') }, noValue),
        },
      };
    }
  }
}

function apiResources(config: EnvConfig, resources: Record<string, Obj>): void {
  const api = config.api;
  resources.RestApi = {
    Type: 'AWS::ApiGateway::RestApi',
    Properties: {
      Name: `catalog-${config.name}`,
      Description: `Catalog ${config.name} API`,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      DisableExecuteApiEndpoint: false,
      Tags: tags(config),
    },
  };
  // /storage/v1/catalog/{datasets/{id}, catalogs}
  const chain: [string, string, Json][] = [
    ['StorageResource', 'storage', getAtt('RestApi', 'RootResourceId')],
    ['V1Resource', 'v1', ref('StorageResource')],
    ['CatalogResource', 'catalog', ref('V1Resource')],
    ['DatasetsResource', 'datasets', ref('CatalogResource')],
    ['DatasetResource', '{id}', ref('DatasetsResource')],
    ['CatalogsResource', 'catalogs', ref('CatalogResource')],
  ];
  for (const [id, part, parent] of chain) resources[id] = { Type: 'AWS::ApiGateway::Resource', Properties: { RestApiId: ref('RestApi'), ParentId: parent, PathPart: part } };

  resources.JwtAuthorizer = {
    Type: 'AWS::ApiGateway::Authorizer',
    Properties: {
      Name: 'platform-jwt',
      RestApiId: ref('RestApi'),
      Type: 'TOKEN',
      IdentitySource: 'method.request.header.Authorization',
      IdentityValidationExpression: '^Bearer [A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*$',
      AuthorizerResultTtlInSeconds: 300,
      AuthorizerUri: sub(`arn:\${AWS::Partition}:apigateway:\${AWS::Region}:lambda:path/2015-03-31/functions/\${${aliasId('authorizer')}}/invocations`),
    },
  };
  resources.AuthorizerInvokePermission = {
    Type: 'AWS::Lambda::Permission',
    Properties: { Action: 'lambda:InvokeFunction', FunctionName: ref(aliasId('authorizer')), Principal: 'apigateway.amazonaws.com', SourceArn: sub('arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestApi}/authorizers/${JwtAuthorizer}') },
  };
  const methodIds: string[] = [];
  const permitted = new Set<string>();
  for (const r of ROUTES) {
    const id = `${r.id}Method`;
    methodIds.push(id);
    const params: Obj = {};
    for (const k of r.cacheKeys) params[k] = k.includes('.path.');
    resources[id] = {
      Type: 'AWS::ApiGateway::Method',
      Properties: {
        RestApiId: ref('RestApi'),
        ResourceId: ref(r.resource),
        HttpMethod: r.method,
        AuthorizationType: 'CUSTOM',
        AuthorizerId: ref('JwtAuthorizer'),
        RequestParameters: params,
        Integration: {
          Type: 'AWS_PROXY',
          IntegrationHttpMethod: 'POST',
          Uri: sub(`arn:\${AWS::Partition}:apigateway:\${AWS::Region}:lambda:path/2015-03-31/functions/\${${aliasId(r.fn)}}/invocations`),
          ...(r.cacheKeys.length ? { CacheKeyParameters: r.cacheKeys, CacheNamespace: r.id } : {}),
        },
      },
    };
    const permKey = `${r.fn}:${r.method}:${r.resource}`;
    if (!permitted.has(permKey)) {
      permitted.add(permKey);
      resources[`${r.id}InvokePermission`] = {
        Type: 'AWS::Lambda::Permission',
        Properties: {
          Action: 'lambda:InvokeFunction',
          FunctionName: ref(aliasId(r.fn)),
          Principal: 'apigateway.amazonaws.com',
          SourceArn: sub(`arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${RestApi}/*/${r.method}${RESOURCE_PATHS[r.resource]!.replace('{id}', '*')}`),
        },
      };
    }
  }
  resources.BootstrapDeployment = {
    Type: 'AWS::ApiGateway::Deployment',
    DependsOn: methodIds,
    Properties: { RestApiId: ref('RestApi'), Description: 'first deployment; later deployments are created by catalogctl release' },
  };
  resources.ApiAccessLogGroup = logGroup(config, `/aws/apigateway/catalog-${config.name}/access`, ref('SecretsKmsKeyArn'));
  resources.ApiGatewayCloudWatchRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      AssumeRolePolicyDocument: assumeRole('apigateway.amazonaws.com'),
      ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
      Tags: tags(config),
    },
  };
  resources.ApiGatewayAccount = { Type: 'AWS::ApiGateway::Account', Properties: { CloudWatchRoleArn: getAtt('ApiGatewayCloudWatchRole', 'Arn') } };

  const caching = api.cache.enabled;
  const methodSettings: Json[] = [
    {
      ResourcePath: '/*',
      HttpMethod: '*',
      ThrottlingRateLimit: ref('ApiThrottlingRate'),
      ThrottlingBurstLimit: ref('ApiThrottlingBurst'),
      LoggingLevel: api.executionLogging,
      MetricsEnabled: true,
      DataTraceEnabled: false,
      CachingEnabled: false,
      CacheDataEncrypted: true,
    },
  ];
  for (const r of ROUTES.filter((x) => x.method === 'GET')) {
    const override = api.throttling.routes.find((o) => o.method === r.method && o.path === RESOURCE_PATHS[r.resource]);
    methodSettings.push({
      ResourcePath: settingsPath(RESOURCE_PATHS[r.resource]!),
      HttpMethod: 'GET',
      ThrottlingRateLimit: override ? override.rateLimit : ref('ApiThrottlingRate'),
      ThrottlingBurstLimit: override ? override.burstLimit : ref('ApiThrottlingBurst'),
      LoggingLevel: api.executionLogging,
      MetricsEnabled: true,
      DataTraceEnabled: false,
      CachingEnabled: caching,
      CacheDataEncrypted: true,
      CacheTtlInSeconds: api.cache.ttlSeconds,
    });
  }
  for (const o of api.throttling.routes.filter((x) => x.method !== 'GET')) {
    methodSettings.push({ ResourcePath: settingsPath(o.path), HttpMethod: o.method, ThrottlingRateLimit: o.rateLimit, ThrottlingBurstLimit: o.burstLimit, LoggingLevel: api.executionLogging, MetricsEnabled: true, DataTraceEnabled: false });
  }
  const accessLogFormat = JSON.stringify({
    requestId: '$context.requestId',
    extendedRequestId: '$context.extendedRequestId',
    tenantId: '$context.authorizer.tenantId',
    principalId: '$context.authorizer.principalId',
    ip: '$context.identity.sourceIp',
    requestTime: '$context.requestTime',
    httpMethod: '$context.httpMethod',
    resourcePath: '$context.resourcePath',
    status: '$context.status',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    authorizerError: '$context.authorizer.error',
  });
  resources.ApiStage = {
    Type: 'AWS::ApiGateway::Stage',
    DependsOn: ['ApiGatewayAccount'],
    Metadata: checkovSkip([
      { id: 'CKV2_AWS_29', comment: 'A WAF web ACL is attached by the platform edge team per account, outside this service stack.' },
      ...(caching ? [] : [{ id: 'CKV_AWS_120', comment: 'The env file turns the API cache off (the seed: dev has no API cache); GET caching is on in staging and prod.' }]),
    ]),
    Properties: {
      RestApiId: ref('RestApi'),
      StageName: api.stageName,
      // Deployment and variables (feature flags, DRR toggle) are set only by catalogctl release and
      // rollback, so a stack update never changes what the stage serves.
      Description: `Catalog ${config.name}; deployment and variables set only by catalogctl release and rollback`,
      DeploymentId: ifThen('HasLiveDeploymentId', ref('LiveDeploymentId'), ref('BootstrapDeployment')),
      CacheClusterEnabled: caching,
      CacheClusterSize: ref('ApiCacheSize'),
      TracingEnabled: true,
      MethodSettings: methodSettings,
      AccessLogSetting: { DestinationArn: getAtt('ApiAccessLogGroup', 'Arn'), Format: accessLogFormat },
      Tags: tags(config),
    },
  };
}

function auditAndPollerResources(config: EnvConfig, resources: Record<string, Obj>): void {
  resources.AuditBus = { Type: 'AWS::Events::EventBus', Properties: { Name: `catalog-${config.name}-audit`, Tags: tags(config) } };
  resources.EvidenceLedgerRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: 'Lets the audit rule put events on the Evidence Ledger bus, nothing else',
      AssumeRolePolicyDocument: assumeRole('events.amazonaws.com'),
      Policies: [policy('put-evidence-ledger', [{ Effect: 'Allow', Action: 'events:PutEvents', Resource: config.evidenceLedger.busArn }])],
      Tags: tags(config),
    },
  };
  resources.AuditToEvidenceLedgerRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Description: 'Ships catalog audit events to the Evidence Ledger bus',
      EventBusName: ref('AuditBus'),
      EventPattern: { source: ['catalog.service'] },
      State: 'ENABLED',
      Targets: [{ Id: 'evidence-ledger', Arn: config.evidenceLedger.busArn, RoleArn: getAtt('EvidenceLedgerRole', 'Arn') }],
    },
  };
  resources.AuditRelaySchedule = {
    Type: 'AWS::Events::Rule',
    Properties: { Description: 'Republishes audit events left unsent', ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED', Targets: [{ Id: 'audit-relay', Arn: getAtt(fnId('audit-relay'), 'Arn') }] },
  };
  resources.AuditRelaySchedulePermission = {
    Type: 'AWS::Lambda::Permission',
    Properties: { Action: 'lambda:InvokeFunction', FunctionName: ref(fnId('audit-relay')), Principal: 'events.amazonaws.com', SourceArn: getAtt('AuditRelaySchedule', 'Arn') },
  };

  resources.PollerLogGroup = logGroup(config, `/aws/vendedlogs/states/catalog-${config.name}-status-poller`, ref('SecretsKmsKeyArn'));
  resources.PollerRole = {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: 'Catalog Status Poller: may invoke its two functions and write its logs',
      AssumeRolePolicyDocument: assumeRole('states.amazonaws.com'),
      Policies: [
        policy('invoke-poller-functions', [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [getAtt(fnId('check-catalog-status'), 'Arn'), getAtt(fnId('update-catalog-db'), 'Arn')] }]),
        // Log delivery and X-Ray APIs take no resource ARNs (AWS Step Functions docs).
        policy('poller-logs-and-traces', [
          { Effect: 'Allow', Action: ['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups'], Resource: '*' },
          { Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'], Resource: '*' },
        ]),
      ],
      Tags: tags(config),
    },
  };
  resources.PollerStateMachine = {
    Type: 'AWS::StepFunctions::StateMachine',
    Properties: {
      StateMachineName: `catalog-${config.name}-status-poller`,
      StateMachineType: 'STANDARD',
      RoleArn: getAtt('PollerRole', 'Arn'),
      DefinitionString: sub(canonicalJson(buildStateMachine(config)).trimEnd(), {
        CheckCatalogStatusFunctionArn: getAtt(fnId('check-catalog-status'), 'Arn'),
        UpdateCatalogDbFunctionArn: getAtt(fnId('update-catalog-db'), 'Arn'),
      }),
      LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: getAtt('PollerLogGroup', 'Arn') } }] },
      TracingConfiguration: { Enabled: true },
      Tags: tags(config),
    },
  };
}

export function buildServiceStack(config: EnvConfig): Template {
  const resources: Record<string, Obj> = {};
  lambdaResources(config, resources);
  apiResources(config, resources);
  auditAndPollerResources(config, resources);

  const parameters: Record<string, Obj> = {
    ArtifactBucket: { Type: 'String', Default: config.artifacts.bucket, AllowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', Description: 'Bucket holding the Lambda artifacts' },
    LayerKeyPg: { Type: 'String', AllowedPattern: '^[A-Za-z0-9!_.*()/-]+\\.zip$', Description: 'S3 key of the pg layer zip (from the package manifest)' },
    SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets (catalog-network output)' },
    LambdaSecurityGroupId: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Lambda security group (catalog-network output)' },
    DbEndpointAddress: { Type: 'String', Description: 'Database endpoint (catalog-storage output)' },
    DbEndpointPort: { Type: 'String', Description: 'Database port (catalog-storage output)' },
    AppDbSecretArn: { Type: 'String', Description: 'App DB user secret (catalog-secrets output)' },
    JwtKeysSecretArn: { Type: 'String', Description: 'JWT verification settings secret (catalog-secrets output)' },
    PollerTokenSecretArn: { Type: 'String', Description: 'External-API token secret (catalog-secrets output)' },
    SecretsKmsKeyArn: { Type: 'String', Description: 'Key of the secrets and function environments (catalog-secrets output)' },
    LiveDeploymentId: { Type: 'String', Default: '', AllowedPattern: '^[a-z0-9]{0,16}$', Description: 'Deployment the stage serves now; filled by catalogctl from the live stage' },
    ApiThrottlingRate: { Type: 'Number', Default: config.api.throttling.rateLimit, MinValue: 1, MaxValue: 10000, Description: 'API steady rate (requests/s)' },
    ApiThrottlingBurst: { Type: 'Number', Default: config.api.throttling.burstLimit, MinValue: 1, MaxValue: 5000, Description: 'API burst limit' },
    LambdaProvisionedConcurrency: { Type: 'Number', Default: config.lambda.provisionedConcurrency, MinValue: 0, MaxValue: 1000, Description: 'Provisioned concurrency on each live alias (0 = on demand)' },
    ApiCacheSize: { Type: 'String', Default: config.api.cache.sizeGb ?? '0.5', AllowedValues: ['0.5', '1.6', '6.1', '13.5', '28.4', '58.2', '118', '237'], Description: 'API Gateway cache size (GB), used when caching is on' },
  };
  const conditions: Record<string, Obj> = {
    HasLiveDeploymentId: not(equals(ref('LiveDeploymentId'), '')),
    HasProvisionedConcurrency: not(equals(ref('LambdaProvisionedConcurrency'), 0)),
  };
  for (const fn of FUNCTION_NAMES) {
    parameters[codeKeyParameter(fn)] = { Type: 'String', AllowedPattern: '^[A-Za-z0-9!_.*()/-]+\\.zip$', Description: `S3 key of the ${fn} zip (from the package manifest)` };
  }
  for (const fn of API_FUNCTIONS) {
    parameters[liveVersionParameter(fn)] = { Type: 'String', Default: '', AllowedPattern: '^[0-9]*$', Description: `Version the ${fn} live alias serves now; filled by catalogctl from the live alias` };
    conditions[`Has${liveVersionParameter(fn)}`] = not(equals(ref(liveVersionParameter(fn)), ''));
  }

  const outputs: Record<string, Obj> = {};
  for (const fn of FUNCTION_NAMES) outputs[`FunctionName${pascal(fn)}`] = { Description: `Function ${fn}`, Value: ref(fnId(fn)) };
  Object.assign(outputs, {
    RestApiId: { Description: 'REST API id', Value: ref('RestApi') },
    RestApiName: { Description: 'REST API name (CloudWatch dimension)', Value: `catalog-${config.name}` },
    StageName: { Description: 'API stage', Value: ref('ApiStage') },
    ApiUrl: { Description: 'Base URL of the API', Value: sub(`https://\${RestApi}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/${config.api.stageName}`) },
    ApiAccessLogGroupName: { Description: 'Access log group (auth-failure metric)', Value: ref('ApiAccessLogGroup') },
    StateMachineArn: { Description: 'Catalog Status Poller', Value: ref('PollerStateMachine') },
    AuditBusName: { Description: 'Catalog audit bus', Value: ref('AuditBus') },
  });

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: API, functions, live aliases, audit rule and status poller`,
    Parameters: parameters,
    Conditions: conditions,
    Resources: resources,
    Outputs: outputs,
  };
}
