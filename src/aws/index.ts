/**
 * The whole narrow AWS interface, composed from one AwsTarget. Deploy and release code depends on
 * this shape only, so each service keeps to the few calls the commands actually make.
 */
import { createApiGatewayApi, type ApiGatewayApi } from './apigateway.ts';
import { createCloudFormationApi, type CloudFormationApi } from './cloudformation.ts';
import { createCloudWatchApi, type CloudWatchApi } from './cloudwatch.ts';
import { createLambdaApi, type LambdaApi } from './lambda.ts';
import { createS3Api, type S3Api } from './s3.ts';
import type { SfnApi } from './sfn.ts';
import { guardStacks, type StackGuardOptions } from './stack-guard.ts';
import { assertAccount, callerAccount } from './sts.ts';
import type { AwsTarget } from './target.ts';

export type { AwsTarget } from './target.ts';

export interface AwsApi {
  target: AwsTarget;
  callerAccount(): Promise<string>;
  s3: S3Api;
  lambda: LambdaApi;
  apigateway: ApiGatewayApi;
  cloudwatch: CloudWatchApi;
  cloudformation: CloudFormationApi;
  /** Step Functions, for releases run in AWS; created on first use (src/deploy/release.ts sfnOf) unless given. */
  sfn?: SfnApi;
}

export async function createAwsApi(target: AwsTarget): Promise<AwsApi> {
  const [s3, lambda, apigateway, cloudwatch, cloudformation] = await Promise.all([
    createS3Api(target),
    createLambdaApi(target),
    createApiGatewayApi(target),
    createCloudWatchApi(target),
    createCloudFormationApi(target),
  ]);
  return { target, callerAccount: () => callerAccount(target), s3, lambda, apigateway, cloudwatch, cloudformation };
}

/**
 * Builds the interface only after the credentials' account matches the env's (else exit 2), with
 * the env guard on stacks: a stack tagged for another env is refused (exit 2) wherever it is read.
 */
export async function createGuardedAwsApi(target: AwsTarget, env: { name: string; account: { id: string } }, opts: StackGuardOptions = {}): Promise<AwsApi> {
  await assertAccount(target, env);
  const aws = await createAwsApi(target);
  return { ...aws, cloudformation: guardStacks(aws.cloudformation, env.name, opts) };
}
