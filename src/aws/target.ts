/**
 * Where AWS calls go: built once from `--region`, `--profile`, `--endpoint-url` (or
 * AWS_ENDPOINT_URL) and turned into SDK v3 client configuration here, so every client in
 * src/aws agrees. Nothing outside src/aws constructs an SDK client.
 */
export interface AwsTarget {
  region: string;
  profile?: string;
  /** A local emulator, e.g. http://127.0.0.1:5000; real AWS when absent. */
  endpoint?: string;
}

export interface SdkClientConfig {
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: unknown;
  maxAttempts?: number;
}

export async function sdkClientConfig(target: AwsTarget): Promise<SdkClientConfig> {
  const endpoint = target.endpoint ?? process.env.AWS_ENDPOINT_URL ?? undefined;
  const config: SdkClientConfig = { region: target.region, maxAttempts: 5 };
  if (endpoint) {
    config.endpoint = endpoint;
    // Emulators serve S3 by path, not by virtual host.
    config.forcePathStyle = true;
  }
  if (target.profile) {
    const { fromIni } = await import('@aws-sdk/credential-providers');
    config.credentials = fromIni({ profile: target.profile });
  }
  return config;
}
