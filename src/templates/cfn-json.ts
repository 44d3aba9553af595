/**
 * The plain-JSON helpers of the stacks not yet built from cloudform-types' classes (./cfn.ts);
 * removed once every stack is typed.
 */
import type { EnvConfig, FunctionName } from '../config/types.ts';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: Json };

export interface Template {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Transform?: string;
  Parameters?: Record<string, Obj>;
  Conditions?: Record<string, Obj>;
  Resources: Record<string, Obj>;
  Outputs?: Record<string, Obj>;
}

export const ref = (name: string): Obj => ({ Ref: name });
export const getAtt = (resource: string, attr: string): Obj => ({ 'Fn::GetAtt': [resource, attr] });
export const sub = (s: string, vars?: Obj): Obj => ({ 'Fn::Sub': vars ? [s, vars] : s });
export const ifThen = (cond: string, a: Json, b: Json): Obj => ({ 'Fn::If': [cond, a, b] });
export const join = (sep: string, parts: Json[]): Obj => ({ 'Fn::Join': [sep, parts] });
export const equals = (a: Json, b: Json): Obj => ({ 'Fn::Equals': [a, b] });
export const not = (c: Obj): Obj => ({ 'Fn::Not': [c] });
export const noValue: Obj = { Ref: 'AWS::NoValue' };

export const pascal = (fn: string): string =>
  fn
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');

/** Physical names carry the env so two envs never collide in one account. */
export const functionName = (config: EnvConfig, fn: FunctionName): string => `catalog-${config.name}-${fn}`;

export function tags(config: EnvConfig, extra: Record<string, string> = {}): Obj[] {
  const all: Record<string, string> = { ...config.tags, 'catalog:env': config.name, ...extra };
  return Object.keys(all)
    .sort()
    .map((Key) => ({ Key, Value: all[Key]! }));
}

/** A customer-managed KMS key usable by the account's services, with yearly rotation. */
export function kmsKey(description: string, services: Json[], config: EnvConfig): Obj {
  const statements: Json[] = [
    {
      Sid: 'AccountAdministers',
      Effect: 'Allow',
      Principal: { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
      Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant'],
      Resource: '*',
    },
  ];
  if (services.length > 0) {
    statements.push({
      Sid: 'ServicesUseKey',
      Effect: 'Allow',
      Principal: { Service: services },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
    });
  }
  return {
    Type: 'AWS::KMS::Key',
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      Description: description,
      EnableKeyRotation: true,
      KeyPolicy: { Version: '2012-10-17', Statement: statements },
      Tags: tags(config),
    },
  };
}

export function logGroup(config: EnvConfig, name: Json, kmsKeyArn: Json): Obj {
  return {
    Type: 'AWS::Logs::LogGroup',
    DeletionPolicy: 'Delete',
    UpdateReplacePolicy: 'Delete',
    Properties: {
      LogGroupName: name,
      RetentionInDays: config.logging.retentionDays,
      KmsKeyId: kmsKeyArn,
      Tags: tags(config),
    },
  };
}

/** CloudWatch Logs' regional service principal, for key policies of encrypted log groups. */
export const LOGS_PRINCIPAL: Obj = { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' };

export const assumeRole = (service: string): Obj => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
});

/** Metadata that suppresses a checkov check, with the reason a reviewer needs. */
export function checkovSkip(items: { id: string; comment: string }[]): Obj {
  return { checkov: { skip: items } };
}
