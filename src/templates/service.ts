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
import {
  allow,
  assumeRole,
  checkovSkip,
  Fn,
  functionName,
  ifProperty,
  logGroup,
  noValue,
  policyDocument,
  rolePolicy,
  sub,
  tags,
  type Condition,
  type Output,
  type Parameter,
  type PolicyStatement,
  type Template,
  type Value,
} from './cfn.ts';
import { CONDITION, fnIds, OUT, PARAM, routeIds, SERVICE as S } from './ids.ts';
import { ApiGateway, Events, IAM, Lambda, Logs, removalPolicy, StepFunctions, type MethodSetting, type ResourceBase } from './resources.ts';
import { releaseOutputs, releaseResources } from './release-resources.ts';
import { buildStateMachine } from './state-machine.ts';

type Resources = Record<string, ResourceBase>;

const API_ROOT = '/storage/v1/catalog';
/** Functions that talk to PostgreSQL: in the VPC, with the pg layer and the DB secret. */
const DB_FUNCTIONS: readonly FunctionName[] = ['list-datasets', 'get-dataset', 'write-dataset', 'update-catalog-db', 'migrate', 'audit-relay'];

const isApi = (fn: FunctionName) => (API_FUNCTIONS as readonly string[]).includes(fn);

interface Route {
  id: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  resource: typeof S.DatasetsResource | typeof S.DatasetResource | typeof S.CatalogsResource;
  fn: FunctionName;
  cacheKeys: string[];
}

/**
 * What every cached GET keys on besides its own parameters: API Gateway answers a cache hit after
 * the authorizer, to whoever matches the key (the key is built from method request parameters
 * only, never from the authorizer's context). The caller's token keeps one tenant's page from
 * another; If-None-Match keeps a cached 304 from a client that sent no validator.
 */
const CALLER_CACHE_KEYS = ['method.request.header.Authorization', 'method.request.header.If-None-Match'] as const;

const ROUTES: Route[] = [
  { id: 'ListDatasets', method: 'GET', resource: S.DatasetsResource, fn: 'list-datasets', cacheKeys: [...CALLER_CACHE_KEYS, 'method.request.querystring.limit', 'method.request.querystring.cursor'] },
  { id: 'GetDataset', method: 'GET', resource: S.DatasetResource, fn: 'get-dataset', cacheKeys: [...CALLER_CACHE_KEYS, 'method.request.path.id'] },
  { id: 'CreateDataset', method: 'POST', resource: S.DatasetsResource, fn: 'write-dataset', cacheKeys: [] },
  { id: 'UpdateDataset', method: 'PUT', resource: S.DatasetResource, fn: 'write-dataset', cacheKeys: ['method.request.path.id'] },
  { id: 'DeleteDataset', method: 'DELETE', resource: S.DatasetResource, fn: 'write-dataset', cacheKeys: ['method.request.path.id'] },
  { id: 'CreateCatalog', method: 'POST', resource: S.CatalogsResource, fn: 'write-dataset', cacheKeys: [] },
];
const RESOURCE_PATHS: Record<Route['resource'], string> = {
  [S.DatasetsResource]: `${API_ROOT}/datasets`,
  [S.DatasetResource]: `${API_ROOT}/datasets/{id}`,
  [S.CatalogsResource]: `${API_ROOT}/catalogs`,
};

/** MethodSettings paths are the resource path with / escaped as ~1. */
const settingsPath = (path: string) => `/${path.replace(/\//g, '~1')}`;

/** The ARN API Gateway invokes for a function: its `live` alias, so releases move API traffic. */
const invocationUri = (fn: FunctionName) => sub(`arn:\${AWS::Partition}:apigateway:\${AWS::Region}:lambda:path/2015-03-31/functions/\${${fnIds(fn).liveAlias}}/invocations`);

// --- Lambda: layer, per-function role, function, bootstrap version and `live` alias ---

function pgLayerResource(config: EnvConfig) {
  return new Lambda.LayerVersion({
    Description: 'PostgreSQL driver (pg) for the Catalog functions',
    Content: { S3Bucket: Fn.Ref(PARAM.ArtifactBucket), S3Key: Fn.Ref(PARAM.LayerKeyPg) },
    CompatibleRuntimes: [config.lambda.runtime],
    CompatibleArchitectures: [config.lambda.architecture],
  });
}

const readDbSecret: PolicyStatement[] = [allow('secretsmanager:GetSecretValue', Fn.Ref(OUT.AppDbSecretArn)), allow('kms:Decrypt', Fn.Ref(OUT.SecretsKmsKeyArn))];

