/**
 * esbuild bundles for Lambda: one CommonJS file per handler (CommonJS so `require('pg')` resolves
 * from the layer at /opt/nodejs/node_modules), minified and tree-shaken, with no absolute paths,
 * no timestamps and no source maps in the output. `pg` is external and ships in its own layer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildFailure } from 'esbuild';
import type { FunctionName } from '../config/types.ts';
import { UserInputError } from '../errors.ts';

export type Runtime = 'nodejs22.x' | 'nodejs24.x';

const target = (runtime: Runtime) => (runtime === 'nodejs24.x' ? 'node24' : 'node22');

async function bundleOne(rootDir: string, entry: string, runtime: Runtime, external: string[]): Promise<string> {
  if (!existsSync(join(rootDir, entry))) throw new UserInputError(`${entry}: not found under ${rootDir}; run package from the repository root`);
  const out = await build({
    absWorkingDir: rootDir,
    // Paths inside the bundle stay relative to rootDir even when node_modules is a link.
    preserveSymlinks: true,
    // Fixed compiler settings: the bytes must not depend on a tsconfig.json lying around.
    tsconfigRaw: { compilerOptions: { strict: true, verbatimModuleSyntax: false } },
    entryPoints: [entry],
    bundle: true,
    minify: true,
    treeShaking: true,
    platform: 'node',
    format: 'cjs',
    target: target(runtime),
    external,
    write: false,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    // The Lambda runtime reads NODE_ENV-free code; keep bundle text identical across machines.
    define: { 'process.env.NODE_ENV': '"production"' },
  }).catch((err: unknown) => {
    // A handler that does not compile is bad input: name the place, one line, like config errors.
    const first = (err as Partial<BuildFailure>).errors?.[0];
    if (!first) throw err;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : entry;
    throw new UserInputError(`${where} ${first.text}`);
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}

export function bundleHandler(rootDir: string, fn: FunctionName, runtime: Runtime): Promise<string> {
  return bundleOne(rootDir, `src/handlers/${fn}/index.ts`, runtime, ['pg', 'pg-native']);
}

/** The PostgreSQL driver as one file, laid out as a Node.js layer expects. */
export async function bundlePgLayer(rootDir: string, runtime: Runtime): Promise<string> {
  return bundleOne(rootDir, 'node_modules/pg/lib/index.js', runtime, ['pg-native', 'pg-cloudflare']);
}
