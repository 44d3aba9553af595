/**
 * What `catalogctl local` runs: the real handlers, the rendered state machine and the seeder, or,
 * with `--handlers-module`, a module exporting the same pieces (for trying a handler set without
 * rebuilding the CLI, and for the CLI's own tests).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
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
  functionTimeoutsMs?: LocalOptions['functionTimeoutsMs'];
  successLogSampleRate?: number;
  /** The env's external API, used when --external-api is not given. */
  externalApi?: string;
  /** Where the state machine came from, for the banner. */
  stateMachineSource?: string;
}

export async function handlersModuleRuntime(path: string): Promise<LocalRuntime> {
  let mod: { handlers?: () => HandlerSet | Promise<HandlerSet>; seedDatasets?: LocalRuntime['seedDatasets']; stateMachine?: object };
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as typeof mod;
  } catch (err) {
    throw new UserInputError(`--handlers-module ${path}: cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  if (typeof mod.handlers !== 'function') throw new UserInputError(`--handlers-module ${path}: exports no handlers() function`);
  return { loadHandlers: async () => mod.handlers!(), seedDatasets: mod.seedDatasets, stateMachine: mod.stateMachine };
}

/**
 * The handlers in src/handlers, the env's settings, the state machine rendered for the env
 * (`templates-out/<env>/state_machine.json`, the committed output of `catalogctl render`), and
 * the seeder.
 */
export async function realRuntime(envName: string, envDir: string, opts: { seedTenant: string; templatesDir?: string }): Promise<LocalRuntime> {
  const { loadEnv } = await import('../config/load.ts');
  const { seedDatasets } = await import('./seed.ts');
  const config = await loadEnv(envName, { envDir });
  const smFile = join(opts.templatesDir ?? 'templates-out', envName, 'state_machine.json');
  let stateMachine: object | undefined;
  try {
    stateMachine = JSON.parse(await readFile(smFile, 'utf8')) as object;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserInputError(`${smFile}: ${(err as Error).message}`);
  }
  return {
    async loadHandlers() {
      // Imported only now: the handlers read their environment, which the server has just set.
      const [list, get, write, authorizer, check, update, migrate] = await Promise.all([
        import('../handlers/list-datasets/index.ts'),
        import('../handlers/get-dataset/index.ts'),
        import('../handlers/write-dataset/index.ts'),
        import('../handlers/authorizer/index.ts'),
        import('../handlers/check-catalog-status/index.ts'),
        import('../handlers/update-catalog-db/index.ts'),
        import('../handlers/migrate/index.ts'),
      ]);
      return {
        'list-datasets': list.handler,
        'get-dataset': get.handler,
        'write-dataset': write.handler,
        authorizer: authorizer.handler,
        'check-catalog-status': check.handler,
        'update-catalog-db': update.handler,
        migrate: migrate.handler,
      } as unknown as HandlerSet;
    },
    seedDatasets: (url, count) => seedDatasets(url, count, { tenant: opts.seedTenant }),
    stateMachine,
    stateMachineSource: stateMachine ? smFile : undefined,
    app: config.app,
    stageVariables: config.api.stageVariables,
    functionTimeoutsMs: Object.fromEntries(Object.entries(config.lambda.functions).map(([fn, f]) => [fn, f.timeoutSeconds * 1000])),
    successLogSampleRate: config.logging.successLogSampleRate,
    externalApi: config.poller.externalApiBaseUrl,
  };
}
