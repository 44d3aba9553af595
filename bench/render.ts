/**
 * `render --all` start-to-finish against bare Node start-up (`node -e 0`), measured alternately in
 * the same run so machine load affects all alike. Target: median ratio ≤ 3×. Each process also
 * reports its own CPU time at exit (user + system, all threads), which a busy machine inflates far
 * less than wall time.
 *
 * Also what cloudform-types costs at start-up: requiring the package index (every resource class)
 * against requiring the deep paths src/templates imports, each in a fresh Node; and the in-process
 * time to build the three envs' templates from loaded configs (classes, intrinsics, JSON round trip).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../src/config/load.ts';
import { renderFiles } from '../src/render/index.ts';
import { RENDERED_FILES } from '../src/templates/index.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const work = mkdtempSync(join(tmpdir(), 'catalogctl-bench-render-'));
const out = join(work, 'out');
const cpuPreload = join(work, 'cpu.cjs');
writeFileSync(cpuPreload, "process.on('exit', () => { const u = process.cpuUsage(); require('node:fs').writeSync(2, `cpu-ms ${(u.user + u.system) / 1000}\\n`); });\n");
const env = { ...process.env, NODE_OPTIONS: `--require ${cpuPreload}` };

/** The cloudform-types modules src/templates imports at run time (type-only imports are erased). */
const deepModules = readdirSync('src/templates')
  .filter((f) => f.endsWith('.ts'))
  .flatMap((f) => [...readFileSync(join('src/templates', f), 'utf8').matchAll(/^import (?!type )[^;]*? from '(cloudform-types\/[^']+)';$/gm)].map((m) => m[1]!));

function time(args: string[]): { wall: number; cpu: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = /cpu-ms ([\d.]+)/.exec(r.stderr.toString());
  if (r.status !== 0 || !cpu) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return { wall, cpu: Number(cpu[1]) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const cases = {
  bare: { label: 'node -e 0', args: ['-e', '0'] },
  render: { label: `catalogctl render --all (3 envs, ${3 * RENDERED_FILES.length} files)`, args: ['dist/catalogctl.mjs', 'render', '--all', '--out', out] },
  index: { label: "require('cloudform-types') (package index)", args: ['-e', "require('cloudform-types')"] },
  deep: { label: `require() of the ${deepModules.length} deep paths src/templates imports`, args: ['-e', deepModules.map((m) => `require(${JSON.stringify(m)})`).join(';')] },
};
const wall = new Map<object, number[]>(Object.values(cases).map((c) => [c, []]));
const cpu = new Map<object, number[]>(Object.values(cases).map((c) => [c, []]));

time(cases.render.args); // warm the file cache
for (let i = 0; i < RUNS; i++) {
  for (const c of Object.values(cases)) {
    if (c === cases.render) rmSync(out, { recursive: true, force: true });
    const t = time(c.args);
    wall.get(c)!.push(t.wall);
    cpu.get(c)!.push(t.cpu);
  }
}
rmSync(work, { recursive: true, force: true });

// In-process: building the templates (no start-up, no disk), after one warm-up render.
const configs = await Promise.all(['dev', 'staging', 'prod'].map((e) => loadEnv(e)));
configs.forEach(renderFiles);
const build: number[] = [];
for (let i = 0; i < Math.max(RUNS, 20); i++) {
  const t0 = process.hrtime.bigint();
  configs.forEach(renderFiles);
  build.push(Number(process.hrtime.bigint() - t0) / 1e6);
}

const bare = median(wall.get(cases.bare)!);
const bareCpu = median(cpu.get(cases.bare)!);
console.log(`runs: ${RUNS} each, alternating`);
console.log('| command | median ms | min ms | median − node -e 0 | CPU median ms |');
console.log('|---|---|---|---|---|');
for (const c of Object.values(cases)) {
  const m = median(wall.get(c)!);
  console.log(`| ${c.label} | ${m.toFixed(1)} | ${Math.min(...wall.get(c)!).toFixed(1)} | ${c === cases.bare ? '' : (m - bare).toFixed(1)} | ${median(cpu.get(c)!).toFixed(1)} |`);
}
console.log(`in-process: building the 3 envs' templates (renderFiles) median ${median(build).toFixed(2)} ms over ${build.length} runs`);
console.log(`ratio render/node: ${(median(wall.get(cases.render)!) / bare).toFixed(2)}× wall, ${(median(cpu.get(cases.render)!) / bareCpu).toFixed(2)}× CPU (target ≤ 3×)`);
