/**
 * esbuild bundles for Lambda: one CommonJS file per handler (CommonJS so `require('pg')` resolves
 * from the layer at /opt/nodejs/node_modules), minified and tree-shaken, with no absolute paths,
 * no timestamps and no source maps in the output. `pg` is external and ships in its own layer.
 * Two things are settled at bundle time rather than at every cold start: the RDS certificate
 * authorities of the env's region become string literals, and pg's Cloudflare Workers probe is cut.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildFailure, type Plugin } from 'esbuild';
import type { FunctionName } from '../config/types.ts';
import { UserInputError } from '../errors.ts';
import { amazonTrustRoots } from '../handlers/shared/amazon-ca.ts';
import { rdsCaFor } from '../handlers/shared/rds-ca.ts';

export type Runtime = 'nodejs22.x' | 'nodejs24.x';

const target = (runtime: Runtime) => (runtime === 'nodejs24.x' ? 'node24' : 'node22');

/**
 * src/handlers/shared/rds-ca.ts, replaced by the env region's CAs as literals: no X.509 parsing and
 * no 115-certificate bundle in the function. A bundle run in another region says so and refuses.
 */
function rdsCaPlugin(region: string): Plugin {
  return {
    name: 'rds-ca',
    setup(b) {
      b.onResolve({ filter: /^\.\/rds-ca\.ts$/ }, () => ({ path: 'rds-ca', namespace: 'rds-ca' }));
      b.onLoad({ filter: /.*/, namespace: 'rds-ca' }, () => {
        let ca: string[];
        try {
          ca = rdsCaFor(region);
        } catch (err) {
          throw new UserInputError(`account.region: ${(err as Error).message}`);
        }
        const contents = `const REGION = ${JSON.stringify(region)};
const CA = ${JSON.stringify(ca)};
export function rdsCaFor(region) {
  if (region !== REGION) throw new Error("this bundle carries the RDS certificate authorities of " + REGION + " only, not " + region + ": package it for this region");
  return CA;
}
`;
        return { contents, loader: 'js' };
      });
    },
  };
}

/** src/handlers/shared/amazon-ca.ts (RDS Proxy's roots), replaced by the five certificates as literals. */
function amazonCaPlugin(): Plugin {
  return {
    name: 'amazon-ca',
    setup(b) {
      b.onResolve({ filter: /^\.\/amazon-ca\.ts$/ }, () => ({ path: 'amazon-ca', namespace: 'amazon-ca' }));
      b.onLoad({ filter: /.*/, namespace: 'amazon-ca' }, () => ({ contents: `const CA = ${JSON.stringify(amazonTrustRoots())};\nexport function amazonTrustRoots() { return CA; }\n`, loader: 'js' }));
    },
  };
}

/**
 * pg asks "am I in a Cloudflare Worker?" when it is loaded; on Node 20, where `navigator` is not
 * defined, it answers by constructing a `Response`, which loads undici (≈60 ms). A Lambda function
 * never is one, so the layer's copy answers "no" without asking. Fails the build if pg changes.
 */
const PG_CLOUDFLARE_PROBE = 'if (isCloudflareRuntime()) {';
function pgNoCloudflarePlugin(): Plugin {
  return {
    name: 'pg-no-cloudflare',
    setup(b) {
      b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
        const src = readFileSync(args.path, 'utf8');
        if (!src.includes(PG_CLOUDFLARE_PROBE)) throw new Error(`pg/lib/stream.js no longer contains "${PG_CLOUDFLARE_PROBE}": review pgNoCloudflarePlugin for this pg version`);
        return { contents: src.replace(PG_CLOUDFLARE_PROBE, 'if (false) {'), loader: 'js' };
      });
    },
  };
}

async function bundleOne(rootDir: string, entry: string, runtime: Runtime, external: string[], plugins: Plugin[] = []): Promise<string> {
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
    plugins,
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
    // A plugin's own error (say, no RDS CA for the region) keeps its class and message.
    const cause = (first.detail as unknown) instanceof Error ? (first.detail as Error) : undefined;
    if (cause) throw cause;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : entry;
    throw new UserInputError(`${where} ${first.text}`);
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}

export function bundleHandler(rootDir: string, fn: FunctionName, runtime: Runtime, region: string): Promise<string> {
  return bundleOne(rootDir, `src/handlers/${fn}/index.ts`, runtime, ['pg', 'pg-native'], [rdsCaPlugin(region), amazonCaPlugin()]);
}

/** The PostgreSQL driver as one file, laid out as a Node.js layer expects. */
export async function bundlePgLayer(rootDir: string, runtime: Runtime): Promise<string> {
  return bundleOne(rootDir, 'node_modules/pg/lib/index.js', runtime, ['pg-native', 'pg-cloudflare'], [pgNoCloudflarePlugin()]);
}
