/** The Secrets Manager part of the AWS interface: what `secrets set` and `status` do with the operator-set secrets. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface SecretsManagerApi {
  /** Stores a new version (AWSCURRENT) of the secret; returns its version id. */
  putSecretString(secretId: string, value: string): Promise<string | undefined>;
  /** The secret's current string value (AWSCURRENT). */
  getSecretString(secretId: string): Promise<string | undefined>;
}

export async function createSecretsManagerApi(target: AwsTarget): Promise<SecretsManagerApi> {
  const sm = await import('@aws-sdk/client-secrets-manager');
  const client = new sm.SecretsManagerClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof sm.SecretsManagerClient>[0]>);
  return {
    async putSecretString(secretId, value) {
      // The SDK fills ClientRequestToken, so a retried call cannot store the value twice.
      const out = await client.send(new sm.PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
      return out.VersionId;
    },
    async getSecretString(secretId) {
      const out = await client.send(new sm.GetSecretValueCommand({ SecretId: secretId }));
      return out.SecretString;
    },
  };
}
