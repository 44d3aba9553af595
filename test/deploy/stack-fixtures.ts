/**
 * Miniature versions of the five stacks for emulator tests of diff and deploy. The real templates
 * cannot be created by the local emulator (it fails on tagged KMS keys and on RDS's
 * MasterUserSecret attribute, and skips secrets, aliases, stages and alarms), so these keep the
 * real stacks' names and wiring contract: the same Parameter names filled from upstream Outputs,
 * code keys per function, the LiveVersion and LiveDeploymentId parameters, and the Outputs release reads. The real
 * templates are checked by cfn-lint and the template tests; these check the deploy machinery.
 */
import { APIGatewayClient, CreateStageCommand, GetDeploymentsCommand } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateAliasCommand, LambdaClient, PublishVersionCommand } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { loadEnv } from '../../src/config/load.ts';
import { API_FUNCTIONS, FUNCTION_NAMES, type EnvConfig } from '../../src/config/types.ts';
import type { StackTemplates } from '../../src/deploy/stacks.ts';
import { codeKeyParameter, liveVersionParameter } from '../../src/templates/index.ts';
import { pascal } from '../../src/templates/cfn.ts';
import type { CodeKeys } from '../../src/deploy/params.ts';
import { MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';

/** envs/dev.yaml with the emulator's account id and an artifact bucket in it; `release` overrides allowed. */
export async function testConfig(overrides: { release?: Partial<EnvConfig['release']> } = {}): Promise<EnvConfig> {
  const c = structuredClone(await loadEnv('dev')) as EnvConfig;
  c.account.id = MOTO_ACCOUNT_ID;
  c.artifacts.bucket = `catalog-artifacts-${MOTO_ACCOUNT_ID}-us-east-1`;
  c.release = { ...c.release, ...overrides.release };
  return c;
}

export const fnName = (config: EnvConfig, fn: string) => `catalog-${config.name}-${fn}`;

const str = (description: string, extra: Record<string, unknown> = {}) => ({ Type: 'String', Description: description, ...extra });

export function fixtureTemplates(config: EnvConfig, opts: { padServiceBytes?: number; extraDescription?: string } = {}): StackTemplates {
  const network = {
    Resources: {
      Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.10.0.0/16' } },
      SubnetA: { Type: 'AWS::EC2::Subnet', Properties: { VpcId: { Ref: 'Vpc' }, CidrBlock: '10.10.1.0/24', AvailabilityZone: 'us-east-1a' } },
      SubnetB: { Type: 'AWS::EC2::Subnet', Properties: { VpcId: { Ref: 'Vpc' }, CidrBlock: '10.10.2.0/24', AvailabilityZone: 'us-east-1b' } },
      LambdaSecurityGroup: { Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: 'lambda', VpcId: { Ref: 'Vpc' } } },
      DatabaseSecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: {
          GroupDescription: 'db',
          VpcId: { Ref: 'Vpc' },
          SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] } }],
        },
      },
    },
    Outputs: {
      VpcId: { Value: { Ref: 'Vpc' } },
      SubnetIds: { Value: { 'Fn::Join': [',', [{ Ref: 'SubnetA' }, { Ref: 'SubnetB' }]] } },
      LambdaSecurityGroupId: { Value: { 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] } },
      DbSecurityGroupId: { Value: { 'Fn::GetAtt': ['DatabaseSecurityGroup', 'GroupId'] } },
      // The name is the contract (catalog-secrets takes it); the Lambda group stands in for the group.
      RotationSecurityGroupId: { Value: { 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] } },
    },
  };
  const storage = {
    Parameters: { SubnetIds: str('from catalog-network'), DbSecurityGroupId: str('from catalog-network') },
    Resources: {
      DbSubnetGroup: { Type: 'AWS::RDS::DBSubnetGroup', Properties: { DBSubnetGroupDescription: 'catalog', SubnetIds: { 'Fn::Split': [',', { Ref: 'SubnetIds' }] } } },
    },
    Outputs: {
      DbEndpointAddress: { Value: 'catalog-db.local' },
      DbEndpointPort: { Value: '5432' },
      DbInstanceIdentifier: { Value: `catalog-${config.name}` },
      DbMasterSecretArn: { Value: `arn:aws:secretsmanager:us-east-1:${MOTO_ACCOUNT_ID}:secret:rds!db-catalog-${config.name}` },
      DbKmsKeyArn: { Value: `arn:aws:kms:us-east-1:${MOTO_ACCOUNT_ID}:key/catalog-${config.name}` },
      DbSubnetGroupName: { Value: { Ref: 'DbSubnetGroup' } },
    },
  };
  const secrets = {
    // What the real catalog-secrets takes from the stacks before it (its AppDbSecret* are sticky, not upstream).
    Parameters: { DbMasterSecretArn: str('from catalog-storage'), DbKmsKeyArn: str('from catalog-storage'), RotationSecurityGroupId: str('from catalog-network') },
    Resources: {
      SecretsLogGroup: {
        Type: 'AWS::Logs::LogGroup',
        // Named after the master secret (the part after rds!), so a new upstream Output replaces it.
        Properties: { LogGroupName: { 'Fn::Sub': [`/catalog/${config.name}/secrets/\${Name}`, { Name: { 'Fn::Select': [1, { 'Fn::Split': ['!', { Ref: 'DbMasterSecretArn' }] }] } }] } },
      },
    },
    Outputs: { AppDbSecretArn: { Value: `arn:aws:secretsmanager:us-east-1:${MOTO_ACCOUNT_ID}:secret:catalog-${config.name}-app` } },
  };
  const serviceParams: Record<string, unknown> = {
    ArtifactBucket: str('code bucket', { Default: config.artifacts.bucket }),
    SubnetIds: str('from catalog-network'),
    LambdaSecurityGroupId: str('from catalog-network'),
    AppDbSecretArn: str('from catalog-secrets'),
    DbEndpointAddress: str('from catalog-storage'),
    DbMasterSecretArn: str('from catalog-storage'),
    LiveDeploymentId: str('stage deployment', { Default: '' }),
  };
  const resources: Record<string, unknown> = {
    FunctionRole: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] } } },
    RestApi: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: `catalog-${config.name}` } },
    DatasetsResource: { Type: 'AWS::ApiGateway::Resource', Properties: { RestApiId: { Ref: 'RestApi' }, ParentId: { 'Fn::GetAtt': ['RestApi', 'RootResourceId'] }, PathPart: 'datasets' } },
    DatasetsGet: {
      Type: 'AWS::ApiGateway::Method',
      Properties: { RestApiId: { Ref: 'RestApi' }, ResourceId: { Ref: 'DatasetsResource' }, HttpMethod: 'GET', AuthorizationType: 'NONE', Integration: { Type: 'HTTP_PROXY', IntegrationHttpMethod: 'GET', Uri: 'https://catalog.example.com/datasets' } },
    },
    BootstrapDeployment: { Type: 'AWS::ApiGateway::Deployment', DependsOn: ['DatasetsGet'], Properties: { RestApiId: { Ref: 'RestApi' }, Description: 'bootstrap' } },
  };
  const outputs: Record<string, unknown> = {
    RestApiId: { Value: { Ref: 'RestApi' } },
    RestApiName: { Value: `catalog-${config.name}` },
    StageName: { Value: config.api.stageName },
    ApiUrl: { Value: { 'Fn::Sub': `https://\${RestApi}.execute-api.\${AWS::Region}.amazonaws.com/${config.api.stageName}` } },
  };
  for (const fn of FUNCTION_NAMES) {
    serviceParams[codeKeyParameter(fn)] = str(`code of ${fn}`);
    resources[`${pascal(fn)}Function`] = {
      Type: 'AWS::Lambda::Function',
      Properties: {
        FunctionName: fnName(config, fn),
        Runtime: config.lambda.runtime,
        Handler: 'index.handler',
        Role: { 'Fn::GetAtt': ['FunctionRole', 'Arn'] },
        Code: { S3Bucket: { Ref: 'ArtifactBucket' }, S3Key: { Ref: codeKeyParameter(fn) } },
        Description: `catalog ${fn}${opts.extraDescription ?? ''}`,
        MemorySize: config.lambda.functions[fn].memoryMb,
      },
    };
    outputs[`FunctionName${pascal(fn)}`] = { Value: { Ref: `${pascal(fn)}Function` } };
  }
  for (const fn of API_FUNCTIONS) serviceParams[liveVersionParameter(fn)] = str(`live version of ${fn}`, { Default: '' });
  serviceParams.LayerKeyPg = str('pg layer');
  const service: Record<string, unknown> = { Parameters: serviceParams, Resources: resources, Outputs: outputs };
  // Padding pushes the body past the 51,200-byte inline limit, so the S3 TemplateURL path runs.
  if (opts.padServiceBytes) service.Metadata = { Padding: 'x'.repeat(opts.padServiceBytes) };
  const observability = {
    Parameters: { FunctionNameListDatasets: str('from catalog-service'), RestApiName: str('from catalog-service'), StageName: str('from catalog-service') },
    Resources: {
      Dashboard: {
        Type: 'AWS::CloudWatch::Dashboard',
        Properties: {
          DashboardName: `catalog-${config.name}`,
          DashboardBody: { 'Fn::Sub': '{"widgets":[{"type":"text","properties":{"markdown":"${FunctionNameListDatasets} ${RestApiName}/${StageName}"}}]}' },
        },
      },
    },
    // The alarms themselves are created by API in the fixture: the emulator skips AWS::CloudWatch::Alarm.
    Outputs: { AlarmNames: { Value: alarmNames(config).join(',') }, DashboardName: { Value: { Ref: 'Dashboard' } } },
  };
  return {
    'catalog-network': network,
    'catalog-storage': storage,
    'catalog-secrets': secrets,
    'catalog-service': service,
    'catalog-observability': observability,
  };
}

