/**
 * Emulator fixture for release tests. moto's CloudFormation does not create Lambda aliases, API
 * Gateway stages or CloudWatch alarms, so this fixture creates by API what catalog-service and
 * catalog-observability would: an IAM role, a code object in S3, the functions with version 1
 * behind a `live` alias, a REST API with one mock-integration method, a deployment and stage, and
 * the gating alarms (state OK).
 */
import { APIGatewayClient, CreateDeploymentCommand, CreateRestApiCommand, CreateStageCommand, GetResourcesCommand, PutIntegrationCommand, PutMethodCommand } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateAliasCommand, CreateFunctionCommand, LambdaClient, PublishVersionCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ReleaseResult } from '../../src/deploy/release.ts';
import type { Moto } from '../support/moto.ts';
import { TEST_CREDENTIALS } from '../support/moto.ts';

export interface Fixture {
  functions: string[];
  restApiId: string;
  stageName: string;
  /** What the stage held before any release. */
  stageVariables: Record<string, string>;
  deploymentId: string;
  alarmNames: string[];
  /** Forces an alarm's state, as the emulator never evaluates metrics. */
  setAlarm(name: string, state: 'OK' | 'ALARM'): Promise<void>;
  /** Changes each function's configuration so PublishVersion makes a new version. */
  changeFunctions(marker: string): Promise<void>;
}

export async function createFixture(moto: Moto, functions = ['catalog-list-datasets', 'catalog-get-dataset']): Promise<Fixture> {
  const cfg = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  const lambda = new LambdaClient(cfg);
  const apigw = new APIGatewayClient(cfg);
  // The emulator speaks CloudWatch's awsQuery protocol only (see src/aws/cloudwatch.ts).
  const { AwsQueryProtocol } = await import('@aws-sdk/core/protocols');
  const cw = new CloudWatchClient({ ...cfg, protocol: AwsQueryProtocol });

  const roleArn = await createRole(moto.endpoint, 'catalog-fn');
  await s3.send(new CreateBucketCommand({ Bucket: 'catalog-artifacts' }));
  await s3.send(new PutObjectCommand({ Bucket: 'catalog-artifacts', Key: 'code.zip', Body: 'PK' }));
  for (const fn of functions) {
    await lambda.send(
      new CreateFunctionCommand({ FunctionName: fn, Role: roleArn, Runtime: 'nodejs22.x', Handler: 'index.handler', Code: { S3Bucket: 'catalog-artifacts', S3Key: 'code.zip' } }),
    );
    const v = await lambda.send(new PublishVersionCommand({ FunctionName: fn }));
    await lambda.send(new CreateAliasCommand({ FunctionName: fn, Name: 'live', FunctionVersion: v.Version! }));
  }
  const api = await apigw.send(new CreateRestApiCommand({ name: 'catalog' }));
  const restApiId = api.id!;
  const root = (await apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
  await apigw.send(new PutMethodCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
  await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', type: 'MOCK' }));
  const dep = await apigw.send(new CreateDeploymentCommand({ restApiId }));
  const stageName = 'v1';
  // Variables of an earlier release: one the env changes, one it no longer has.
  const stageVariables = { DRR_INTEGRATION: 'false', LEGACY_FLAG: 'on' };
  await apigw.send(new CreateStageCommand({ restApiId, stageName, deploymentId: dep.id!, variables: stageVariables }));
  const alarmNames = ['catalog-api-5xx', 'catalog-p99-latency'];
  for (const name of alarmNames) {
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: name,
        Namespace: 'AWS/ApiGateway',
        MetricName: '5XXError',
        Statistic: 'Average',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
  }
  return {
    functions,
    restApiId,
    stageName,
    deploymentId: dep.id!,
    stageVariables,
    alarmNames,
    async setAlarm(name, state) {
      await cw.send(new SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: 'test' }));
    },
    async changeFunctions(marker) {
      for (const fn of functions) await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: fn, Description: marker }));
    },
  };
}

/** No IAM SDK client is installed; the emulator routes by the credential scope and ignores signatures. */
async function createRole(endpoint: string, name: string): Promise<string> {
  const body = new URLSearchParams({ Action: 'CreateRole', Version: '2010-05-08', RoleName: name, AssumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}' });
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0' },
    body,
  });
  const text = await res.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(text)?.[1];
  if (!res.ok || !arn) throw new Error(`CreateRole failed: ${res.status} ${text.slice(0, 300)}`);
  return arn;
}

/**
 * The two stacks release reads, created in the emulator from small templates holding only the
 * Outputs release needs (one log group each, as a stack needs a resource); the resources those
 * Outputs name come from the fixture, since the emulator's CloudFormation skips aliases, stages and
 * alarms. `functions` in the order of API_FUNCTIONS.
 */
export async function createOutputStacks(moto: Moto, fx: Fixture, functions: string[], moreServiceOutputs: Record<string, string> = {}): Promise<void> {
  const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
  const svc: Record<string, { Value: string }> = { RestApiId: { Value: fx.restApiId }, StageName: { Value: fx.stageName } };
  for (const [k, v] of Object.entries(moreServiceOutputs)) svc[k] = { Value: v };
  ['ListDatasets', 'GetDataset', 'WriteDataset', 'Authorizer'].forEach((k, i) => (svc[`FunctionName${k}`] = { Value: functions[i]! }));
  const tpl = (outputs: object) => JSON.stringify({ Resources: { Logs: { Type: 'AWS::Logs::LogGroup', Properties: {} } }, Outputs: outputs });
  // Tagged for env dev, as `catalogctl deploy` tags the stacks it creates (src/aws/stack-guard.ts).
  const Tags = [{ Key: 'catalog:env', Value: 'dev' }];
  await cfn.send(new CreateStackCommand({ StackName: 'catalog-service', TemplateBody: tpl(svc), Tags }));
  await cfn.send(new CreateStackCommand({ StackName: 'catalog-observability', TemplateBody: tpl({ AlarmNames: { Value: fx.alarmNames.join(',') } }), Tags }));
}

/** A release that moved something (not "nothing to release"), for tests that expect one. */
export function released(r: ReleaseResult): Extract<ReleaseResult, { kind: 'released' }> {
  if (r.kind !== 'released') throw new Error(`expected a release, got ${r.kind} (${r.unchanged.join(', ')})`);
  return r;
}
