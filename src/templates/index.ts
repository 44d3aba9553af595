/**
 * The template side of catalogctl: pure builders from EnvConfig to the five stacks, the poller's
 * state machine and the release state machine. No fs, clock or environment here; render writes
 * what this returns.
 */
import type { EnvConfig } from '../config/types.ts';
import { buildNetworkStack } from './network.ts';
import { buildObservabilityStack } from './observability.ts';
import { buildSecretsStack } from './secrets.ts';
import { buildServiceStack } from './service.ts';
import { buildReleaseStateMachine } from './release-state-machine.ts';
import { buildStateMachine } from './state-machine.ts';
import { buildStorageStack } from './storage.ts';

export { buildStateMachine } from './state-machine.ts';
export { buildReleaseStateMachine } from './release-state-machine.ts';
export { codeKeyParameter, liveVersionParameter, PG_LAYER_KEY_PARAMETER } from './ids.ts';

export const RENDERED_FILES = [
  'catalog-network.json',
  'catalog-storage.json',
  'catalog-secrets.json',
  'catalog-service.json',
  'catalog-observability.json',
  'state_machine.json',
  'release_state_machine.json',
] as const;
export type RenderedFileName = (typeof RENDERED_FILES)[number];
export type RenderedEnvironment = Record<RenderedFileName, object>;

/**
 * The seven files as plain JSON values. Builders return cloudform-types objects whose intrinsics
 * serialise themselves (toJSON); one JSON round trip here gives every reader of templates (the
 * invariants, validate, deploy's template diff) the template exactly as CloudFormation reads it.
 * On this cold path (once per env) native JSON costs about a third of a hand-written walk.
 */
export function renderEnvironment(config: EnvConfig): RenderedEnvironment {
  return JSON.parse(JSON.stringify(buildTemplates(config))) as RenderedEnvironment;
}

/**
 * The seven files as the builders return them (cloudform-types objects). For writing them out:
 * canonicalJson serialises intrinsics through their toJSON, so render needs no round trip.
 */
export function buildTemplates(config: EnvConfig): RenderedEnvironment {
  return {
    'catalog-network.json': buildNetworkStack(config),
    'catalog-storage.json': buildStorageStack(config),
    'catalog-secrets.json': buildSecretsStack(config),
    'catalog-service.json': buildServiceStack(config),
    'catalog-observability.json': buildObservabilityStack(config),
    'state_machine.json': buildStateMachine(config),
    'release_state_machine.json': buildReleaseStateMachine(config),
  };
}
