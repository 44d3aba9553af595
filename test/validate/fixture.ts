/**
 * A small hand-written rendered environment (network, storage, service with the poller, its state
 * machine) that passes every checker. Parser and cross-check tests use it so they do not depend on
 * the real builders; the end-to-end tests use the real `renderEnvironment`.
 */
import type { EnvConfig } from '../../src/config/types.ts';

const assumeRole = (service: string) => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
});

const fn = (role: string) => ({
  Type: 'AWS::Lambda::Function',
  Metadata: {
    checkov: {
      skip: [
        { id: 'CKV_AWS_116', comment: 'invoked synchronously by Step Functions, which retries; a DLQ would never receive' },
        { id: 'CKV_AWS_117', comment: 'fixture function without VPC access needs' },
        { id: 'CKV_AWS_173', comment: 'environment holds no secrets, only names' },
      ],
    },
  },
  Properties: {
    Runtime: 'nodejs22.x',
    Handler: 'index.handler',
    Role: { 'Fn::GetAtt': [role, 'Arn'] },
    Code: { S3Bucket: { Ref: 'ArtifactBucket' }, S3Key: 'code.zip' },
    ReservedConcurrentExecutions: 5,
    Environment: { Variables: { DB_NAME: 'catalog' } },
  },
});

const fnRole = () => ({
  Type: 'AWS::IAM::Role',
  Properties: {
    AssumeRolePolicyDocument: assumeRole('lambda.amazonaws.com'),
    Policies: [
      {
        PolicyName: 'logs',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*' } }],
        },
      },
    ],
  },
});

export const STATE_MACHINE = {
  Comment: 'Catalog status poller',
  StartAt: 'CheckCatalogStatus',
  States: {
    CheckCatalogStatus: { Type: 'Task', Resource: '${CheckCatalogStatusFunctionArn}', Next: 'Is Catalog Ready?' },
    'Is Catalog Ready?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.ready', BooleanEquals: true, Next: 'UpdateCatalogInDB' }],
      Default: 'Wait',
    },
    Wait: { Type: 'Wait', Seconds: 20, Next: 'CheckCatalogStatus' },
    UpdateCatalogInDB: { Type: 'Task', Resource: '${UpdateCatalogDbFunctionArn}', Next: 'Success' },
    Success: { Type: 'Succeed' },
  },
};

export function fixtureEnvironment(): Record<string, object> {
  const service = {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: { ArtifactBucket: { Type: 'String' } },
    Resources: {
      CheckRole: fnRole(),
      UpdateRole: fnRole(),
      OtherRole: fnRole(),
      CheckCatalogStatusFunction: fn('CheckRole'),
      UpdateCatalogDbFunction: fn('UpdateRole'),
      ListDatasetsFunction: fn('OtherRole'),
      PollerRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: assumeRole('states.amazonaws.com'),
          Policies: [
            {
              PolicyName: 'invoke',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  {
                    Effect: 'Allow',
                    Action: 'lambda:InvokeFunction',
                    Resource: [{ 'Fn::GetAtt': ['CheckCatalogStatusFunction', 'Arn'] }, { 'Fn::GetAtt': ['UpdateCatalogDbFunction', 'Arn'] }],
                  },
                ],
              },
            },
          ],
        },
      },
      PollerStateMachine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Metadata: { checkov: { skip: [{ id: 'CKV_AWS_284', comment: 'fixture' }, { id: 'CKV_AWS_285', comment: 'fixture' }] } },
        Properties: {
          RoleArn: { 'Fn::GetAtt': ['PollerRole', 'Arn'] },
          DefinitionString: {
            'Fn::Sub': [
              JSON.stringify(STATE_MACHINE),
              {
                CheckCatalogStatusFunctionArn: { 'Fn::GetAtt': ['CheckCatalogStatusFunction', 'Arn'] },
                UpdateCatalogDbFunctionArn: { 'Fn::GetAtt': ['UpdateCatalogDbFunction', 'Arn'] },
              },
            ],
          },
        },
      },
    },
  };
  const storage = {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: { VpcId: { Type: 'AWS::EC2::VPC::Id' } },
    Resources: {
      DbSecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: { GroupDescription: 'database', VpcId: { Ref: 'VpcId' } },
      },
    },
  };
  return { 'catalog-storage.json': storage, 'catalog-service.json': service, 'state_machine.json': STATE_MACHINE };
}

/** Only the fields the checkers read. */
export const FIXTURE_CONFIG = { name: 'fixture', account: { id: '111111111111', region: 'us-east-1' } } as unknown as EnvConfig;
