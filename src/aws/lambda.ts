/** The Lambda part of the AWS interface: versions and the `live` alias, nothing else. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface AliasState {
  functionVersion: string;
  /** Extra versions and their traffic fractions (0..1); empty when one version serves all. */
  additionalWeights: Record<string, number>;
}

export interface InvokeResult {
  statusCode: number;
  /** Set when the function threw ('Unhandled') or returned an error shape. */
  functionError?: string;
  /** The response payload as text (JSON from our handlers). */
  payload: string;
}

export interface LambdaApi {
  /** Synchronous invocation of $LATEST (or `qualifier`); used for the migrate function. */
  invoke(functionName: string, payload: unknown, qualifier?: string): Promise<InvokeResult>;
  publishVersion(functionName: string): Promise<string>;
  getAlias(functionName: string, alias: string): Promise<AliasState>;
  /** Points the alias at `version`, with `weights` (version → fraction) as extra routing; {} clears it. */
  updateAlias(functionName: string, alias: string, version: string, weights: Record<string, number>): Promise<void>;
}

export async function createLambdaApi(target: AwsTarget): Promise<LambdaApi> {
  const l = await import('@aws-sdk/client-lambda');
  const client = new l.LambdaClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof l.LambdaClient>[0]>);
  return {
    async invoke(functionName, payload, qualifier) {
      const out = await client.send(
        new l.InvokeCommand({ FunctionName: functionName, Qualifier: qualifier, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
      );
      return { statusCode: out.StatusCode ?? 0, functionError: out.FunctionError, payload: out.Payload ? new TextDecoder().decode(out.Payload) : '' };
    },
    async publishVersion(functionName) {
      const out = await client.send(new l.PublishVersionCommand({ FunctionName: functionName }));
      if (!out.Version) throw new Error(`PublishVersion ${functionName} returned no version`);
      return out.Version;
    },
    async getAlias(functionName, alias) {
      const out = await client.send(new l.GetAliasCommand({ FunctionName: functionName, Name: alias }));
      return { functionVersion: out.FunctionVersion ?? '$LATEST', additionalWeights: { ...(out.RoutingConfig?.AdditionalVersionWeights ?? {}) } };
    },
    async updateAlias(functionName, alias, version, weights) {
      await client.send(
        new l.UpdateAliasCommand({ FunctionName: functionName, Name: alias, FunctionVersion: version, RoutingConfig: { AdditionalVersionWeights: weights } }),
      );
    },
  };
}
