/**
 * catalog-observability: the seed's alarms (5xx rate, p99 latency, auth failures, replica lag,
 * throttles and concurrency), poller failure and time-out alarms, per-function error alarms (the
 * authorizer's on its own AuthorizerFailures metric), an
 * encrypted SNS topic for notifications and a dashboard. `AlarmNames` lists the alarms that gate
 * each traffic step of a release.
 */
import { API_FUNCTIONS, FUNCTION_NAMES, type EnvConfig, type FunctionName } from '../config/types.ts';
import { AUTHORIZER_METRICS } from '../handlers/authorizer/metrics.ts';
import { Fn, kmsKey, policyDocument, sub, tags, type Output, type Parameter, type Template } from './cfn.ts';
import { fnIds, OBSERVABILITY as O, OUT } from './ids.ts';
import { CloudWatch, Logs, SNS, type AlarmProperties, type MetricDataQuery, type ResourceBase } from './resources.ts';

const PERIOD = 60;

/** What makes one alarm: the metric side; name, actions and missing-data handling are common. */
type AlarmCondition = Omit<AlarmProperties, 'AlarmName' | 'AlarmDescription' | 'ActionsEnabled' | 'AlarmActions' | 'OKActions' | 'TreatMissingData'>;
interface AlarmSpec {
  id: string;
  name: string;
  description: string;
  /** Whether a firing alarm stops a release's traffic step (catalog-observability Output AlarmNames). */
  gate: boolean;
  condition: AlarmCondition;
}

const apiDimensions = () => [
  { Name: 'ApiName', Value: Fn.Ref(OUT.RestApiName) },
  { Name: 'Stage', Value: Fn.Ref(OUT.StageName) },
];
const functionDimensions = (fn: FunctionName) => [{ Name: 'FunctionName', Value: Fn.Ref(fnIds(fn).functionNameOutput) }];

const apiMetric = (id: string, metric: string, stat: string): MetricDataQuery => ({
  Id: id,
  ReturnData: false,
  MetricStat: { Metric: { Namespace: 'AWS/ApiGateway', MetricName: metric, Dimensions: apiDimensions() }, Period: PERIOD, Stat: stat },
});

// --- The alarms, in the order AlarmNames lists the gating ones ---

function api5xxRateAlarm(config: EnvConfig): AlarmSpec {
  const a = config.alarms;
  const minutes = a.evaluationMinutes;
  return {
    id: O.Api5xxRateAlarm,
    name: `catalog-${config.name}-api-5xx-rate`,
    description: `API 5xx responses above ${a.api5xxRatePercent}% for ${minutes} minutes`,
    gate: true,
    condition: {
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: a.api5xxRatePercent,
      EvaluationPeriods: minutes,
      DatapointsToAlarm: minutes,
      Metrics: [apiMetric('errors', '5XXError', 'Sum'), apiMetric('requests', 'Count', 'Sum'), { Id: 'rate', Label: '5xx %', Expression: 'IF(requests > 0, 100 * errors / requests, 0)', ReturnData: true }],
    },
  };
}

