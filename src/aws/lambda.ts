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

/** What a version (or $LATEST) runs: its code and its configuration, without identity or state. */
export interface FunctionSnapshot {
  codeSha256: string;
  /** Every configuration field GetFunctionConfiguration returns, less the volatile ones (see snapshotOf). */
  config: Record<string, unknown>;
  /** $LATEST's revision, so a version is published from exactly what was compared. */
  revisionId?: string;
}

export interface LambdaApi {
  /** Synchronous invocation of $LATEST (or `qualifier`); used for the migrate function. */
  invoke(functionName: string, payload: unknown, qualifier?: string): Promise<InvokeResult>;
  /** Publishes $LATEST; with `revisionId`, only if $LATEST is still that revision (else PreconditionFailedException). */
  publishVersion(functionName: string, revisionId?: string): Promise<string>;
  /** $LATEST's or a version's code and configuration. */
  snapshot(functionName: string, qualifier: string): Promise<FunctionSnapshot>;
  getAlias(functionName: string, alias: string): Promise<AliasState>;
  /**
   * The alias's RevisionId, which changes with every update of it (UpdateAlias given it refuses
   * when the alias changed since); undefined when Lambda gives none.
   */
  aliasRevisionId(functionName: string, alias: string): Promise<string | undefined>;
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
    async publishVersion(functionName, revisionId) {
      const out = await client.send(new l.PublishVersionCommand({ FunctionName: functionName, RevisionId: revisionId }));
      if (!out.Version) throw new Error(`PublishVersion ${functionName} returned no version`);
      return out.Version;
    },
    async snapshot(functionName, qualifier) {
      const out = await client.send(new l.GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: qualifier }));
      return snapshotOf(out as unknown as Record<string, unknown>);
    },
    async getAlias(functionName, alias) {
      const out = await client.send(new l.GetAliasCommand({ FunctionName: functionName, Name: alias }));
      return { functionVersion: out.FunctionVersion ?? '$LATEST', additionalWeights: { ...(out.RoutingConfig?.AdditionalVersionWeights ?? {}) } };
    },
    async aliasRevisionId(functionName, alias) {
      return (await client.send(new l.GetAliasCommand({ FunctionName: functionName, Name: alias }))).RevisionId;
    },
    async updateAlias(functionName, alias, version, weights) {
      await client.send(
        new l.UpdateAliasCommand({ FunctionName: functionName, Name: alias, FunctionVersion: version, RoutingConfig: { AdditionalVersionWeights: weights } }),
      );
    },
  };
}

/**
 * Fields that say which version this is or what state it is in, not what it runs; everything else
 * GetFunctionConfiguration returns is compared, so a field AWS adds later counts as configuration
 * (a needless release at worst, never a change left unreleased). RuntimeVersionConfig is left out:
 * a published version keeps the runtime build it was published with while $LATEST follows Lambda's
 * automatic runtime updates, which would make every version differ from $LATEST.
 */
const VOLATILE = new Set([
  '$metadata',
  'FunctionArn',
  'Version',
  'LastModified',
  'RevisionId',
  'State',
  'StateReason',
  'StateReasonCode',
  'LastUpdateStatus',
  'LastUpdateStatusReason',
  'LastUpdateStatusReasonCode',
  'MasterArn',
  'RuntimeVersionConfig',
]);

export function snapshotOf(out: Record<string, unknown>): FunctionSnapshot {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(out)) if (!VOLATILE.has(k) && v !== undefined) config[k] = v;
  // Layers carry their size and signing details next to the ARN; the ARN (with its version) is what runs.
  if (Array.isArray(config.Layers)) config.Layers = (config.Layers as { Arn?: string }[]).map((x) => x.Arn);
  if (config.SnapStart && typeof config.SnapStart === 'object') config.SnapStart = { ApplyOn: (config.SnapStart as { ApplyOn?: string }).ApplyOn };
  return { codeSha256: String(out.CodeSha256 ?? ''), config, ...(typeof out.RevisionId === 'string' ? { revisionId: out.RevisionId } : {}) };
}
