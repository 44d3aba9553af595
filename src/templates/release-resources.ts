/**
 * catalog-service's part of the server-side release: the release state machine
 * (./release-state-machine.ts), its log group, and a role that may touch only this env's
 * `live` aliases, its API stage (and its cache), its gating alarms and its release records. Each action's resource
 * and condition keys are those the Service Authorization Reference lists for it.
 */
import { API_FUNCTIONS, type EnvConfig } from '../config/types.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { allow, assumeRole, Fn, logGroup, rolePolicy, sub, tags, type Output, type PolicyStatement } from './cfn.ts';
import { fnIds, OUT, RELEASE, RELEASE_OUT, SERVICE as S } from './ids.ts';
import { buildObservabilityStack } from './observability.ts';
import { buildReleaseStateMachine } from './release-state-machine.ts';
import { IAM, StepFunctions, type ResourceBase } from './resources.ts';

/** The names in catalog-observability's AlarmNames output, as this env renders them. */
export function gatingAlarmNames(config: EnvConfig): string[] {
  const value = JSON.parse(JSON.stringify(buildObservabilityStack(config).Outputs?.[OUT.AlarmNames]?.Value ?? null)) as unknown;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  const names = typeof value === 'string' ? value.split(',') : Array.isArray(join?.[1]) ? join[1] : [];
  return names.filter((n): n is string => typeof n === 'string' && n !== '');
}

const artifactPrefix = (config: EnvConfig) => config.artifacts.prefix.replace(/\/+$/, '');

/** What each SDK task of the definition calls, on this env's resources only. */
export function releaseRoleStatements(config: EnvConfig): PolicyStatement[] {
  const bucket = config.artifacts.bucket;
  const prefix = artifactPrefix(config);
  return [
    // UpdateAlias authorizes on the function (Lambda's "Function actions": resource Function,
    // condition aws:ResourceTag only), so the alias cannot be named here; the definition moves `live` only.
    allow('lambda:UpdateAlias', API_FUNCTIONS.map((fn) => Fn.GetAtt(fnIds(fn).function, 'Arn'))),
    // UpdateStage is apigateway:PATCH on the stage's ARN.
    allow('apigateway:PATCH', sub(`arn:\${AWS::Partition}:apigateway:\${AWS::Region}::/restapis/\${${S.RestApi}}/stages/\${${S.ApiStage}}`)),
    // FlushStageCache is DELETE on the stage's cache data: only where the env has a cache (the
    // definition flushes it after changing the stage's variables), and only this stage's.
    ...(config.api.cache.enabled ? [allow('apigateway:DELETE', sub(`arn:\${AWS::Partition}:apigateway:\${AWS::Region}::/restapis/\${${S.RestApi}}/stages/\${${S.ApiStage}}/cache/data`))] : []),
    // DescribeAlarms: resource type alarm (required), so exactly the gating alarms.
    allow('cloudwatch:DescribeAlarms', gatingAlarmNames(config).map((n) => sub(`arn:\${AWS::Partition}:cloudwatch:\${AWS::Region}:\${AWS::AccountId}:alarm:${n}`))),
    // GetMetricData names no resource for CloudWatch metrics (its optional `dataset` type is for
    // OTLP data), so it takes "*"; it only reads.
    allow('cloudwatch:GetMetricData', '*'),
    // The release records, encrypted as the CLI writes them, and the release lock the execution ends.
    {
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: sub(`arn:\${AWS::Partition}:s3:::${bucket}/${prefix}/releases/*`),
      Condition: { StringEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
    },
    allow('s3:DeleteObject', sub(`arn:\${AWS::Partition}:s3:::${bucket}/${prefix}/release.lock`)),
  ];
}

function releaseRoleResource(config: EnvConfig) {
  return new IAM.Role({
    Description: `Catalog ${config.name} release state machine: this env's live aliases, API stage, gating alarms and release records only`,
    AssumeRolePolicyDocument: assumeRole('states.amazonaws.com'),
    Policies: [
      rolePolicy('shift-live-traffic', releaseRoleStatements(config)),
      // Log delivery and X-Ray APIs take no resource ARNs (AWS Step Functions docs).
      rolePolicy('release-logs-and-traces', [
        allow(['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups'], '*'),
        allow(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'], '*'),
      ]),
    ],
    Tags: tags(config),
  });
}

/** The rendered release_state_machine.json, verbatim: it has no placeholders to substitute. */
function releaseStateMachineResource(config: EnvConfig) {
  return new StepFunctions.StateMachine({
    StateMachineName: `catalog-${config.name}-release`,
    StateMachineType: 'STANDARD',
    RoleArn: Fn.GetAtt(RELEASE.ReleaseRole, 'Arn'),
    DefinitionString: canonicalJson(buildReleaseStateMachine(config)).trimEnd(),
    LoggingConfiguration: { Level: 'ERROR', IncludeExecutionData: false, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Fn.GetAtt(RELEASE.ReleaseLogGroup, 'Arn') } }] },
    TracingConfiguration: { Enabled: true },
    Tags: tags(config),
  });
}

export function releaseResources(config: EnvConfig): Record<string, ResourceBase> {
  return {
    [RELEASE.ReleaseLogGroup]: logGroup(config, `/aws/vendedlogs/states/catalog-${config.name}-release`, Fn.Ref(OUT.SecretsKmsKeyArn)),
    [RELEASE.ReleaseRole]: releaseRoleResource(config),
    [RELEASE.ReleaseStateMachine]: releaseStateMachineResource(config),
  };
}

export function releaseOutputs(): Record<string, Output> {
  return { [RELEASE_OUT.ReleaseStateMachineArn]: { Description: 'Release state machine (catalogctl release --on aws)', Value: Fn.Ref(RELEASE.ReleaseStateMachine) } };
}