/** Functions whose writes go through RDS Proxy when the env has one (migrate connects to the instance as the master). */
const PROXY_FUNCTIONS: readonly FunctionName[] = ['list-datasets', 'get-dataset', 'write-dataset', 'update-catalog-db', 'audit-relay'];
const viaProxy = (config: EnvConfig, fn: FunctionName) => config.database.proxy?.enabled === true && PROXY_FUNCTIONS.includes(fn);

/** Through RDS Proxy: log in as the IAM database user with a token (rds-db:connect on the proxy's resource id). */
function proxyConnectPolicy(config: EnvConfig, fn: FunctionName): PolicyStatement[] {
  if (!viaProxy(config, fn)) return [];
  return [allow('rds-db:connect', sub(`arn:\${AWS::Partition}:rds-db:\${AWS::Region}:\${AWS::AccountId}:dbuser:\${${OUT.DbProxyResourceId}}/${config.database.appUsername}_iam`))];
}

/** Where writes connect when the env has a proxy, and how successful requests are logged. */
function proxyAndLoggingEnvironment(config: EnvConfig, fn: FunctionName): Record<string, Value<string>> {
  return {
    ...(viaProxy(config, fn) ? { DB_PROXY_HOST: Fn.Ref(OUT.DbProxyEndpoint), DB_IAM_USER: `${config.database.appUsername}_iam` } : {}),
    // The seed: success logs sampled (1 % in prod), errors always logged (src/handlers/shared/http.ts).
    ...(isApi(fn) && fn !== 'authorizer' ? { LOG_SUCCESS_SAMPLE_RATE: String(config.logging.successLogSampleRate) } : {}),
    // migrate creates the IAM user the proxy path logs in as.
    ...(fn === 'migrate' && config.database.proxy?.enabled ? { DB_IAM_USER: `${config.database.appUsername}_iam` } : {}),
  };
}

/** Only what each function calls: its own log group, X-Ray, the secrets and APIs its handler uses. */
function functionPolicies(fn: FunctionName): PolicyStatement[] {
  const logs = allow(['logs:CreateLogStream', 'logs:PutLogEvents'], Fn.GetAtt(fnIds(fn).logGroup, 'Arn'));
  const putAudit = allow('events:PutEvents', Fn.GetAtt(S.AuditBus, 'Arn'));
  const xray = allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], '*');
  const base = [logs, xray, allow('kms:Decrypt', Fn.Ref(OUT.SecretsKmsKeyArn))];
  switch (fn) {
    case 'list-datasets':
    case 'get-dataset':
    case 'update-catalog-db':
      return [...base, ...readDbSecret];
    case 'migrate':
      // It bootstraps the app role as the master: the RDS-managed master secret, decrypted by
      // Secrets Manager with the database key on migrate's behalf, and through nothing else.
      return [
        ...base,
        ...readDbSecret,
        allow('secretsmanager:GetSecretValue', Fn.Ref(OUT.DbMasterSecretArn)),
        { ...allow('kms:Decrypt', Fn.Ref(OUT.DbKmsKeyArn)), Condition: { StringEquals: { 'kms:ViaService': sub('secretsmanager.${AWS::Region}.amazonaws.com') } } },
      ];
    case 'write-dataset':
      return [...base, ...readDbSecret, putAudit, allow('states:StartExecution', Fn.Ref(S.PollerStateMachine))];
    case 'audit-relay':
      return [...base, ...readDbSecret, putAudit];
    case 'authorizer':
      // The JWKS is public, fetched from auth.jwksUri: no secret to read.
      return base;
    case 'check-catalog-status':
      return [...base, allow('secretsmanager:GetSecretValue', Fn.Ref(OUT.PollerTokenSecretArn))];
  }
}

/**
 * The environment each handler reads (docs/handlers.md); secrets travel as ARNs only. Nothing for
 * Node itself: the zips carry no source maps and no AWS SDK, and the RDS CAs are in them (a CA
 * bundle in NODE_EXTRA_CA_CERTS costs every cold start). No DB_USER: the user comes from the
 * secret, and multi-user rotation alternates it.
 */
