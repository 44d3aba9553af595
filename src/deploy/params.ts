/**
 * Stack parameters, wired by name: a Parameter called like an upstream stack's Output takes that
 * Output's value; code keys come from the artifact manifest; `LiveVersion*` / `LiveDeploymentId`
 * take what is live in AWS now, so applying a change set never moves traffic. Pure: the deploy
 * steps gather the inputs and this decides.
 */
import { API_FUNCTIONS, FUNCTION_NAMES, type EnvConfig } from '../config/types.ts';
import type { StackParameter } from '../aws/cloudformation.ts';
import { codeKeyParameter, liveVersionParameter, PG_LAYER_KEY_PARAMETER } from '../templates/index.ts';

/** The S3 keys of the code to deploy; the artifact manifest's keys (function name → key, plus the layer). */
export interface CodeKeys {
  functions: Partial<Record<(typeof FUNCTION_NAMES)[number], string>>;
  layerPg?: string;
}

/** What serves traffic now: alias versions by function, and the stage's deployment id. */
export interface LiveState {
  versions: Partial<Record<(typeof API_FUNCTIONS)[number], string>>;
  deploymentId?: string;
}

export interface ParameterSources {
  config: EnvConfig;
  /** Outputs of the stacks deployed before this one, merged. */
  upstreamOutputs: Record<string, string>;
  codeKeys?: CodeKeys;
  live?: LiveState;
  /** Parameter values of the deployed stack, when it exists. */
  previous?: Record<string, string>;
  /** Values an operation sets on purpose (`db restore`'s Restore* parameters); they win over everything. */
  overrides?: Record<string, string>;
}

/**
 * Parameters a deploy never changes once the stack has them: `db restore` sets the Restore* ones
 * of catalog-storage (a later deploy sending their defaults would replace the restored database
 * with an empty one), and the app secret's connection details in catalog-secrets are the
 * secret's own from its creation on (a changed value in its GenerateSecretString would make
 * CloudFormation generate a new password and lock the app out; `db restore` moves them in the
 * secret itself). A new stack takes the upstream Output named here, or the template's default.
 */
export const STICKY_PARAMETERS: Readonly<Record<string, string | undefined>> = {
  RestoreSourceDBInstanceIdentifier: undefined,
  RestoreTime: undefined,
  RestoreDBSnapshotIdentifier: undefined,
  RestoredMasterSecretArn: undefined,
  AppDbSecretHost: 'DbEndpointAddress',
  AppDbSecretPort: 'DbEndpointPort',
  AppDbSecretMasterArn: 'DbMasterSecretArn',
};

export type ParameterOrigin = 'code' | 'live' | 'config' | 'upstream' | 'previous' | 'default' | 'operation';

export interface ResolvedParameters {
  parameters: StackParameter[];
  /** Where each value came from, for the plan printout and tests. */
  origins: Record<string, ParameterOrigin>;
  /** Parameters without a default and without any source. */
  missing: string[];
}

/** Explicit values this tool owns, by parameter name. */
export function ownedValues(sources: Pick<ParameterSources, 'config' | 'codeKeys' | 'live' | 'previous' | 'overrides'> & { upstreamOutputs?: Record<string, string> }): Map<string, { value: string; origin: ParameterOrigin }> {
  const owned = new Map<string, { value: string; origin: ParameterOrigin }>();
  for (const [key, upstream] of Object.entries(STICKY_PARAMETERS)) {
    if (sources.previous && key in sources.previous) owned.set(key, { value: sources.previous[key]!, origin: 'previous' });
    else if (upstream && sources.upstreamOutputs && upstream in sources.upstreamOutputs) owned.set(key, { value: sources.upstreamOutputs[upstream]!, origin: 'upstream' });
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) owned.set(key, { value, origin: 'operation' });
  owned.set('ArtifactBucket', { value: sources.config.artifacts.bucket, origin: 'config' });
  for (const fn of FUNCTION_NAMES) {
    const key = sources.codeKeys?.functions[fn];
    if (key) owned.set(codeKeyParameter(fn), { value: key, origin: 'code' });
  }
  if (sources.codeKeys?.layerPg) owned.set(PG_LAYER_KEY_PARAMETER, { value: sources.codeKeys.layerPg, origin: 'code' });
  if (sources.live) {
    for (const fn of API_FUNCTIONS) owned.set(liveVersionParameter(fn), { value: sources.live.versions[fn] ?? '', origin: 'live' });
    owned.set('LiveDeploymentId', { value: sources.live.deploymentId ?? '', origin: 'live' });
  }
  return owned;
}

export function resolveParameters(template: { Parameters?: Record<string, { Default?: unknown }> }, sources: ParameterSources): ResolvedParameters {
  const owned = ownedValues(sources);
  const parameters: StackParameter[] = [];
  const origins: Record<string, ParameterOrigin> = {};
  const missing: string[] = [];
  for (const key of Object.keys(template.Parameters ?? {}).sort()) {
    const def = template.Parameters![key]!;
    const mine = owned.get(key);
    if (mine) {
      parameters.push({ key, value: mine.value });
      origins[key] = mine.origin;
    } else if (key in sources.upstreamOutputs) {
      parameters.push({ key, value: sources.upstreamOutputs[key] });
      origins[key] = 'upstream';
    } else if (def.Default !== undefined) {
      // The template's default is the env's value (builders put config into defaults).
      origins[key] = 'default';
    } else if (sources.previous && key in sources.previous) {
      parameters.push({ key, usePrevious: true });
      origins[key] = 'previous';
    } else {
      missing.push(key);
    }
  }
  return { parameters, origins, missing };
}

/** The keys a release puts into catalog-service, from the package manifest's shape. */
export function codeKeysFromManifest(manifest: { functions: Partial<Record<string, { key: string }>>; layers?: { pg?: { key: string } } }): CodeKeys {
  const functions: CodeKeys['functions'] = {};
  for (const fn of FUNCTION_NAMES) {
    const a = manifest.functions[fn];
    if (a) functions[fn] = a.key;
  }
  return { functions, layerPg: manifest.layers?.pg?.key };
}
