import type { Command } from 'commander';
import { registerRender } from './render.ts';
import { registerValidate } from './validate.ts';
import { registerPackage } from './package.ts';
import { registerDeployCommands } from './deploy.ts';
import { registerPreflight } from './preflight.ts';
import { registerSecrets } from './secrets.ts';
import { registerDb } from './db.ts';
import { registerLocal } from './local.ts';
import { registerVerify } from './verify.ts';
import { registerCompletion } from './completion.ts';

/** Every command, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerRender(program);
  registerValidate(program);
  registerPackage(program);
  registerPreflight(program);
  registerDeployCommands(program);
  registerSecrets(program);
  registerDb(program);
  registerLocal(program);
  registerVerify(program);
  registerCompletion(program);
}