export const alarmNames = (config: EnvConfig) => [`catalog-${config.name}-api-5xx`, `catalog-${config.name}-p99-latency`];

/** Creates the artifact bucket and puts a small object per code key; returns the keys. */
export async function putCode(moto: Moto, config: EnvConfig, tag: string, create = true): Promise<CodeKeys> {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, forcePathStyle: true });
  if (create) await s3.send(new CreateBucketCommand({ Bucket: config.artifacts.bucket }));
  const keys: CodeKeys = { functions: {} };
  for (const fn of FUNCTION_NAMES) {
    const key = `${config.artifacts.prefix}/${fn}/${tag}.zip`;
    await s3.send(new PutObjectCommand({ Bucket: config.artifacts.bucket, Key: key, Body: `PK ${fn} ${tag}` }));
    keys.functions[fn] = key;
  }
  keys.layerPg = `${config.artifacts.prefix}/layers/pg/${tag}.zip`;
  await s3.send(new PutObjectCommand({ Bucket: config.artifacts.bucket, Key: keys.layerPg, Body: `PK pg ${tag}` }));
  return keys;
}

export interface Live {
  restApiId: string;
  deploymentId: string;
  alarms: string[];
}

/**
 * After the first deploy: what CloudFormation would have made but the emulator skips, created by
 * API — version 1 of each API function behind a `live` alias, the stage on the bootstrap
 * deployment, and the gating alarms named in catalog-observability's AlarmNames (state OK).
 */
