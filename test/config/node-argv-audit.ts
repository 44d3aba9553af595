/**
 * Which argv entries *after the script name* does this Node act on? Run by hand
 * (`node --import tsx test/config/node-argv-audit.ts`); its findings are recorded in
 * docs/cli-render.md and the suite keeps them true (test/config/node-argv.test.ts).
 *
 * For every option Node lists (`node --help`, NODE_OPTIONS-allowed flags and V8's `--v8-options`),
 * and for prefix and spelling variants of `--env-file`, it runs a probe script as
 * `node probe.mjs <option> <file>` and `node probe.mjs <option>=<file>`, where <file> is a dotenv
 * file setting a variable and a NODE_OPTIONS that creates a marker file. Node "acted" when the probe
 * did not run, saw a different argv, saw the variable, a marker appeared, or Node wrote to stderr.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'node-argv-audit-'));
const marker = join(dir, 'marker');
const probe = join(dir, 'probe.mjs');
const hook = join(dir, 'hook.cjs');
const dotenv = join(dir, 'audit.env');
writeFileSync(probe, "process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), execArgv: process.execArgv, foo: process.env.AUDIT_FOO ?? null }));\n");
writeFileSync(hook, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
writeFileSync(dotenv, `AUDIT_FOO=bar\nNODE_OPTIONS=--require=${hook}\n`);

function nodeOptions(): string[] {
  const help = execFileSync(process.execPath, ['--help'], { encoding: 'utf8' });
  const v8 = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const names = new Set<string>();
  for (const m of help.matchAll(/(?:^|[\s,])(--?[a-zA-Z][a-zA-Z0-9-]*)/gm)) names.add(m[1]!);
  for (const f of process.allowedNodeEnvironmentFlags) names.add(f.split('=')[0]!);
  for (const m of v8.matchAll(/^\s+(--[a-z0-9-]+)/gm)) names.add(m[1]!);
  return [...names].filter((n) => n !== '--' && n !== '-').sort();
}

interface Outcome {
  args: string[];
  acted: string[];
}

function run(args: string[]): Promise<Outcome> {
  rmSync(marker, { force: true });
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.AUDIT_FOO;
    const child = spawn(process.execPath, [probe, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      const acted: string[] = [];
      if (existsSync(marker)) acted.push('ran NODE_OPTIONS from the file');
      if (code !== 0) acted.push(`exit ${code}`);
      if (err) acted.push(`stderr: ${err.split('\n')[0]}`);
      try {
        const seen = JSON.parse(out) as { argv: string[]; execArgv: string[]; foo: string | null };
        if (JSON.stringify(seen.argv) !== JSON.stringify(args)) acted.push(`argv became ${JSON.stringify(seen.argv)}`);
        if (seen.execArgv.length) acted.push(`execArgv ${JSON.stringify(seen.execArgv)}`);
        if (seen.foo !== null) acted.push('loaded the file as dotenv');
      } catch {
        acted.push('probe did not run');
      }
      resolve({ args, acted });
    });
  });
}

const options = nodeOptions();
const variants = ['--env-file', '--env-file-if-exists', '--env-files', '--env-filex', '--env-file-x', '--env-file_x', '--env-file.yaml', '--env_file', '--ENV-FILE', '--env-fil', '--env', '-env-file', '---env-file', '--env-path', '--env-dir'];
const cases: string[][] = [];
for (const o of new Set([...options, ...variants])) cases.push([o, dotenv], [`${o}=${dotenv}`]);
// Position and separators: after a command and other flags, after `--`, and as the value of another flag.
cases.push(['render', '--env-file', dotenv], ['render', '--out', 'x', `--env-file=${dotenv}`], ['--', '--env-file', dotenv], ['--out', '--env-file', dotenv], [`--env-file=${dotenv}`, '--env-file']);

const results: Outcome[] = [];
const queue = [...cases];
await Promise.all(
  [0, 1].map(async () => {
    for (let c = queue.shift(); c; c = queue.shift()) results.push(await run(c));
  }),
);
rmSync(dir, { recursive: true, force: true });

const acted = results.filter((r) => r.acted.length).sort((a, b) => a.args.join(' ').localeCompare(b.args.join(' ')));
const show = (a: string[]) => a.map((s) => s.replace(dotenv, '<file>')).join(' ');
console.log(`node ${process.version}: ${options.length} option names, ${cases.length} argv shapes after the script name`);
console.log(`Node acted on ${acted.length}:`);
for (const r of acted) console.log(`  node probe.mjs ${show(r.args)}  →  ${r.acted.join('; ')}`);
