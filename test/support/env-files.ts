/**
 * Env files for CLI tests against the emulator: envs/dev.yaml with the emulator's account, and the
 * envs/_base.yaml it extends, written into a temp env dir (`--env-dir`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MOTO_ACCOUNT_ID } from './moto.ts';

/** Writes `<envDir>/dev.yaml` (the emulator's account, then `edit`) and `<envDir>/_base.yaml`; returns the dev.yaml written. */
export async function writeEmulatorEnv(envDir: string, edit: (yaml: string) => string = (yaml) => yaml): Promise<string> {
  await mkdir(envDir, { recursive: true });
  const yaml = edit((await readFile('envs/dev.yaml', 'utf8')).replaceAll('111111111111', MOTO_ACCOUNT_ID));
  await writeFile(join(envDir, 'dev.yaml'), yaml);
  await writeFile(join(envDir, '_base.yaml'), await readFile('envs/_base.yaml', 'utf8')); // dev.yaml extends it
  return yaml;
}
