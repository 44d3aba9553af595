/**
 * What the five stacks share: cloudform-types' intrinsic functions (`Fn`; each serialises itself
 * through toJSON), the template shape, IAM documents, tags, names, and the resources every stack
 * builds the same way (KMS keys, log groups).
 */
import { IntrinsicFunction, type Condition, type List, type Value } from 'cloudform-types/types/dataTypes.js';
import * as Fn from 'cloudform-types/types/functions.js';
import type * as ParameterModule from 'cloudform-types/types/parameter.js';
import type { EnvConfig, FunctionName } from '../config/types.ts';
import { KMS, Logs, removalPolicy, type ResourceBase } from './resources.ts';

export { Fn, IntrinsicFunction, type Condition, type List, type Value };
export { pascal } from './ids.ts';

export type Parameter = ParameterModule.default;
export interface Output {
  Description: string;
  Value: Value<string>;
}
export interface Template {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Transform?: string;
  Parameters?: Record<string, Parameter>;
  Conditions?: Record<string, Condition>;
  Resources: Record<string, ResourceBase>;
  Outputs?: Record<string, Output>;
}

/**
 * Fn::Sub, in its short form when there are no variables (`Fn.Sub` always writes `[text, vars]`,
 * which would change every rendered template for nothing).
 */
export const sub = (text: string, vars?: Record<string, Value<string>>): IntrinsicFunction => (vars ? Fn.Sub(text, vars) : new IntrinsicFunction('Fn::Sub', text));

export const noValue: IntrinsicFunction = Fn.Ref('AWS::NoValue');

/**
 * Fn::If for a property whose type is an object: cloudform-types admits an intrinsic only where a
 * property is `Value<T>` (gap, see ./resources.ts); both branches are still checked against T.
 */
export function ifProperty<T>(condition: string, whenTrue: T, whenFalse: T | typeof noValue): T {
  return Fn.If(condition, whenTrue, whenFalse) as unknown as T;
}

/** An IAM statement in an identity or resource policy. */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: { Service?: Value<string> | Value<string>[]; AWS?: Value<string> };
  Action: string | string[];
  Resource: Value<string> | Value<string>[];
  Condition?: Record<string, Record<string, Value<string>>>;
}
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}
export const policyDocument = (statements: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements });
/** An inline policy of an IAM role. */
export const rolePolicy = (name: string, statements: PolicyStatement[]) => ({ PolicyName: name, PolicyDocument: policyDocument(statements) });
export const allow = (action: string | string[], resource: Value<string> | Value<string>[]): PolicyStatement => ({ Effect: 'Allow', Action: action, Resource: resource });

/** A role's trust policy: who may assume it (no Resource, unlike identity policies). */
export interface TrustPolicyDocument {
  Version: '2012-10-17';
  Statement: { Effect: 'Allow'; Principal: { Service: string }; Action: 'sts:AssumeRole' }[];
}
/** The trust policy letting one AWS service assume a role. */
export const assumeRole = (service: string): TrustPolicyDocument => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
});

/** Physical names carry the env so two envs never collide in one account. */
export const functionName = (config: EnvConfig, fn: FunctionName): string => `catalog-${config.name}-${fn}`;

export function tags(config: EnvConfig, extra: Record<string, string> = {}): { Key: string; Value: string }[] {
  const all: Record<string, string> = { ...config.tags, 'catalog:env': config.name, ...extra };
  return Object.keys(all)
    .sort()
    .map((Key) => ({ Key, Value: all[Key]! }));
}

/** A customer-managed KMS key usable by the account's services, with yearly rotation. */
export function kmsKey(description: string, services: Value<string>[], config: EnvConfig) {
  const statements: PolicyStatement[] = [
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
  const key = new KMS.Key({ Description: description, EnableKeyRotation: true, KeyPolicy: policyDocument(statements), Tags: tags(config) });
  return removalPolicy(key, 'Retain');
}

/** A log group that goes with its stack, retained per the env and encrypted with `kmsKeyArn`. */
export function logGroup(config: EnvConfig, name: Value<string> | undefined, kmsKeyArn: Value<string>) {
  const group = new Logs.LogGroup({ LogGroupName: name, RetentionInDays: config.logging.retentionDays, KmsKeyId: kmsKeyArn, Tags: tags(config) });
  return removalPolicy(group, 'Delete');
}

/** CloudWatch Logs' regional service principal, for key policies of encrypted log groups. */
export const LOGS_PRINCIPAL: IntrinsicFunction = sub('logs.${AWS::Region}.amazonaws.com');

/** Metadata that suppresses checkov checks, each with the reason a reviewer needs. */
export function checkovSkip(items: { id: string; comment: string }[]) {
  return { checkov: { skip: items } };
}
