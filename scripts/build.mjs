// Builds the CLI into dist/ as an ES module bundle with code splitting: each command's core is a
// lazily imported chunk, so `render` loads only what rendering needs (fast start-up, see bench/).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

await import('./gen-env-validator.mjs');
await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: { catalogctl: 'src/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // Whitespace and syntax minified, names kept: less source for V8 to parse at every start (about
  // 20 ms of render's CPU), and an internal error's stack still names its functions (the linked
  // source map gives original lines under --enable-source-maps).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  // Packages that read their own files at run time, ship native code, or are large and only
  // needed by AWS-facing commands stay in node_modules.
  external: ['esbuild', 'pg-native', '@aws-cdk/*', '@aws-sdk/*', 'aws-local-stepfunctions', 'asl-validator', 'archiver', 'pg', 'jose'],
  // The bin starts `node -- <this file> args`: Node 20 reads its own --env-file even after the
  // script name (and runs the file's NODE_OPTIONS), but none of the arguments after `--`
  // (docs/cli-render.md). A shebang passes only one argument portably (`env -S` is missing from
  // BusyBox), so the first lines are both sh and JavaScript: sh runs the `exec`, JavaScript sees a
  // string and a comment.
  banner: {
    js: `#!/bin/sh\n":" //; exec node -- "$0" "$@"\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);`,
  },
});

// npm runs the project's own bin straight from dist/, so it must be executable.
const { chmod } = await import('node:fs/promises');
await chmod('dist/catalogctl.mjs', 0o755);
