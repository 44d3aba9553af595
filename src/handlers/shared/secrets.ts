/**
 * Secrets Manager reads, cached per container. `fresh: true` bypasses the cache (after a rotation
 * made the cached value wrong). The SDK client is loaded on first use only.
 */
const cache = new Map<string, string>();
let client: { send(cmd: unknown): Promise<{ SecretString?: string }> } | undefined;
let GetSecretValue: (new (input: { SecretId: string }) => unknown) | undefined;

export async function getSecret(arn: string, opts: { fresh?: boolean } = {}): Promise<string> {
  if (!opts.fresh) {
    const hit = cache.get(arn);
    if (hit !== undefined) return hit;
  }
  if (!client || !GetSecretValue) {
    const sm = await import('@aws-sdk/client-secrets-manager');
    client = new sm.SecretsManagerClient({}) as unknown as typeof client;
    GetSecretValue = sm.GetSecretValueCommand as unknown as typeof GetSecretValue;
  }
  const out = await client!.send(new GetSecretValue!({ SecretId: arn }));
  if (out.SecretString === undefined) throw new Error(`secret ${arn} has no string value`);
  cache.set(arn, out.SecretString);
  return out.SecretString;
}

export function clearSecretCache(): void {
  cache.clear();
}