function functionEnvironment(config: EnvConfig, fn: FunctionName): Record<string, Value<string>> {
  const a = config.app;
  const db = {
    DB_HOST: Fn.Ref(OUT.DbEndpointAddress),
    DB_PORT: Fn.Ref(OUT.DbEndpointPort),
    DB_NAME: config.database.databaseName,
    DB_SECRET_ARN: Fn.Ref(OUT.AppDbSecretArn),
    DB_MAX_CONN: String(a.dbMaxConn),
  };
  // Reads that may lag go to the replicas where the env has them; writes stay on DB_HOST.
  const reader: Record<string, Value<string>> = config.database.readReplicas > 0 ? { DB_READER_HOST: Fn.Ref(OUT.DbReadReplicaAddresses) } : {};
  const app = {
    READ_PAGE_LIMIT: String(a.readPageLimit),
    CACHE_TTL_SEC: String(a.cacheTtlSec),
    DRR_INTEGRATION: String(a.drrIntegration),
    AUDIT_ASYNC: String(a.auditAsync),
    // Handlers publish to the catalog audit bus; its rule forwards to the Evidence Ledger bus.
    EVIDENCE_BUS_ARN: Fn.GetAtt(S.AuditBus, 'Arn'),
  };
  const vars: Record<FunctionName, Record<string, Value<string>>> = {
    'list-datasets': { ...db, ...reader, ...app },
    'get-dataset': { ...db, ...reader, ...app },
    'write-dataset': { ...db, ...app, STATE_MACHINE_ARN: Fn.Ref(S.PollerStateMachine) },
    authorizer: { JWT_JWKS_URI: config.auth.jwksUri, JWT_ISSUER: config.auth.issuer, JWT_AUDIENCE: config.auth.audience },
    'check-catalog-status': { EXTERNAL_API_BASE_URL: config.poller.externalApiBaseUrl, TOKEN_SECRET_ARN: Fn.Ref(OUT.PollerTokenSecretArn) },
    'update-catalog-db': db,
    migrate: { ...db, DB_MASTER_SECRET_ARN: Fn.Ref(OUT.DbMasterSecretArn) },
    'audit-relay': { ...db, EVIDENCE_BUS_ARN: Fn.GetAtt(S.AuditBus, 'Arn') },
  };
  return vars[fn];
}