export async function goLive(moto: Moto, config: EnvConfig): Promise<Live> {
  const c = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
  const lambda = new LambdaClient(c);
  for (const fn of API_FUNCTIONS) {
    const v = await lambda.send(new PublishVersionCommand({ FunctionName: fnName(config, fn) }));
    await lambda.send(new CreateAliasCommand({ FunctionName: fnName(config, fn), Name: 'live', FunctionVersion: v.Version! }));
  }
  const outputs = (await new CloudFormationClient(c).send(new DescribeStacksCommand({ StackName: 'catalog-service' }))).Stacks![0]!.Outputs!;
  const restApiId = outputs.find((o) => o.OutputKey === 'RestApiId')!.OutputValue!;
  const apigw = new APIGatewayClient(c);
  const deploymentId = (await apigw.send(new GetDeploymentsCommand({ restApiId }))).items![0]!.id!;
  await apigw.send(new CreateStageCommand({ restApiId, stageName: config.api.stageName, deploymentId }));
  // The emulator speaks CloudWatch's query protocol only (see src/aws/cloudwatch.ts).
  const { AwsQueryProtocol } = await import('@aws-sdk/core/protocols');
  const cw = new CloudWatchClient({ ...c, protocol: AwsQueryProtocol });
  for (const name of alarmNames(config)) {
    await cw.send(
      new PutMetricAlarmCommand({ AlarmName: name, Namespace: 'AWS/ApiGateway', MetricName: '5XXError', Statistic: 'Average', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' }),
    );
  }
  return { restApiId, deploymentId, alarms: alarmNames(config) };
}
