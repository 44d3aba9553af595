/**
 * `render --all` start-to-finish against bare Node start-up (`node -e 0`), measured alternately in
 * the same run so machine load affects both alike. Target: median ratio ≤ 3×.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const out = mkdtempSync(join(tmpdir(), 'catalogctl-bench-render-'));

function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const bare: number[] = [];
const render: number[] = [];
time(['dist/catalogctl.mjs', 'render', '--all', '--out', out]); // warm the file cache
for (let i = 0; i < RUNS; i++) {
  bare.push(time(['-e', '0']));
  rmSync(out, { recursive: true, force: true });
  render.push(time(['dist/catalogctl.mjs', 'render', '--all', '--out', out]));
}
rmSync(out, { recursive: true, force: true });

const ratio = median(render) / median(bare);
console.log(`runs: ${RUNS} each, alternating`);
console.log('| command | median ms | min ms |');
console.log('|---|---|---|');
console.log(`| node -e 0 | ${median(bare).toFixed(1)} | ${Math.min(...bare).toFixed(1)} |`);
console.log(`| catalogctl render --all (3 envs, 18 files) | ${median(render).toFixed(1)} | ${Math.min(...render).toFixed(1)} |`);
console.log(`ratio render/node: ${ratio.toFixed(2)}× (target ≤ 3×)`);
