/**
 * `validate --all` wall time against the floor set by its tools: the start-up of cfn-lint and of
 * checkov alone (each `--version`), measured in the same run. Median of 3 runs each (validate is
 * seconds long; more runs would only heat the machine). Needs `npm run build` and the .venv tools.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const RUNS = 3;
const cli = resolve('dist/catalogctl.mjs');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(cmd: string, args: string[], okCodes = [0]): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    samples.push(performance.now() - t0);
    if (!okCodes.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(-500)}`);
  }
  return median(samples);
}

const rows: [string, number][] = [
  ['node -e 0', time(process.execPath, ['-e', '0'])],
  ['cfn-lint --version', time(resolve('.venv/bin/cfn-lint'), ['--version'])],
  ['checkov --version', time(resolve('.venv/bin/checkov'), ['--version'])],
  ['catalogctl validate --all', time(process.execPath, [cli, 'validate', '--all'], [0, 4])],
];
const floor = rows[2]![1];
console.log(`| what | median of ${RUNS} (ms) | × checkov start-up |`);
console.log('|---|---:|---:|');
for (const [what, ms] of rows) console.log(`| ${what} | ${ms.toFixed(0)} | ${(ms / floor).toFixed(2)} |`);
