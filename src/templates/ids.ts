/**
 * Every logical id of the five stacks in one place: resources per stack, Parameters, Conditions
 * and Outputs. A later stack takes an upstream Output as a Parameter of the same name (no
 * Fn::ImportValue, DESIGN.md), so `OUT` names double as those Parameters' names. Names that exist
 * once per function, route, subnet or replica are functions of it.
 */
import { FUNCTION_NAMES, type FunctionName } from '../config/types.ts';

/** `{ A: 'A', B: 'B' }` from `'A', 'B'`: each id written once, and a typo in a use is a type error. */
function ids<const T extends string>(...names: T[]): { readonly [K in T]: K } {
  return Object.freeze(Object.fromEntries(names.map((n) => [n, n]))) as { readonly [K in T]: K };
}

export const pascal = (fn: string): string =>
  fn
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');

/** catalog-network */
export const NETWORK = ids(
  'Vpc',
  'PrivateRouteTable',
  'FlowLogKey',
  'FlowLogGroup',
  'FlowLogRole',
  'FlowLog',
  'LambdaSecurityGroup',
  'LambdaToDatabaseEgress',
  'DatabaseSecurityGroup',
  'DatabaseIngressFromLambda',
  'ProxySecurityGroup',
  'LambdaToProxyEgress',
  'ProxyIngressFromLambda',
  'ProxyToDatabaseEgress',
  'DatabaseIngressFromProxy',
  'EndpointSecurityGroup',
  'RotationSecurityGroup',
  'DatabaseIngressFromRotation',
  'EndpointIngressFromRotation',
  'SecretsManagerEndpoint',
  'RdsEndpoint',
  'EventsEndpoint',
  'LogsEndpoint',
  'StatesEndpoint',
  'S3Endpoint',
);
/** The two private subnets (index 0, 1) and their route table associations. */
export const privateSubnetId = (i: number): string => `PrivateSubnet${'AB'[i]}`;
export const subnetRouteTableAssociationId = (i: number): string => `${privateSubnetId(i)}RouteTableAssociation`;

/** catalog-storage */
export const STORAGE = ids('DatabaseKey', 'DatabaseSubnetGroup', 'DatabaseParameterGroup', 'MonitoringRole', 'Database', 'DatabaseProxy', 'DatabaseProxyTargetGroup', 'DatabaseProxyRole');
export const replicaId = (i: number): string => `DatabaseReplica${i + 1}`;

/** catalog-secrets */
export const SECRETS = ids('SecretsKey', 'AppDbSecret', 'AppDbSecretRotation', 'PollerTokenSecret');

/** catalog-service */
export const SERVICE = ids(
  'PgLayer',
  'RestApi',
  'StorageResource',
  'V1Resource',
  'CatalogResource',
  'DatasetsResource',
  'DatasetResource',
  'CatalogsResource',
  'JwtAuthorizer',
  'AuthorizerInvokePermission',
  'BootstrapDeployment',
  'ApiAccessLogGroup',
  'ApiGatewayCloudWatchRole',
  'ApiGatewayAccount',
  'ApiStage',
  'AuditBus',
  'EvidenceLedgerRole',
  'AuditToEvidenceLedgerRule',
  'AuditLogGroup',
  'AuditLogRule',
  'AuditLogResourcePolicy',
  'AuditRelaySchedule',
  'AuditRelaySchedulePermission',
  'PollerLogGroup',
  'PollerRole',
  'PollerStateMachine',
);
/** An API route's method and (once per function, method and path) the permission to invoke it. */
export const routeIds = (routeId: string) => ({ method: `${routeId}Method`, invokePermission: `${routeId}InvokePermission` });

/** catalog-observability */
export const OBSERVABILITY = ids(
  'NotificationKey',
  'NotificationTopic',
  'NotificationTopicPolicy',
  'NotificationEmail',
  'Api5xxRateAlarm',
  'ApiLatencyP99Alarm',
  'AuthFailureMetricFilter',
  'AuthFailureRateAlarm',
  'ReplicaLagAlarm',
  'ConcurrencyAlarm',
  'ThrottlesAlarm',
  'AuthorizerFailuresAlarm',
  'PollerFailedAlarm',
  'PollerTimedOutAlarm',
  'PollerExecutionTimeAlarm',
  'PollerThrottlesAlarm',
  'FreeStorageSpaceAlarm',
  'Dashboard',
);