function apiLatencyP99Alarm(config: EnvConfig): AlarmSpec {
  const a = config.alarms;
  const minutes = a.evaluationMinutes;
  return {
    id: O.ApiLatencyP99Alarm,
    name: `catalog-${config.name}-api-p99-latency`,
    description: `API p99 latency above ${a.p99LatencyMs} ms for ${minutes} minutes`,
    gate: true,
    condition: {
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: apiDimensions(),
      ExtendedStatistic: 'p99',
      Period: PERIOD,
      EvaluationPeriods: minutes,
      DatapointsToAlarm: minutes,
      Threshold: a.p99LatencyMs,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };
}

/** Auth failures (counted by authFailureMetricFilterResource) as a share of all requests. */
function authFailureRateAlarm(config: EnvConfig): AlarmSpec {
  const a = config.alarms;
  const minutes = a.evaluationMinutes;
  return {
    id: O.AuthFailureRateAlarm,
    name: `catalog-${config.name}-auth-failure-rate`,
    description: `Auth failures above ${a.authFailureRatePercent}% of requests for ${minutes} minutes`,
    gate: true,
    condition: {
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: a.authFailureRatePercent,
      EvaluationPeriods: minutes,
      DatapointsToAlarm: minutes,
      Metrics: [
        { Id: 'failures', ReturnData: false, MetricStat: { Metric: { Namespace: `Catalog/${config.name}`, MetricName: 'AuthFailures' }, Period: PERIOD, Stat: 'Sum' } },
        apiMetric('requests', 'Count', 'Sum'),
        { Id: 'rate', Label: 'auth failure %', Expression: 'IF(requests > 0, 100 * failures / requests, 0)', ReturnData: true },
      ],
    },
  };
}

function replicaLagAlarm(config: EnvConfig): AlarmSpec {
  const a = config.alarms;
  return {
    id: O.ReplicaLagAlarm,
    name: `catalog-${config.name}-replica-lag`,
    description: `Read replica lag above ${a.replicaLagSeconds} s`,
    gate: false,
    condition: {
      Namespace: 'AWS/RDS',
      MetricName: 'ReplicaLag',
      Dimensions: [{ Name: 'DBInstanceIdentifier', Value: Fn.Ref(OUT.DbReplicaIdentifier) }],
      Statistic: 'Maximum',
      Period: PERIOD,
      EvaluationPeriods: a.evaluationMinutes,
      DatapointsToAlarm: a.evaluationMinutes,
      Threshold: a.replicaLagSeconds,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };
}

function concurrencyAlarm(config: EnvConfig): AlarmSpec {
  const a = config.alarms;
  const limit = config.lambda.accountConcurrencyLimit;
  return {
    id: O.ConcurrencyAlarm,
    name: `catalog-${config.name}-lambda-concurrency`,
    description: `Account Lambda concurrency at or above ${a.concurrencyUtilizationPercent}% of ${limit}`,
    gate: false,
    condition: {
      Namespace: 'AWS/Lambda',
      MetricName: 'ConcurrentExecutions',
      Statistic: 'Maximum',
      Period: PERIOD,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: Math.floor((limit * a.concurrencyUtilizationPercent) / 100),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    },
  };
}

/** Throttles summed over the API functions. */
function throttlesAlarm(config: EnvConfig): AlarmSpec {
  return {
    id: O.ThrottlesAlarm,
    name: `catalog-${config.name}-lambda-throttles`,
    description: 'API functions are being throttled',
    gate: true,
    condition: {
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: config.alarms.evaluationMinutes,
      DatapointsToAlarm: 2,
      Metrics: [
        ...API_FUNCTIONS.map((fn, i): MetricDataQuery => ({ Id: `t${i}`, ReturnData: false, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: functionDimensions(fn) }, Period: PERIOD, Stat: 'Sum' } })),
        { Id: 'total', Label: 'throttles', Expression: API_FUNCTIONS.map((_, i) => `t${i}`).join(' + '), ReturnData: true },
      ],
    },
  };
}

/**
 * The authorizer's own failures (JWKS unreachable, its settings missing, a crash), from the EMF
 * lines it writes to its log group, which CloudWatch Logs turns into metrics. Not Lambda's Errors:
 * API Gateway needs a thrown Unauthorized for a 401, so Errors counts every rejected token.
 */
