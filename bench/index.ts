/**
 * `npm run bench`: runs every bench/<topic>.ts in its own process, one after another, so one
 * benchmark's warm caches or open pools never colour another's figures.
 * `npm run bench -- render package` runs only those.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const topics = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((t) => wanted.length === 0 || wanted.includes(t))
  .sort();

let failed = 0;
for (const topic of topics) {
  console.log(`\n=== bench/${topic}.ts ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${topic}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench/${topic}.ts exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
