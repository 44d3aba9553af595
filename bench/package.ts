/**
 * `package` for all functions: wall time, each zip's size, and each bundle's cold import time in a
 * fresh Node process, against `node -e 0` measured alternately in the same run.
 * Targets: API handler zips ≤ 256 KB, cold import ≤ 100 ms over bare Node.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadEnv } from '../src/config/load.ts';
import { API_FUNCTIONS, FUNCTION_NAMES } from '../src/config/types.ts';
import { packageArtifacts } from '../src/package/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const out = mkdtempSync(join(tmpdir(), 'catalogctl-bench-pkg-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const t0 = performance.now();
const manifest = await packageArtifacts({ config: await loadEnv('dev'), rootDir: resolve('.'), outDir: out, reporter: { report() {} } });
const packMs = performance.now() - t0;

execFileSync('unzip', ['-q', manifest.layers.pg.zipPath, '-d', join(out, 'layer')]);
const env = { PATH: process.env.PATH, NODE_PATH: join(out, 'layer/nodejs/node_modules') };
const time = (args: string[]) => {
  const s = performance.now();
  const r = spawnSync(process.execPath, args, { env });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return performance.now() - s;
};

console.log(`package, all ${FUNCTION_NAMES.length} functions + pg layer: ${packMs.toFixed(0)} ms`);
const baseline: number[] = [];
console.log('| function | zip KiB | ≤ 256 KiB | cold import ms (median, minus node -e 0) | ≤ 100 ms |');
console.log('|---|---|---|---|---|');
for (const fn of FUNCTION_NAMES) {
  const dir = join(out, fn);
  mkdirSync(dir);
  execFileSync('unzip', ['-q', manifest.functions[fn].zipPath, '-d', dir]);
  const bare: number[] = [];
  const load: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(time(['-e', '0']));
    load.push(time(['-e', `require(${JSON.stringify(join(dir, 'index.js'))})`]));
  }
  baseline.push(...bare);
  const kib = manifest.functions[fn].size / 1024;
  const cold = median(load) - median(bare);
  const api = (API_FUNCTIONS as readonly string[]).includes(fn);
  console.log(`| ${fn}${api ? ' (API)' : ''} | ${kib.toFixed(1)} | ${kib <= 256 ? 'yes' : 'NO'} | ${cold.toFixed(1)} | ${cold <= 100 ? 'yes' : 'NO'} |`);
}
console.log(`| pg layer | ${(manifest.layers.pg.size / 1024).toFixed(1)} | | | |`);
console.log(`baseline \`node -e 0\`: ${median(baseline).toFixed(1)} ms median of ${baseline.length} runs`);
rmSync(out, { recursive: true, force: true });
