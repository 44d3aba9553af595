/**
 * The account-level Lambda settings preflight reads. Kept apart from ./lambda.ts (versions and
 * aliases, which release uses) so that only preflight pays for it.
 */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface AccountConcurrency {
  /** The account's concurrency quota in the region. */
  limit: number;
  /** The quota minus what functions reserve with PutFunctionConcurrency. */
  unreserved: number;
}

export interface LambdaAccountApi {
  accountConcurrency(): Promise<AccountConcurrency>;
}

export async function createLambdaAccountApi(target: AwsTarget): Promise<LambdaAccountApi> {
  const l = await import('@aws-sdk/client-lambda');
  const client = new l.LambdaClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof l.LambdaClient>[0]>);
  return {
    async accountConcurrency() {
      const out = await client.send(new l.GetAccountSettingsCommand({}));
      const limit = out.AccountLimit?.ConcurrentExecutions;
      const unreserved = out.AccountLimit?.UnreservedConcurrentExecutions;
      if (limit === undefined || unreserved === undefined) throw new Error('GetAccountSettings returned no concurrency limits');
      return { limit, unreserved };
    },
  };
}
