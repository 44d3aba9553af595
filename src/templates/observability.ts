/**
 * catalog-observability: the seed's alarms (5xx rate, p99 latency, auth failures, replica lag,
 * throttles and concurrency), poller failure and time-out alarms, per-function error alarms, an
 * encrypted SNS topic for notifications and a dashboard. `AlarmNames` lists the alarms that gate
 * each traffic step of a release.
 */
import { API_FUNCTIONS, FUNCTION_NAMES, type EnvConfig, type FunctionName } from '../config/types.ts';
import { join, kmsKey, pascal, ref, sub, tags, type Json, type Obj, type Template } from './cfn-json.ts';

const PERIOD = 60;

export function buildObservabilityStack(config: EnvConfig): Template {
  const a = config.alarms;
  const env = config.name;
  const minutes = a.evaluationMinutes;
  const resources: Record<string, Obj> = {};
  const gating: string[] = [];
  const apiDims = [
    { Name: 'ApiName', Value: ref('RestApiName') },
    { Name: 'Stage', Value: ref('StageName') },
  ];
  const apiMetric = (id: string, metric: string, stat: string): Obj => ({
    Id: id,
    ReturnData: false,
    MetricStat: { Metric: { Namespace: 'AWS/ApiGateway', MetricName: metric, Dimensions: apiDims }, Period: PERIOD, Stat: stat },
  });
  const alarm = (id: string, name: string, description: string, props: Obj, gate = true): void => {
    resources[id] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: name,
        AlarmDescription: description,
        ActionsEnabled: true,
        AlarmActions: [ref('NotificationTopic')],
        OKActions: [ref('NotificationTopic')],
        TreatMissingData: 'notBreaching',
        ...props,
      },
    };
    if (gate) gating.push(name);
  };

  resources.NotificationKey = kmsKey(`Catalog ${env} alarm notifications`, ['cloudwatch.amazonaws.com', 'sns.amazonaws.com'], config);
  resources.NotificationTopic = {
    Type: 'AWS::SNS::Topic',
    Properties: { TopicName: `catalog-${env}-alarms`, DisplayName: `Catalog ${env} alarms`, KmsMasterKeyId: ref('NotificationKey'), Tags: tags(config) },
  };
  resources.NotificationTopicPolicy = {
    Type: 'AWS::SNS::TopicPolicy',
    Properties: {
      Topics: [ref('NotificationTopic')],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'CloudWatchAlarmsPublish', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Resource: ref('NotificationTopic'), Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } } },
        ],
      },
    },
  };
  if (a.notificationEmail) {
    resources.NotificationEmail = { Type: 'AWS::SNS::Subscription', Properties: { TopicArn: ref('NotificationTopic'), Protocol: 'email', Endpoint: a.notificationEmail } };
  }

  alarm('Api5xxRateAlarm', `catalog-${env}-api-5xx-rate`, `API 5xx responses above ${a.api5xxRatePercent}% for ${minutes} minutes`, {
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: a.api5xxRatePercent,
    EvaluationPeriods: minutes,
    DatapointsToAlarm: minutes,
    Metrics: [apiMetric('errors', '5XXError', 'Sum'), apiMetric('requests', 'Count', 'Sum'), { Id: 'rate', Label: '5xx %', Expression: 'IF(requests > 0, 100 * errors / requests, 0)', ReturnData: true }],
  });
  alarm('ApiLatencyP99Alarm', `catalog-${env}-api-p99-latency`, `API p99 latency above ${a.p99LatencyMs} ms for ${minutes} minutes`, {
    Namespace: 'AWS/ApiGateway',
    MetricName: 'Latency',
    Dimensions: apiDims,
    ExtendedStatistic: 'p99',
    Period: PERIOD,
    EvaluationPeriods: minutes,
    DatapointsToAlarm: minutes,
    Threshold: a.p99LatencyMs,
    ComparisonOperator: 'GreaterThanThreshold',
  });
  // API Gateway has no 401/403 metric of its own: count them from the JSON access log.
  resources.AuthFailureMetricFilter = {
    Type: 'AWS::Logs::MetricFilter',
    Properties: {
      LogGroupName: ref('ApiAccessLogGroupName'),
      FilterPattern: '{ ($.status = "401") || ($.status = "403") }',
      MetricTransformations: [{ MetricNamespace: `Catalog/${env}`, MetricName: 'AuthFailures', MetricValue: '1', DefaultValue: 0 }],
    },
  };
  alarm('AuthFailureRateAlarm', `catalog-${env}-auth-failure-rate`, `Auth failures above ${a.authFailureRatePercent}% of requests for ${minutes} minutes`, {
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: a.authFailureRatePercent,
    EvaluationPeriods: minutes,
    DatapointsToAlarm: minutes,
    Metrics: [
      { Id: 'failures', ReturnData: false, MetricStat: { Metric: { Namespace: `Catalog/${env}`, MetricName: 'AuthFailures' }, Period: PERIOD, Stat: 'Sum' } },
      apiMetric('requests', 'Count', 'Sum'),
      { Id: 'rate', Label: 'auth failure %', Expression: 'IF(requests > 0, 100 * failures / requests, 0)', ReturnData: true },
    ],
  });
  if (config.database.readReplicas > 0) {
    alarm('ReplicaLagAlarm', `catalog-${env}-replica-lag`, `Read replica lag above ${a.replicaLagSeconds} s`, {
      Namespace: 'AWS/RDS',
      MetricName: 'ReplicaLag',
      Dimensions: [{ Name: 'DBInstanceIdentifier', Value: ref('DbReplicaIdentifier') }],
      Statistic: 'Maximum',
      Period: PERIOD,
      EvaluationPeriods: minutes,
      DatapointsToAlarm: minutes,
      Threshold: a.replicaLagSeconds,
      ComparisonOperator: 'GreaterThanThreshold',
    }, false);
  }
  alarm('ConcurrencyAlarm', `catalog-${env}-lambda-concurrency`, `Account Lambda concurrency at or above ${a.concurrencyUtilizationPercent}% of ${config.lambda.accountConcurrencyLimit}`, {
    Namespace: 'AWS/Lambda',
    MetricName: 'ConcurrentExecutions',
    Statistic: 'Maximum',
    Period: PERIOD,
    EvaluationPeriods: 3,
    DatapointsToAlarm: 3,
    Threshold: Math.floor((config.lambda.accountConcurrencyLimit * a.concurrencyUtilizationPercent) / 100),
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  }, false);
  const fnDims = (fn: FunctionName) => [{ Name: 'FunctionName', Value: ref(`FunctionName${pascal(fn)}`) }];
  alarm('ThrottlesAlarm', `catalog-${env}-lambda-throttles`, 'API functions are being throttled', {
    ComparisonOperator: 'GreaterThanThreshold',
    Threshold: 0,
    EvaluationPeriods: minutes,
    DatapointsToAlarm: 2,
    Metrics: [
      ...API_FUNCTIONS.map((fn, i): Obj => ({ Id: `t${i}`, ReturnData: false, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Throttles', Dimensions: fnDims(fn) }, Period: PERIOD, Stat: 'Sum' } })),
      { Id: 'total', Label: 'throttles', Expression: API_FUNCTIONS.map((_, i) => `t${i}`).join(' + '), ReturnData: true },
    ],
  });
  for (const fn of FUNCTION_NAMES) {
    alarm(`${pascal(fn)}ErrorsAlarm`, `catalog-${env}-${fn}-errors`, `${fn} invocation errors`, {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: fnDims(fn),
      Statistic: 'Sum',
      Period: PERIOD,
      EvaluationPeriods: minutes,
      DatapointsToAlarm: 2,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    }, (API_FUNCTIONS as readonly string[]).includes(fn));
  }
  for (const [id, metric] of [['PollerFailedAlarm', 'ExecutionsFailed'], ['PollerTimedOutAlarm', 'ExecutionsTimedOut']] as const) {
    alarm(id, `catalog-${env}-poller-${metric === 'ExecutionsFailed' ? 'failed' : 'timed-out'}`, `Catalog Status Poller ${metric}`, {
      Namespace: 'AWS/States',
      MetricName: metric,
      Dimensions: [{ Name: 'StateMachineArn', Value: ref('StateMachineArn') }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    }, false);
  }

  const widget = (title: string, metrics: Json[], y: number, x: number, extra: Obj = {}): Obj => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: '${AWS::Region}', metrics, period: 60, view: 'timeSeries', ...extra },
  });
  const apiM = (m: string, stat: string) => ['AWS/ApiGateway', m, 'ApiName', '${RestApiName}', 'Stage', '${StageName}', { stat }];
  const dashboard = {
    widgets: [
      widget('API requests and 5xx', [apiM('Count', 'Sum'), apiM('5XXError', 'Sum'), apiM('4XXError', 'Sum')], 0, 0),
      widget('API latency p50 / p99 (ms)', [apiM('Latency', 'p50'), apiM('Latency', 'p99')], 0, 12),
      widget('Lambda errors', API_FUNCTIONS.map((fn) => ['AWS/Lambda', 'Errors', 'FunctionName', `\${FunctionName${pascal(fn)}}`, { stat: 'Sum' }]), 6, 0),
      widget('Lambda concurrency', [['AWS/Lambda', 'ConcurrentExecutions', { stat: 'Maximum' }]], 6, 12),
      widget('Database CPU and connections', [['AWS/RDS', 'CPUUtilization', 'DBInstanceIdentifier', '${DbInstanceIdentifier}'], ['AWS/RDS', 'DatabaseConnections', 'DBInstanceIdentifier', '${DbInstanceIdentifier}']], 12, 0),
      widget('Status poller executions', [['AWS/States', 'ExecutionsSucceeded', 'StateMachineArn', '${StateMachineArn}', { stat: 'Sum' }], ['AWS/States', 'ExecutionsFailed', 'StateMachineArn', '${StateMachineArn}', { stat: 'Sum' }], ['AWS/States', 'ExecutionsTimedOut', 'StateMachineArn', '${StateMachineArn}', { stat: 'Sum' }]], 12, 12),
    ],
  };
  resources.Dashboard = { Type: 'AWS::CloudWatch::Dashboard', Properties: { DashboardName: `catalog-${env}`, DashboardBody: sub(JSON.stringify(dashboard)) } };

  const parameters: Record<string, Obj> = {
    RestApiName: { Type: 'String', Description: 'catalog-service output' },
    StageName: { Type: 'String', Description: 'catalog-service output' },
    ApiAccessLogGroupName: { Type: 'String', Description: 'catalog-service output' },
    StateMachineArn: { Type: 'String', Description: 'catalog-service output' },
    DbInstanceIdentifier: { Type: 'String', Description: 'catalog-storage output' },
  };
  if (config.database.readReplicas > 0) parameters.DbReplicaIdentifier = { Type: 'String', Description: 'catalog-storage output' };
  for (const fn of FUNCTION_NAMES) parameters[`FunctionName${pascal(fn)}`] = { Type: 'String', Description: 'catalog-service output' };

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${env}: alarms, notifications and dashboard`,
    Parameters: parameters,
    Resources: resources,
    Outputs: {
      AlarmNames: { Description: 'Alarms that gate each traffic step of a release, comma-separated', Value: join(',', gating) },
      NotificationTopicArn: { Description: 'Where alarms notify', Value: ref('NotificationTopic') },
      DashboardName: { Description: 'CloudWatch dashboard', Value: ref('Dashboard') },
    },
  };
}