function functionRoleResource(config: EnvConfig, fn: FunctionName) {
  return new IAM.Role({
    Description: `Catalog ${config.name} ${fn}: only what this function needs`,
    AssumeRolePolicyDocument: assumeRole('lambda.amazonaws.com'),
    ManagedPolicyArns: DB_FUNCTIONS.includes(fn) ? [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole')] : [],
    Policies: [rolePolicy(`${fn}-least-privilege`, [...functionPolicies(fn), ...proxyConnectPolicy(config, fn)])],
    Tags: tags(config),
  });
}

function functionResource(config: EnvConfig, fn: FunctionName) {
  const id = fnIds(fn);
  const settings = config.lambda.functions[fn];
  const inVpc = DB_FUNCTIONS.includes(fn);
  return new Lambda.Function({
    FunctionName: functionName(config, fn),
    Description: `Catalog ${config.name}: ${fn}`,
    Runtime: config.lambda.runtime,
    Architectures: [config.lambda.architecture],
    Handler: 'index.handler',
    Code: { S3Bucket: Fn.Ref(PARAM.ArtifactBucket), S3Key: Fn.Ref(id.codeKey) },
    MemorySize: settings.memoryMb,
    Timeout: settings.timeoutSeconds,
    Role: Fn.GetAtt(id.role, 'Arn'),
    KmsKeyArn: Fn.Ref(OUT.SecretsKmsKeyArn),
    Environment: { Variables: { ...functionEnvironment(config, fn), ...proxyAndLoggingEnvironment(config, fn) } },
    TracingConfig: { Mode: 'Active' },
    LoggingConfig: { LogFormat: 'JSON', LogGroup: Fn.Ref(id.logGroup) },
    Layers: inVpc ? [Fn.Ref(S.PgLayer)] : undefined,
    VpcConfig: inVpc ? { SubnetIds: Fn.Ref(OUT.SubnetIds), SecurityGroupIds: [Fn.Ref(OUT.LambdaSecurityGroupId)] } : undefined,
    Tags: tags(config),
  }).metadata(
    checkovSkip([
      { id: 'CKV_AWS_116', comment: 'Invoked synchronously by API Gateway or Step Functions, or on a schedule that retries by itself; a DLQ would never receive anything.' },
      { id: 'CKV_AWS_115', comment: 'Concurrency is governed by API Gateway throttling and provisioned concurrency on the live alias; a reserved cap would turn bursts into throttles.' },
      ...(inVpc ? [] : [{ id: 'CKV_AWS_117', comment: fn === 'authorizer' ? 'Fetches the JWKS from the identity provider on the internet and never touches the database.' : 'Calls the external catalog API on the internet (no NAT in the VPC) and never touches the database.' }]),
    ]),
  );
}

/** The first version, kept forever: the alias falls back to it until a release records one. */
function bootstrapVersionResource(fn: FunctionName) {
  return removalPolicy(new Lambda.Version({ FunctionName: Fn.Ref(fnIds(fn).function), Description: 'first version; later versions are published by catalogctl release' }), 'Retain');
}

/** `live` serves the version deploy found live (LiveVersion*), so a change set never moves traffic. */
function liveAliasResource(fn: FunctionName) {
  const id = fnIds(fn);
  return new Lambda.Alias({
    FunctionName: Fn.Ref(id.function),
    Name: 'live',
    Description: 'moved only by catalogctl release and rollback',
    FunctionVersion: Fn.If(id.hasLiveVersion, Fn.Ref(id.liveVersion), Fn.GetAtt(id.bootstrapVersion, 'Version')),
    ProvisionedConcurrencyConfig: ifProperty(CONDITION.HasProvisionedConcurrency, { ProvisionedConcurrentExecutions: Fn.Ref(PARAM.LambdaProvisionedConcurrency) }, noValue),
  });
}

function lambdaResources(config: EnvConfig): Resources {
  const resources: Resources = { [S.PgLayer]: pgLayerResource(config) };
  for (const fn of FUNCTION_NAMES) {
    const id = fnIds(fn);
    resources[id.logGroup] = logGroup(config, `/aws/lambda/${functionName(config, fn)}`, Fn.Ref(OUT.SecretsKmsKeyArn));
    resources[id.role] = functionRoleResource(config, fn);
    resources[id.function] = functionResource(config, fn);
    if (isApi(fn)) {
      resources[id.bootstrapVersion] = bootstrapVersionResource(fn);
      resources[id.liveAlias] = liveAliasResource(fn);
    }
  }
  return resources;
}

// --- API: REST API, paths, JWT authorizer, methods, stage ---

function restApiResource(config: EnvConfig) {
  return new ApiGateway.RestApi({
    Name: `catalog-${config.name}`,
    Description: `Catalog ${config.name} API`,
    EndpointConfiguration: { Types: ['REGIONAL'] },
    DisableExecuteApiEndpoint: false,
    Tags: tags(config),
  });
}

/** /storage/v1/catalog/{datasets/{id}, catalogs} */
function apiPathResources(): Resources {
  const chain: [string, string, Value<string>][] = [
    [S.StorageResource, 'storage', Fn.GetAtt(S.RestApi, 'RootResourceId')],
    [S.V1Resource, 'v1', Fn.Ref(S.StorageResource)],
    [S.CatalogResource, 'catalog', Fn.Ref(S.V1Resource)],
    [S.DatasetsResource, 'datasets', Fn.Ref(S.CatalogResource)],
    [S.DatasetResource, '{id}', Fn.Ref(S.DatasetsResource)],
    [S.CatalogsResource, 'catalogs', Fn.Ref(S.CatalogResource)],
  ];
  return Object.fromEntries(chain.map(([id, part, parent]) => [id, new ApiGateway.Resource({ RestApiId: Fn.Ref(S.RestApi), ParentId: parent, PathPart: part })]));
}

/** The TOKEN authorizer (the authorizer function's `live` alias) and its permission to be invoked. */
function jwtAuthorizerResources(): Resources {
  return {
    [S.JwtAuthorizer]: new ApiGateway.Authorizer({
      Name: 'platform-jwt',
      RestApiId: Fn.Ref(S.RestApi),
      Type: 'TOKEN',
      IdentitySource: 'method.request.header.Authorization',
      IdentityValidationExpression: '^Bearer [A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*$',
      AuthorizerResultTtlInSeconds: 300,
      AuthorizerUri: invocationUri('authorizer'),
    }),
    [S.AuthorizerInvokePermission]: new Lambda.Permission({
      Action: 'lambda:InvokeFunction',
      FunctionName: Fn.Ref(fnIds('authorizer').liveAlias),
      Principal: 'apigateway.amazonaws.com',
      SourceArn: sub(`arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${S.RestApi}}/authorizers/\${${S.JwtAuthorizer}}`),
    }),
  };
}

function routeMethodResource(r: Route) {
  return new ApiGateway.Method({
    RestApiId: Fn.Ref(S.RestApi),
    ResourceId: Fn.Ref(r.resource),
    HttpMethod: r.method,
    AuthorizationType: 'CUSTOM',
    AuthorizerId: Fn.Ref(S.JwtAuthorizer),
    // Path parameters are required, query strings and headers optional (the authorizer already
    // refuses a request without Authorization); each is a cache key where listed.
    RequestParameters: Object.fromEntries(r.cacheKeys.map((k) => [k, k.includes('.path.')])),
    Integration: {
      Type: 'AWS_PROXY',
      IntegrationHttpMethod: 'POST',
      Uri: invocationUri(r.fn),
      CacheKeyParameters: r.cacheKeys.length ? r.cacheKeys : undefined,
      CacheNamespace: r.cacheKeys.length ? r.id : undefined,
    },
  });
}

function routeInvokePermissionResource(r: Route) {
  return new Lambda.Permission({
    Action: 'lambda:InvokeFunction',
    FunctionName: Fn.Ref(fnIds(r.fn).liveAlias),
    Principal: 'apigateway.amazonaws.com',
    SourceArn: sub(`arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${${S.RestApi}}/*/${r.method}${RESOURCE_PATHS[r.resource].replace('{id}', '*')}`),
  });
}

/** One method per route; one invoke permission per function, method and path. */
function routeResources(): Resources {
  const resources: Resources = {};
  const permitted = new Set<string>();
  for (const r of ROUTES) {
    const id = routeIds(r.id);
    resources[id.method] = routeMethodResource(r);
    const permKey = `${r.fn}:${r.method}:${r.resource}`;
    if (permitted.has(permKey)) continue;
    permitted.add(permKey);
    resources[id.invokePermission] = routeInvokePermissionResource(r);
  }
  return resources;
}

/** Execution logging needs the account-wide CloudWatch role; access logs go to their own group. */
function apiLoggingResources(config: EnvConfig): Resources {
  return {
    [S.ApiAccessLogGroup]: logGroup(config, `/aws/apigateway/catalog-${config.name}/access`, Fn.Ref(OUT.SecretsKmsKeyArn)),
    [S.ApiGatewayCloudWatchRole]: new IAM.Role({
      AssumeRolePolicyDocument: assumeRole('apigateway.amazonaws.com'),
      ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
      Tags: tags(config),
    }),
    [S.ApiGatewayAccount]: new ApiGateway.Account({ CloudWatchRoleArn: Fn.GetAtt(S.ApiGatewayCloudWatchRole, 'Arn') }),
  };
}

/** Throttling from the stack parameters for everything; caching stays off except on GET routes. */
function defaultMethodSetting(config: EnvConfig): MethodSetting {
  return {
    ResourcePath: '/*',
    HttpMethod: '*',
    ThrottlingRateLimit: Fn.Ref(PARAM.ApiThrottlingRate),
    ThrottlingBurstLimit: Fn.Ref(PARAM.ApiThrottlingBurst),
    LoggingLevel: config.api.executionLogging,
    MetricsEnabled: true,
    DataTraceEnabled: false,
    CachingEnabled: false,
    CacheDataEncrypted: true,
  };
}

/** GET routes: cached (when the env turns the cache on), encrypted, with any per-route throttle. */
function cacheMethodSettings(config: EnvConfig): MethodSetting[] {
  const api = config.api;
  return ROUTES.filter((r) => r.method === 'GET').map((r) => {
    const override = api.throttling.routes.find((o) => o.method === r.method && o.path === RESOURCE_PATHS[r.resource]);
    return {
      ResourcePath: settingsPath(RESOURCE_PATHS[r.resource]),
      HttpMethod: 'GET',
      ThrottlingRateLimit: override ? override.rateLimit : Fn.Ref(PARAM.ApiThrottlingRate),
      ThrottlingBurstLimit: override ? override.burstLimit : Fn.Ref(PARAM.ApiThrottlingBurst),
      LoggingLevel: api.executionLogging,
      MetricsEnabled: true,
      DataTraceEnabled: false,
      CachingEnabled: api.cache.enabled,
      CacheDataEncrypted: true,
      CacheTtlInSeconds: api.cache.ttlSeconds,
    };
  });
}

/** Per-route throttles the env file sets on the other methods. */
function throttleOverrideMethodSettings(config: EnvConfig): MethodSetting[] {
  const api = config.api;
  return api.throttling.routes
    .filter((o) => o.method !== 'GET')
    .map((o) => ({ ResourcePath: settingsPath(o.path), HttpMethod: o.method, ThrottlingRateLimit: o.rateLimit, ThrottlingBurstLimit: o.burstLimit, LoggingLevel: api.executionLogging, MetricsEnabled: true, DataTraceEnabled: false }));
}

/** One JSON object per request; the auth-failure metric filter reads `status`. */
const ACCESS_LOG_FORMAT = JSON.stringify({
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

function apiStageResource(config: EnvConfig) {
  const api = config.api;
  const caching = api.cache.enabled;
  return new ApiGateway.Stage({
    RestApiId: Fn.Ref(S.RestApi),
    StageName: api.stageName,
    // Deployment and variables (feature flags, DRR toggle) are set only by catalogctl release and
    // rollback, so a stack update never changes what the stage serves.
    Description: `Catalog ${config.name}; deployment and variables set only by catalogctl release and rollback`,
    DeploymentId: Fn.If(CONDITION.HasLiveDeploymentId, Fn.Ref(PARAM.LiveDeploymentId), Fn.Ref(S.BootstrapDeployment)),
    CacheClusterEnabled: caching,
    CacheClusterSize: Fn.Ref(PARAM.ApiCacheSize),
    TracingEnabled: true,
    MethodSettings: [defaultMethodSetting(config), ...cacheMethodSettings(config), ...throttleOverrideMethodSettings(config)],
    AccessLogSetting: { DestinationArn: Fn.GetAtt(S.ApiAccessLogGroup, 'Arn'), Format: ACCESS_LOG_FORMAT },
    Tags: tags(config),
  })
    .dependsOn([S.ApiGatewayAccount])
    .metadata(
      checkovSkip([
        { id: 'CKV2_AWS_29', comment: 'A WAF web ACL is attached by the platform edge team per account, outside this service stack.' },
        ...(caching ? [] : [{ id: 'CKV_AWS_120', comment: 'The env file turns the API cache off (the seed: dev has no API cache); GET caching is on in staging and prod.' }]),
      ]),
    );
}

function apiResources(config: EnvConfig): Resources {
  return {
    [S.RestApi]: restApiResource(config),
    ...apiPathResources(),
    ...jwtAuthorizerResources(),
    ...routeResources(),
    [S.BootstrapDeployment]: new ApiGateway.Deployment({ RestApiId: Fn.Ref(S.RestApi), Description: 'first deployment; later deployments are created by catalogctl release' }).dependsOn(ROUTES.map((r) => routeIds(r.id).method)),
    ...apiLoggingResources(config),
    [S.ApiStage]: apiStageResource(config),
  };
}

// --- Audit events to the Evidence Ledger, and the status poller ---

/**
 * A second rule on the audit bus delivers every catalog audit event to a log group, which
 * `catalogctl verify` reads to see a synthetic write's event reach the bus the ledger is fed from.
 * EventBridge writes to CloudWatch Logs under the group's resource policy, never a role (EventBridge
 * User Guide, resource-based policies: no RoleArn for CloudWatch Logs targets); the target is the
 * group's ARN without the `:*` its Arn attribute carries.
 */
function auditLogResources(config: EnvConfig): Resources {
  const groupArn = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:\${${S.AuditLogGroup}}`;
  const writers = { Service: ['events.amazonaws.com', 'delivery.logs.amazonaws.com'] };
  return {
    [S.AuditLogGroup]: logGroup(config, `/aws/events/catalog-${config.name}-audit`, Fn.Ref(OUT.SecretsKmsKeyArn)),
    [S.AuditLogRule]: new Events.Rule({
      Description: 'Delivers every catalog audit event to the audit log group (read by catalogctl verify)',
      EventBusName: Fn.Ref(S.AuditBus),
      EventPattern: { source: ['catalog.service'] },
      State: 'ENABLED',
      Targets: [{ Id: 'audit-log-group', Arn: sub(groupArn) }],
    }),
    // Account-wide and limited to 10 per region, hence one per env, named after it. Creating a
    // stream needs no condition (the stream is empty); writing events only from this rule.
    [S.AuditLogResourcePolicy]: new Logs.ResourcePolicy({
      PolicyName: `catalog-${config.name}-audit-events`,
      PolicyDocument: sub(
        JSON.stringify(
          policyDocument([
            { Sid: 'EventBridgeCreatesStreams', Effect: 'Allow', Principal: writers, Action: 'logs:CreateLogStream', Resource: `${groupArn}:*` },
            {
              Sid: 'AuditRuleWritesEvents',
              Effect: 'Allow',
              Principal: writers,
              Action: 'logs:PutLogEvents',
              Resource: `${groupArn}:*`,
              Condition: { ArnEquals: { 'aws:SourceArn': `\${${S.AuditLogRule}.Arn}` } },
            },
          ]),
        ),
      ),
    }),
  };
}

function auditResources(config: EnvConfig): Resources {
  const relay = fnIds('audit-relay').function;
  return {
    ...auditLogResources(config),
    [S.AuditBus]: new Events.EventBus({ Name: `catalog-${config.name}-audit`, Tags: tags(config) }),
    [S.EvidenceLedgerRole]: new IAM.Role({
      Description: 'Lets the audit rule put events on the Evidence Ledger bus, nothing else',
      AssumeRolePolicyDocument: assumeRole('events.amazonaws.com'),
      Policies: [rolePolicy('put-evidence-ledger', [allow('events:PutEvents', config.evidenceLedger.busArn)])],
      Tags: tags(config),
    }),
    [S.AuditToEvidenceLedgerRule]: new Events.Rule({
      Description: 'Ships catalog audit events to the Evidence Ledger bus',
      EventBusName: Fn.Ref(S.AuditBus),
      EventPattern: { source: ['catalog.service'] },
      State: 'ENABLED',
      Targets: [{ Id: 'evidence-ledger', Arn: config.evidenceLedger.busArn, RoleArn: Fn.GetAtt(S.EvidenceLedgerRole, 'Arn') }],
    }),
    [S.AuditRelaySchedule]: new Events.Rule({ Description: 'Republishes audit events left unsent', ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED', Targets: [{ Id: 'audit-relay', Arn: Fn.GetAtt(relay, 'Arn') }] }),
    [S.AuditRelaySchedulePermission]: new Lambda.Permission({ Action: 'lambda:InvokeFunction', FunctionName: Fn.Ref(relay), Principal: 'events.amazonaws.com', SourceArn: Fn.GetAtt(S.AuditRelaySchedule, 'Arn') }),
  };
}

function pollerRoleResource(config: EnvConfig) {
  return new IAM.Role({
    Description: 'Catalog Status Poller: may invoke its two functions and write its logs',
    AssumeRolePolicyDocument: assumeRole('states.amazonaws.com'),
    Policies: [
      rolePolicy('invoke-poller-functions', [allow('lambda:InvokeFunction', [Fn.GetAtt(fnIds('check-catalog-status').function, 'Arn'), Fn.GetAtt(fnIds('update-catalog-db').function, 'Arn')])]),
      // Log delivery and X-Ray APIs take no resource ARNs (AWS Step Functions docs).
      rolePolicy('poller-logs-and-traces', [
        allow(['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups'], '*'),
        allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'], '*'),
      ]),
    ],
    Tags: tags(config),
  });
}

/** The poller's ASL (./state-machine.ts) with its two Task placeholders filled by Fn::Sub. */
function pollerStateMachineResource(config: EnvConfig) {
  return new StepFunctions.StateMachine({
    StateMachineName: `catalog-${config.name}-status-poller`,
    StateMachineType: 'STANDARD',
    RoleArn: Fn.GetAtt(S.PollerRole, 'Arn'),
    DefinitionString: sub(canonicalJson(buildStateMachine(config)).trimEnd(), {
      CheckCatalogStatusFunctionArn: Fn.GetAtt(fnIds('check-catalog-status').function, 'Arn'),
      UpdateCatalogDbFunctionArn: Fn.GetAtt(fnIds('update-catalog-db').function, 'Arn'),
    }),
    LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Fn.GetAtt(S.PollerLogGroup, 'Arn') } }] },
    TracingConfiguration: { Enabled: true },
    Tags: tags(config),
  });
}

function pollerResources(config: EnvConfig): Resources {
  return {
    [S.PollerLogGroup]: logGroup(config, `/aws/vendedlogs/states/catalog-${config.name}-status-poller`, Fn.Ref(OUT.SecretsKmsKeyArn)),
    [S.PollerRole]: pollerRoleResource(config),
    [S.PollerStateMachine]: pollerStateMachineResource(config),
  };
}

// --- The stack: parameters (upstream Outputs, code keys, what is live), conditions, outputs ---

function serviceParameters(config: EnvConfig): Record<string, Parameter> {
  const zipKey = { Type: 'String', AllowedPattern: '^[A-Za-z0-9!_.*()/-]+\\.zip$' };
  const parameters: Record<string, Parameter> = {
    [PARAM.ArtifactBucket]: { Type: 'String', Default: config.artifacts.bucket, AllowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$', Description: 'Bucket holding the Lambda artifacts' },
    [PARAM.LayerKeyPg]: { ...zipKey, Description: 'S3 key of the pg layer zip (from the package manifest)' },
    [OUT.SubnetIds]: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets (catalog-network output)' },
    [OUT.LambdaSecurityGroupId]: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Lambda security group (catalog-network output)' },
    [OUT.DbEndpointAddress]: { Type: 'String', Description: 'Database endpoint (catalog-storage output)' },
    [OUT.DbEndpointPort]: { Type: 'String', Description: 'Database port (catalog-storage output)' },
    [OUT.DbMasterSecretArn]: { Type: 'String', Description: 'RDS-managed master secret, read by migrate only (catalog-storage output)' },
    [OUT.DbKmsKeyArn]: { Type: 'String', Description: 'Key of the master secret (catalog-storage output)' },
    [OUT.AppDbSecretArn]: { Type: 'String', Description: 'App DB user secret (catalog-secrets output)' },
    [OUT.PollerTokenSecretArn]: { Type: 'String', Description: 'External-API token secret (catalog-secrets output)' },
    [OUT.SecretsKmsKeyArn]: { Type: 'String', Description: 'Key of the secrets and function environments (catalog-secrets output)' },
    [PARAM.LiveDeploymentId]: { Type: 'String', Default: '', AllowedPattern: '^[a-z0-9]{0,16}$', Description: 'Deployment the stage serves now; filled by catalogctl from the live stage' },
    [PARAM.ApiThrottlingRate]: { Type: 'Number', Default: config.api.throttling.rateLimit, MinValue: 1, MaxValue: 10000, Description: 'API steady rate (requests/s)' },
    [PARAM.ApiThrottlingBurst]: { Type: 'Number', Default: config.api.throttling.burstLimit, MinValue: 1, MaxValue: 5000, Description: 'API burst limit' },
    [PARAM.LambdaProvisionedConcurrency]: { Type: 'Number', Default: config.lambda.provisionedConcurrency, MinValue: 0, MaxValue: 1000, Description: 'Provisioned concurrency on each live alias (0 = on demand)' },
    [PARAM.ApiCacheSize]: {
      Type: 'String',
      Default: config.api.cache.sizeGb ?? '0.5',
      AllowedValues: ['0.5', '1.6', '6.1', '13.5', '28.4', '58.2', '118', '237'],
      Description: 'API Gateway cache size (GB), used when caching is on',
    },
  };
  if (config.database.proxy?.enabled) {
    parameters[OUT.DbProxyEndpoint] = { Type: 'String', Description: 'RDS Proxy endpoint (catalog-storage output)' };
    parameters[OUT.DbProxyResourceId] = { Type: 'String', Description: 'RDS Proxy resource id (catalog-storage output)' };
  }
  if (config.database.readReplicas > 0) parameters[OUT.DbReadReplicaAddresses] = { Type: 'String', Description: 'Read replica endpoints, comma-separated (catalog-storage output)' };
  for (const fn of FUNCTION_NAMES) parameters[fnIds(fn).codeKey] = { ...zipKey, Description: `S3 key of the ${fn} zip (from the package manifest)` };
  for (const fn of API_FUNCTIONS) {
    parameters[fnIds(fn).liveVersion] = { Type: 'String', Default: '', AllowedPattern: '^[0-9]*$', Description: `Version the ${fn} live alias serves now; filled by catalogctl from the live alias` };
  }
  return parameters;
}

function serviceConditions(): Record<string, Condition> {
  const conditions: Record<string, Condition> = {
    [CONDITION.HasLiveDeploymentId]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.LiveDeploymentId), '')),
    [CONDITION.HasProvisionedConcurrency]: Fn.Not(Fn.Equals(Fn.Ref(PARAM.LambdaProvisionedConcurrency), 0)),
  };
  for (const fn of API_FUNCTIONS) conditions[fnIds(fn).hasLiveVersion] = Fn.Not(Fn.Equals(Fn.Ref(fnIds(fn).liveVersion), ''));
  return conditions;
}

function serviceOutputs(config: EnvConfig): Record<string, Output> {
  const outputs: Record<string, Output> = {};
  for (const fn of FUNCTION_NAMES) outputs[fnIds(fn).functionNameOutput] = { Description: `Function ${fn}`, Value: Fn.Ref(fnIds(fn).function) };
  return {
    ...outputs,
    [OUT.RestApiId]: { Description: 'REST API id', Value: Fn.Ref(S.RestApi) },
    [OUT.RestApiName]: { Description: 'REST API name (CloudWatch dimension)', Value: `catalog-${config.name}` },
    [OUT.StageName]: { Description: 'API stage', Value: Fn.Ref(S.ApiStage) },
    [OUT.ApiUrl]: { Description: 'Base URL of the API', Value: sub(`https://\${${S.RestApi}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/${config.api.stageName}`) },
    [OUT.ApiAccessLogGroupName]: { Description: 'Access log group (auth-failure metric)', Value: Fn.Ref(S.ApiAccessLogGroup) },
    [OUT.StateMachineArn]: { Description: 'Catalog Status Poller', Value: Fn.Ref(S.PollerStateMachine) },
    [OUT.AuditBusName]: { Description: 'Catalog audit bus', Value: Fn.Ref(S.AuditBus) },
    [OUT.AuditLogGroupName]: { Description: 'Log group every audit event on the bus is delivered to (catalogctl verify reads it)', Value: Fn.Ref(S.AuditLogGroup) },
  };
}

export function buildServiceStack(config: EnvConfig): Template {
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: API, functions, live aliases, audit rule and status poller`,
    Parameters: serviceParameters(config),
    Conditions: serviceConditions(),
    Resources: { ...lambdaResources(config), ...apiResources(config), ...auditResources(config), ...pollerResources(config), ...releaseResources(config) },
    Outputs: { ...serviceOutputs(config), ...releaseOutputs() },
  };
}
