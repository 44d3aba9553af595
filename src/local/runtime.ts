/**
 * What `catalogctl local` runs: the real handlers, the rendered state machine and the seeder, or,
 * with `--handlers-module`, a module exporting the same pieces (for trying a handler set without
 * rebuilding the CLI, and for the CLI's own tests).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Reporter } from '../reporter.ts';
import { UserInputError } from '../errors.ts';
import type { HandlerSet, LocalOptions } from './server.ts';

export interface LocalRuntime {
  loadHandlers(): Promise<HandlerSet>;
  seedDatasets?: (databaseUrl: string, count: number, reporter: Reporter) => Promise<number>;
  stateMachine?: object;
  /** The env's app settings and stage variables, as catalog-service passes them in AWS. */
  app?: LocalOptions['app'];
  stageVariables?: Record<string, string>;
  /** The env's external API, used when --external-api is not given. */
  externalApi?: string;
}

export async function handlersModuleRuntime(path: string): Promise<LocalRuntime> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as {
    handlers?: () => HandlerSet | Promise<HandlerSet>;
    seedDatasets?: LocalRuntime['seedDatasets'];
    stateMachine?: object;
  };
  if (typeof mod.handlers !== 'function') throw new UserInputError(`--handlers-module ${path}: exports no handlers() function`);
  return { loadHandlers: async () => mod.handlers!(), seedDatasets: mod.seedDatasets, stateMachine: mod.stateMachine };
}

/** The handlers in src/handlers, the state machine rendered for `envName`, and the real seeder. */
export async function realRuntime(_envName: string, _envDir: string, _opts: { seedTenant: string }): Promise<LocalRuntime> {
  throw new UserInputError('the Lambda handlers (src/handlers/<name>/index.ts) are not in this build yet; use --handlers-module <file>');
}