function authorizerFailuresAlarm(config: EnvConfig): AlarmSpec {
  return {
    id: O.AuthorizerFailuresAlarm,
    name: `catalog-${config.name}-authorizer-failures`,
    description: 'authorizer could not decide (JWKS unreachable or invalid, settings missing, a crash); rejected tokens do not count',
    gate: true,
    condition: {
      Namespace: AUTHORIZER_METRICS.namespace,
      MetricName: AUTHORIZER_METRICS.failures,
      Dimensions: functionDimensions('authorizer'),
      Statistic: 'Sum',
      Period: PERIOD,
      EvaluationPeriods: config.alarms.evaluationMinutes,
      DatapointsToAlarm: 2,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };
}

/** Any invocation error; only the API functions' alarms gate a release. */
function functionErrorsAlarm(config: EnvConfig, fn: FunctionName): AlarmSpec {
  return {
    id: fnIds(fn).errorsAlarm,
    name: `catalog-${config.name}-${fn}-errors`,
    description: `${fn} invocation errors`,
    gate: (API_FUNCTIONS as readonly string[]).includes(fn),
    condition: {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: functionDimensions(fn),
      Statistic: 'Sum',
      Period: PERIOD,
      EvaluationPeriods: config.alarms.evaluationMinutes,
      DatapointsToAlarm: 2,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };
}

function pollerAlarms(config: EnvConfig): AlarmSpec[] {
  const alarms = [
    { id: O.PollerFailedAlarm, metric: 'ExecutionsFailed', suffix: 'failed' },
    { id: O.PollerTimedOutAlarm, metric: 'ExecutionsTimedOut', suffix: 'timed-out' },
  ];
  return alarms.map(({ id, metric, suffix }) => ({
    id,
    name: `catalog-${config.name}-poller-${suffix}`,
    description: `Catalog Status Poller ${metric}`,
    gate: false,
    condition: {
      Namespace: 'AWS/States',
      MetricName: metric,
      Dimensions: [{ Name: 'StateMachineArn', Value: Fn.Ref(OUT.StateMachineArn) }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  }));
}

/** The two poller functions, by the seed's names for their metrics. */
const POLLER_FUNCTIONS = ['check-catalog-status', 'update-catalog-db'] as const satisfies readonly FunctionName[];

/** The longest a poll run is meant to wait: maxAttempts checks, each after the (largest) interval. */
export function pollBudgetSeconds(config: EnvConfig): number {
  const p = config.poller;
  return p.maxAttempts * (p.backoff?.maxIntervalSeconds ?? p.intervalSeconds);
}

/**
 * An execution that ran over 80 % of the poll budget (the seed: 150 checks × 20 s = 50 minutes):
 * the external service is slow to report, or each check takes long. ExecutionTime is emitted per
 * finished execution, so the Maximum over 5 minutes is the slowest one that finished.
 */
function pollerExecutionTimeAlarm(config: EnvConfig): AlarmSpec {
  const budget = pollBudgetSeconds(config);
  const thresholdMs = Math.round(budget * 0.8 * 1000);
  return {
    id: O.PollerExecutionTimeAlarm,
    name: `catalog-${config.name}-poller-execution-time`,
    description: `A Catalog Status Poller execution took over ${thresholdMs / 1000} s, 80 % of its poll budget (${config.poller.maxAttempts} checks × ${budget / config.poller.maxAttempts} s)`,
    gate: false,
    condition: {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionTime',
      Dimensions: [{ Name: 'StateMachineArn', Value: Fn.Ref(OUT.StateMachineArn) }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: thresholdMs,
      ComparisonOperator: 'GreaterThanThreshold',
    },
  };
}

/** Throttles of the poller's two functions: a throttled check delays every waiting catalog. */
function pollerThrottlesAlarm(config: EnvConfig): AlarmSpec {
  return {
    id: O.PollerThrottlesAlarm,
    name: `catalog-${config.name}-poller-throttles`,
    description: 'Catalog Status Poller functions are being throttled',
    gate: false,
    condition: {
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      Metrics: [
        ...POLLER_FUNCTIONS.map((fn, i): MetricDataQuery => ({ Id: `t${i}`, ReturnData: false, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: functionDimensions(fn) }, Period: 300, Stat: 'Sum' } })),
        { Id: 'total', Label: 'poller throttles', Expression: POLLER_FUNCTIONS.map((_, i) => `t${i}`).join(' + '), ReturnData: true },
      ],
    },
  };
}

/**
 * Free storage under half of what storage autoscaling reacts to. RDS grows storage when free space
 * stays under 10 % of the allocation for 5 minutes (and at most every 6 hours, up to
 * maxAllocatedStorageGb): under 5 % of the allocation means it cannot keep up or has reached its
 * maximum. Without autoscaling (max = allocated) the alarm is at 10 %. The allocation here is the
 * template's; once autoscaling has grown it, the alarm fires later in relative terms, never earlier.
 */
export function freeStorageThresholdBytes(config: EnvConfig): number {
  const db = config.database;
  const share = db.maxAllocatedStorageGb > db.allocatedStorageGb ? 0.05 : 0.1;
  return Math.max(1, Math.round(db.allocatedStorageGb * share)) * 1024 ** 3;
}

function freeStorageSpaceAlarm(config: EnvConfig): AlarmSpec {
  const gib = freeStorageThresholdBytes(config) / 1024 ** 3;
  return {
    id: O.FreeStorageSpaceAlarm,
    name: `catalog-${config.name}-db-free-storage`,
    description: `Database free storage under ${gib} GiB for ${config.alarms.evaluationMinutes} minutes (${config.database.maxAllocatedStorageGb > config.database.allocatedStorageGb ? 'half of the 10 % storage autoscaling reacts to' : '10 % of the allocation'})`,
    gate: false,
    condition: {
      Namespace: 'AWS/RDS',
      MetricName: 'FreeStorageSpace',
      Dimensions: [{ Name: 'DBInstanceIdentifier', Value: Fn.Ref(OUT.DbInstanceIdentifier) }],
      Statistic: 'Minimum',
      Period: PERIOD,
      EvaluationPeriods: config.alarms.evaluationMinutes,
      DatapointsToAlarm: config.alarms.evaluationMinutes,
      Threshold: freeStorageThresholdBytes(config),
      ComparisonOperator: 'LessThanThreshold',
    },
  };
}

function alarmSpecs(config: EnvConfig): AlarmSpec[] {
  return [
    api5xxRateAlarm(config),
    apiLatencyP99Alarm(config),
    authFailureRateAlarm(config),
    ...(config.database.readReplicas > 0 ? [replicaLagAlarm(config)] : []),
    concurrencyAlarm(config),
    throttlesAlarm(config),
    ...FUNCTION_NAMES.map((fn) => (fn === 'authorizer' ? authorizerFailuresAlarm(config) : functionErrorsAlarm(config, fn))),
    ...pollerAlarms(config),
    pollerExecutionTimeAlarm(config),
    pollerThrottlesAlarm(config),
    freeStorageSpaceAlarm(config),
  ];
}

/** Every alarm notifies the topic when it fires and when it clears. */
function alarmResource({ name, description, condition }: AlarmSpec) {
  return new CloudWatch.Alarm({
    AlarmName: name,
    AlarmDescription: description,
    ActionsEnabled: true,
    AlarmActions: [Fn.Ref(O.NotificationTopic)],
    OKActions: [Fn.Ref(O.NotificationTopic)],
    TreatMissingData: 'notBreaching',
    ...condition,
  });
}

// --- Notifications, the auth-failure metric, the dashboard ---

function notificationResources(config: EnvConfig): Record<string, ResourceBase> {
  const env = config.name;
  const resources: Record<string, ResourceBase> = {
    [O.NotificationKey]: kmsKey(`Catalog ${env} alarm notifications`, ['cloudwatch.amazonaws.com', 'sns.amazonaws.com'], config),
    [O.NotificationTopic]: new SNS.Topic({ TopicName: `catalog-${env}-alarms`, DisplayName: `Catalog ${env} alarms`, KmsMasterKeyId: Fn.Ref(O.NotificationKey), Tags: tags(config) }),
    [O.NotificationTopicPolicy]: new SNS.TopicPolicy({
      Topics: [Fn.Ref(O.NotificationTopic)],
      PolicyDocument: policyDocument([
        {
          Sid: 'CloudWatchAlarmsPublish',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: Fn.Ref(O.NotificationTopic),
          Condition: { StringEquals: { 'aws:SourceAccount': Fn.Ref('AWS::AccountId') } },
        },
      ]),
    }),
  };
  const email = config.alarms.notificationEmail;
  if (email) resources[O.NotificationEmail] = new SNS.Subscription({ TopicArn: Fn.Ref(O.NotificationTopic), Protocol: 'email', Endpoint: email });
  return resources;
}

/** API Gateway has no 401/403 metric of its own: count them from the JSON access log. */
function authFailureMetricFilterResource(config: EnvConfig) {
  return new Logs.MetricFilter({
    LogGroupName: Fn.Ref(OUT.ApiAccessLogGroupName),
    FilterPattern: '{ ($.status = "401") || ($.status = "403") }',
    MetricTransformations: [{ MetricNamespace: `Catalog/${config.name}`, MetricName: 'AuthFailures', MetricValue: '1', DefaultValue: 0 }],
  });
}

/** The dashboard body is JSON in a string; ${…} are filled by Fn::Sub from this stack's parameters. */
function dashboardResource(config: EnvConfig) {
  const widget = (title: string, metrics: unknown[], y: number, x: number) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: '${AWS::Region}', metrics, period: 60, view: 'timeSeries' },
  });
  const apiM = (m: string, stat: string) => ['AWS/ApiGateway', m, 'ApiName', `\${${OUT.RestApiName}}`, 'Stage', `\${${OUT.StageName}}`, { stat }];
  const db = (m: string) => ['AWS/RDS', m, 'DBInstanceIdentifier', `\${${OUT.DbInstanceIdentifier}}`];
  const poller = (m: string) => ['AWS/States', m, 'StateMachineArn', `\${${OUT.StateMachineArn}}`, { stat: 'Sum' }];
  const authorizer = (m: string) => [AUTHORIZER_METRICS.namespace, m, 'FunctionName', `\${${fnIds('authorizer').functionNameOutput}}`, { stat: 'Sum' }];
  const body = {
    widgets: [
      widget('API requests and 5xx', [apiM('Count', 'Sum'), apiM('5XXError', 'Sum'), apiM('4XXError', 'Sum')], 0, 0),
      widget('API latency p50 / p99 (ms)', [apiM('Latency', 'p50'), apiM('Latency', 'p99')], 0, 12),
      // The authorizer's Lambda Errors are mostly rejected tokens: it has a widget of its own.
      widget(
        'Lambda errors',
        API_FUNCTIONS.filter((fn) => fn !== 'authorizer').map((fn) => ['AWS/Lambda', 'Errors', 'FunctionName', `\${${fnIds(fn).functionNameOutput}}`, { stat: 'Sum' }]),
        6,
        0,
      ),
      widget('Lambda concurrency', [['AWS/Lambda', 'ConcurrentExecutions', { stat: 'Maximum' }]], 6, 12),
      widget('Database CPU and connections', [db('CPUUtilization'), db('DatabaseConnections')], 12, 0),
      widget('Status poller executions', [poller('ExecutionsStarted'), poller('ExecutionsSucceeded'), poller('ExecutionsFailed'), poller('ExecutionsTimedOut')], 12, 12),
      ...pollerAndStorageWidgets(config, widget),
      widget('Authorizer failures and rejected tokens', [authorizer(AUTHORIZER_METRICS.failures), authorizer(AUTHORIZER_METRICS.rejections)], 30, 12),
    ],
  };
  return new CloudWatch.Dashboard({ DashboardName: `catalog-${config.name}`, DashboardBody: sub(JSON.stringify(body)) });
}

