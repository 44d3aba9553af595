/** The Secrets Manager part of the AWS interface: what `secrets set` and `status` do with the operator-set secrets. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface SecretsManagerApi {
  /** Stores a new version (AWSCURRENT) of the secret; returns its version id. */
  putSecretString(secretId: string, value: string): Promise<string | undefined>;
  /** The secret's current string value (AWSCURRENT). */
  getSecretString(secretId: string): Promise<string | undefined>;
}

/** What `status` reads to tell a secret's age, and `db restore` to move the app secret's endpoint. */
export interface SecretsInspectApi {
  /** Rotation settings and dates (DescribeSecret), and when AWSCURRENT's version was created (ListSecretVersionIds). */
  describe(secretId: string): Promise<SecretInfo>;
  /** AWSCURRENT's value and version id. */
  current(secretId: string): Promise<{ value: string; versionId: string }>;
  /** Stores `value` as the new AWSCURRENT version. */
  put(secretId: string, value: string): Promise<string | undefined>;
}

export interface SecretInfo {
  arn: string;
  name?: string;
  rotationEnabled: boolean;
  /** AutomaticallyAfterDays, or undefined (a schedule expression, or no rotation). */
  rotationDays?: number;
  rotationSchedule?: string;
  lastRotated?: Date;
  lastChanged?: Date;
  nextRotation?: Date;
  /** Created date of the AWSCURRENT version: when the value in use was put. */
  currentSince?: Date;
  /** RDS-managed (owned by the RDS service). */
  ownedBy?: string;
}

export async function createSecretsInspectApi(target: AwsTarget): Promise<SecretsInspectApi> {
  const sm = await import('@aws-sdk/client-secrets-manager');
  const client = new sm.SecretsManagerClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof sm.SecretsManagerClient>[0]>);
  return {
    async describe(secretId) {
      const d = await client.send(new sm.DescribeSecretCommand({ SecretId: secretId }));
      let currentSince: Date | undefined;
      let token: string | undefined;
      do {
        const v = await client.send(new sm.ListSecretVersionIdsCommand({ SecretId: secretId, NextToken: token }));
        for (const x of v.Versions ?? []) if (x.VersionStages?.includes('AWSCURRENT')) currentSince = x.CreatedDate;
        token = v.NextToken;
      } while (token);
      return {
        arn: d.ARN ?? secretId,
        name: d.Name,
        rotationEnabled: d.RotationEnabled === true,
        rotationDays: d.RotationRules?.AutomaticallyAfterDays,
        rotationSchedule: d.RotationRules?.ScheduleExpression,
        lastRotated: d.LastRotatedDate,
        lastChanged: d.LastChangedDate,
        nextRotation: d.NextRotationDate,
        currentSince,
        ownedBy: d.OwningService,
      };
    },
    async current(secretId) {
      const out = await client.send(new sm.GetSecretValueCommand({ SecretId: secretId }));
      if (typeof out.SecretString !== 'string' || !out.VersionId) throw new Error(`secret ${secretId} has no string value`);
      return { value: out.SecretString, versionId: out.VersionId };
    },
    async put(secretId, value) {
      return (await client.send(new sm.PutSecretValueCommand({ SecretId: secretId, SecretString: value }))).VersionId;
    },
  };
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
