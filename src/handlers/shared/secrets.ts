/**
 * Secrets Manager reads, cached per container. `fresh: true` bypasses the cache (after a rotation
 * made the cached value wrong). One signed GetSecretValue request, not the SDK client (aws-json.ts
 * says why).
 */
import { AwsCallError, awsJson, SECRETS_MANAGER } from './aws-json.ts';

const cache = new Map<string, string>();

export async function getSecret(arn: string, opts: { fresh?: boolean } = {}): Promise<string> {
  if (!opts.fresh) {
    const hit = cache.get(arn);
    if (hit !== undefined) return hit;
  }
  const out = await awsJson(SECRETS_MANAGER, 'GetSecretValue', { SecretId: arn });
  if (typeof out.SecretString !== 'string') throw new AwsCallError(`secret ${arn} has no string value`, 'NoSecretString', false);
  cache.set(arn, out.SecretString);
  return out.SecretString;
}

/** Another stage of a secret (AWSPREVIOUS: the other user of a multi-user rotation); never cached. */
export async function getSecretStage(arn: string, stage: string): Promise<string | undefined> {
  try {
    const out = await awsJson(SECRETS_MANAGER, 'GetSecretValue', { SecretId: arn, VersionStage: stage });
    return typeof out.SecretString === 'string' ? out.SecretString : undefined;
  } catch (err) {
    // A secret that never rotated has no AWSPREVIOUS.
    if (err instanceof AwsCallError && err.code === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

export function clearSecretCache(): void {
  cache.clear();
}