/** The seed's poller metrics (ExecutionTime; Invocations, Duration, Throttles of its two functions), storage, and the proxy. */
function pollerAndStorageWidgets(config: EnvConfig, widget: (title: string, metrics: unknown[], y: number, x: number) => unknown) {
  const fnMetric = (fn: FunctionName, m: string, stat: string) => ['AWS/Lambda', m, 'FunctionName', `\${${fnIds(fn).functionNameOutput}}`, { stat }];
  const proxy = (m: string) => ['AWS/RDS', m, 'ProxyName', `\${${OUT.DbProxyName}}`, { stat: 'Maximum' }];
  return [
    widget('Status poller execution time (ms)', [['AWS/States', 'ExecutionTime', 'StateMachineArn', `\${${OUT.StateMachineArn}}`, { stat: 'Average' }], ['AWS/States', 'ExecutionTime', 'StateMachineArn', `\${${OUT.StateMachineArn}}`, { stat: 'Maximum' }]], 18, 0),
    widget('Poller functions: invocations and throttles', POLLER_FUNCTIONS.flatMap((fn) => [fnMetric(fn, 'Invocations', 'Sum'), fnMetric(fn, 'Throttles', 'Sum')]), 18, 12),
    widget('Poller functions: duration p50 / max (ms)', POLLER_FUNCTIONS.flatMap((fn) => [fnMetric(fn, 'Duration', 'p50'), fnMetric(fn, 'Duration', 'Maximum')]), 24, 0),
    widget('Database free storage (bytes)', [['AWS/RDS', 'FreeStorageSpace', 'DBInstanceIdentifier', `\${${OUT.DbInstanceIdentifier}}`, { stat: 'Minimum' }]], 24, 12),
    ...(config.database.proxy?.enabled
      ? [widget('RDS Proxy connections (client, database, pinned)', [proxy('ClientConnections'), proxy('DatabaseConnections'), proxy('DatabaseConnectionsCurrentlySessionPinned'), proxy('MaxDatabaseConnectionsAllowed')], 30, 0)]
      : []),
  ];
}