/** Stack Outputs; the ones a later stack needs are also that stack's Parameters of the same name. */
export const OUT = ids(
  // catalog-network
  'VpcId',
  'SubnetIds',
  'LambdaSecurityGroupId',
  'DbSecurityGroupId',
  'ProxySecurityGroupId',
  'RotationSecurityGroupId',
  // catalog-storage
  'DbEndpointAddress',
  'DbEndpointPort',
  'DbInstanceIdentifier',
  'DbMasterSecretArn',
  'DbKmsKeyArn',
  'DbReadReplicaAddresses',
  'DbReplicaIdentifier',
  'DbProxyEndpoint',
  'DbProxyResourceId',
  'DbProxyName',
  // catalog-secrets
  'AppDbSecretArn',
  'PollerTokenSecretArn',
  'SecretsKmsKeyArn',
  // catalog-service (and FunctionName<Fn> per function, below)
  'RestApiId',
  'RestApiName',
  'StageName',
  'ApiUrl',
  'ApiAccessLogGroupName',
  'StateMachineArn',
  'AuditBusName',
  'AuditLogGroupName',
  // catalog-observability
  'AlarmNames',
  'NotificationTopicArn',
  'DashboardName',
);

/** Parameters that are not an upstream Output: env defaults, the layer key, what is live now. */
export const PARAM = ids(
  'DBInstanceClass',
  'DBAllocatedStorage',
  'ArtifactBucket',
  'LayerKeyPg',
  'LiveDeploymentId',
  'ApiThrottlingRate',
  'ApiThrottlingBurst',
  'LambdaProvisionedConcurrency',
  'ApiCacheSize',
  // catalog-storage: what `catalogctl db restore` restored the database from (kept by deploy).
  'RestoreSourceDBInstanceIdentifier',
  'RestoreTime',
  'RestoreDBSnapshotIdentifier',
  'RestoredMasterSecretArn',
  // catalog-secrets: the app secret's connection details at its creation (kept by deploy).
  'AppDbSecretHost',
  'AppDbSecretPort',
  'AppDbSecretMasterArn',
);
export const PG_LAYER_KEY_PARAMETER = PARAM.LayerKeyPg;

export const CONDITION = ids('HasLiveDeploymentId', 'HasProvisionedConcurrency', 'IsRestoredFromInstance', 'IsRestoredFromSnapshot', 'IsRestored', 'HasRestoreTime', 'HasRestoredMasterSecretArn');

/** S3 key of a function's zip (from the package manifest; deploy fills it). */
export const codeKeyParameter = (fn: FunctionName): string => `CodeKey${pascal(fn)}`;
/** Version a `live` alias serves now (deploy fills it from the live alias). */
export const liveVersionParameter = (fn: FunctionName): string => `LiveVersion${pascal(fn)}`;

function namesOf(fn: FunctionName) {
  const p = pascal(fn);
  return {
    function: `${p}Function`,
    role: `${p}Role`,
    logGroup: `${p}LogGroup`,
    bootstrapVersion: `${p}BootstrapVersion`,
    liveAlias: `${p}LiveAlias`,
    codeKey: codeKeyParameter(fn),
    liveVersion: liveVersionParameter(fn),
    hasLiveVersion: `Has${liveVersionParameter(fn)}`,
    /** catalog-service Output, catalog-observability Parameter (alarm dimensions). */
    functionNameOutput: `FunctionName${p}`,
    errorsAlarm: `${p}ErrorsAlarm`,
  };
}
// Built once: the builders ask for these names many times per render.
const FN_IDS = Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, Object.freeze(namesOf(fn))])) as Record<FunctionName, Readonly<ReturnType<typeof namesOf>>>;

/** Everything named after one function, in catalog-service and catalog-observability. */
export const fnIds = (fn: FunctionName): Readonly<ReturnType<typeof namesOf>> => FN_IDS[fn];

/** catalog-service: the release state machine, its role and log group (./release-resources.ts). */
export const RELEASE = ids('ReleaseLogGroup', 'ReleaseRole', 'ReleaseStateMachine');
/** catalog-service Output: the release state machine `release --on aws` starts. */
export const RELEASE_OUT = ids('ReleaseStateMachineArn');
