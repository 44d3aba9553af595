/** The STS part of the AWS interface, and the guard every AWS-touching command runs first. */
import { DeployError, UserInputError } from '../errors.ts';
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export async function callerAccount(target: AwsTarget): Promise<string> {
  const sts = await import('@aws-sdk/client-sts');
  const client = new sts.STSClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof sts.STSClient>[0]>);
  let out;
  try {
    out = await client.send(new sts.GetCallerIdentityCommand({}));
  } catch (err) {
    // No credentials, expired ones or no network: an AWS failure (exit 3), not a crash.
    throw new DeployError(`cannot check the AWS account (STS GetCallerIdentity): ${(err as Error).message}`);
  }
  if (!out.Account) throw new Error('STS returned no account id');
  return out.Account;
}

/** A prod config can never act on the dev account: the credentials' account must match the env's. */
export async function assertAccount(target: AwsTarget, env: { name: string; account: { id: string } }): Promise<void> {
  const actual = await callerAccount(target);
  if (actual !== env.account.id) {
    throw new UserInputError(`account mismatch: env ${env.name} is account ${env.account.id} but the credentials are for ${actual}; use the right --profile`);
  }
}