// --- The stack ---

function observabilityParameters(config: EnvConfig): Record<string, Parameter> {
  const fromService = { Type: 'String', Description: 'catalog-service output' };
  const fromStorage = { Type: 'String', Description: 'catalog-storage output' };
  const parameters: Record<string, Parameter> = {
    [OUT.RestApiName]: fromService,
    [OUT.StageName]: fromService,
    [OUT.ApiAccessLogGroupName]: fromService,
    [OUT.StateMachineArn]: fromService,
    [OUT.DbInstanceIdentifier]: fromStorage,
  };
  if (config.database.readReplicas > 0) parameters[OUT.DbReplicaIdentifier] = fromStorage;
  if (config.database.proxy?.enabled) parameters[OUT.DbProxyName] = fromStorage;
  for (const fn of FUNCTION_NAMES) parameters[fnIds(fn).functionNameOutput] = fromService;
  return parameters;
}

export function buildObservabilityStack(config: EnvConfig): Template {
  const alarms = alarmSpecs(config);
  const outputs: Record<string, Output> = {
    [OUT.AlarmNames]: { Description: 'Alarms that gate each traffic step of a release, comma-separated', Value: Fn.Join(',', alarms.filter((a) => a.gate).map((a) => a.name)) },
    [OUT.NotificationTopicArn]: { Description: 'Where alarms notify', Value: Fn.Ref(O.NotificationTopic) },
    [OUT.DashboardName]: { Description: 'CloudWatch dashboard', Value: Fn.Ref(O.Dashboard) },
  };
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: alarms, notifications and dashboard`,
    Parameters: observabilityParameters(config),
    Resources: {
      ...notificationResources(config),
      [O.AuthFailureMetricFilter]: authFailureMetricFilterResource(config),
      ...Object.fromEntries(alarms.map((a) => [a.id, alarmResource(a)])),
      [O.Dashboard]: dashboardResource(config),
    },
    Outputs: outputs,
  };
}
