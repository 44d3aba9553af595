/**
 * catalog-secrets: the application's least-privilege DB user (rotated by the Secrets Manager
 * hosted rotation function, multi-user, using the RDS-managed master secret), the JWT
 * verification keys, and the poller's external-API token, all under one customer key.
 */
import type { EnvConfig } from '../config/types.ts';
import { getAtt, kmsKey, LOGS_PRINCIPAL, ref, sub, tags, type Obj, type Template } from './cfn-json.ts';

export function buildSecretsStack(config: EnvConfig): Template {
  const db = config.database;
  const secret = (description: string, generate: Obj): Obj => ({
    Type: 'AWS::SecretsManager::Secret',
    DeletionPolicy: 'Delete',
    UpdateReplacePolicy: 'Delete',
    Properties: { Description: description, KmsKeyId: ref('SecretsKey'), GenerateSecretString: generate, Tags: tags(config) },
  });
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: application secrets and their rotation`,
    Transform: 'AWS::SecretsManager-2020-07-23',
    Parameters: {
      SubnetIds: { Type: 'List<AWS::EC2::Subnet::Id>', Description: 'Private subnets for the rotation function (catalog-network output)' },
      LambdaSecurityGroupId: { Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Security group that may reach the database (catalog-network output)' },
      DbEndpointAddress: { Type: 'String', Description: 'Database endpoint (catalog-storage output)' },
      DbEndpointPort: { Type: 'String', Description: 'Database port (catalog-storage output)' },
      DbMasterSecretArn: { Type: 'String', Description: 'RDS-managed master secret (catalog-storage output)' },
      DbKmsKeyArn: { Type: 'String', Description: 'Key of the master secret (catalog-storage output)' },
    },
    Resources: {
      SecretsKey: kmsKey(`Catalog ${config.name} application secrets, Lambda environment and service logs`, ['secretsmanager.amazonaws.com', 'lambda.amazonaws.com', LOGS_PRINCIPAL], config),
      AppDbSecret: secret(`Catalog ${config.name}: PostgreSQL user ${db.appUsername} (least privilege)`, {
        SecretStringTemplate: sub(
          JSON.stringify({ engine: 'postgres', username: db.appUsername, dbname: db.databaseName, host: '${DbEndpointAddress}', port: '${DbEndpointPort}', masterarn: '${DbMasterSecretArn}' }),
        ),
        GenerateStringKey: 'password',
        PasswordLength: 32,
        ExcludeCharacters: '"@/\\\'` ',
      }),
      AppDbSecretRotation: {
        Type: 'AWS::SecretsManager::RotationSchedule',
        Properties: {
          SecretId: ref('AppDbSecret'),
          HostedRotationLambda: {
            RotationType: 'PostgreSQLMultiUser',
            RotationLambdaName: `catalog-${config.name}-app-db-rotation`,
            MasterSecretArn: ref('DbMasterSecretArn'),
            MasterSecretKmsKeyArn: ref('DbKmsKeyArn'),
            KmsKeyArn: getAtt('SecretsKey', 'Arn'),
            VpcSubnetIds: { 'Fn::Join': [',', ref('SubnetIds')] },
            VpcSecurityGroupIds: ref('LambdaSecurityGroupId'),
          },
          RotationRules: { AutomaticallyAfterDays: db.secretRotationDays },
        },
      },
      JwtKeysSecret: secret(`Catalog ${config.name}: JWT verification keys (JWKS), set by the platform identity team`, {
        SecretStringTemplate: JSON.stringify({ jwks_uri: config.auth.jwksUri, issuer: config.auth.issuer, audience: config.auth.audience }),
        GenerateStringKey: 'placeholder',
        PasswordLength: 16,
      }),
      PollerTokenSecret: secret(`Catalog ${config.name}: bearer token the status poller presents to the external catalog API`, {
        SecretStringTemplate: '{}',
        GenerateStringKey: 'token',
        PasswordLength: 64,
        ExcludePunctuation: true,
      }),
    },
    Outputs: {
      AppDbSecretArn: { Description: 'Secret of the application DB user', Value: ref('AppDbSecret') },
      JwtKeysSecretArn: { Description: 'Secret holding the JWT verification settings', Value: ref('JwtKeysSecret') },
      PollerTokenSecretArn: { Description: "Secret holding the poller's external-API token", Value: ref('PollerTokenSecret') },
      SecretsKmsKeyArn: { Description: 'Key encrypting these secrets and the functions\u2019 environment', Value: getAtt('SecretsKey', 'Arn') },
    },
  };
}
