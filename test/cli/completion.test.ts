/**
 * `catalogctl completion`: the bash script from the built CLI, sourced in a real bash and asked
 * for completions the way bash asks (COMP_WORDS/COMP_CWORD, then COMPREPLY); the zsh script is the
 * same function behind bashcompinit; the fish script has a line for every command and flag.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { STACK_NAMES } from '../../src/config/types.ts';
import { runCli } from '../support/cli.ts';

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe('catalogctl completion', function () {
  this.timeout(60_000);
  let dir: string;
  let bashFile: string;
  const program = buildProgram();

  before(async () => {
    const which = spawnSync('bash', ['--version']);
    if (which.status !== 0) throw new Error('bash is needed for the completion test: install it (Debian: apt-get install bash)');
    dir = mkdtempSync(join(tmpdir(), 'catalogctl-completion-'));
    const r = await runCli(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    bashFile = join(dir, 'catalogctl.bash');
    writeFileSync(bashFile, r.stdout);
    // A second env dir, with a .yml file, for --env-dir on the line.
    mkdirSync(join(dir, 'other-envs'));
    writeFileSync(join(dir, 'other-envs', 'qa.yml'), 'name: qa\n');
    writeFileSync(join(dir, 'other-envs', 'perf.yaml'), 'name: perf\n');
    writeFileSync(join(dir, 'other-envs', 'notes.txt'), '');
    writeFileSync(join(dir, 'other-envs', '_base.yaml'), 'account: {}\n');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  /** What bash offers for the line `words` with the cursor at the end of the last word. */
  function complete(words: string[], cwd = resolve('.')): string[] {
    const script = `source ${quote(bashFile)}; COMP_WORDS=(${words.map(quote).join(' ')}); COMP_CWORD=${words.length - 1}; _catalogctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout.split('\n').filter(Boolean).sort();
  }

  it('registers itself for catalogctl', () => {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source ${quote(bashFile)}; complete -p catalogctl`], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'complete -F _catalogctl catalogctl');
  });

  it('offers every top-level command of the tree, and narrows by prefix', () => {
    assert.deepEqual(complete(['catalogctl', '']), program.commands.map((c) => c.name()).sort());
    assert.deepEqual(complete(['catalogctl', 're']), ['release', 'render']);
    assert.deepEqual(complete(['catalogctl', '--no-color', 'ren']), ['render']);
  });

  it('offers subcommands and argument choices', () => {
    assert.deepEqual(complete(['catalogctl', 'db', '']), ['migrate', 'restore']);
    assert.deepEqual(complete(['catalogctl', 'local', '']), ['token']);
    assert.deepEqual(complete(['catalogctl', 'completion', '']), ['bash', 'fish', 'zsh']);
  });

  it("offers a command's own flags, its parents' flags, and never a hidden one", () => {
    const renderFlags = buildProgram().commands.find((c) => c.name() === 'render')!.options.filter((o) => !o.hidden).map((o) => o.long!).filter((f) => f.startsWith('--env'));
    assert.deepEqual(complete(['catalogctl', 'render', '--e']), renderFlags.sort());
    assert.deepEqual(complete(['catalogctl', 'local', 'token', '--st']), ['--state-dir']);
    assert.deepEqual(complete(['catalogctl', 'db', 'migrate', '--no']), ['--no-color']);
    assert.deepEqual(complete(['catalogctl', 'local', '--handlers']), []);
    // Every flag of every command, from the tree itself.
    const walk = (cmd: Command, path: string[]): void => {
      const offered = complete(['catalogctl', ...path, '--']);
      for (const o of cmd.options.filter((x) => !x.hidden && x.long)) assert.ok(offered.includes(o.long!), `${path.join(' ')} ${o.long} not offered`);
      for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program, []);
  });

  it('offers env names from envs/, or from the --env-dir given on the line (not the _bases they extend)', async () => {
    const { listEnvs } = await import('../../src/config/load.ts');
    assert.deepEqual(complete(['catalogctl', 'render', '--env', '']), await listEnvs('envs'));
    assert.deepEqual(complete(['catalogctl', 'validate', '--env', 'p']), ['prod']);
    assert.deepEqual(complete(['catalogctl', 'render', '--env-dir', join(dir, 'other-envs'), '--env', '']), ['perf', 'qa']);
    assert.deepEqual(complete(['catalogctl', 'render', '-e', 'st']), ['staging']);
  });

  it('offers the stack names, the known roles, and directories for directory flags', () => {
    assert.deepEqual(complete(['catalogctl', 'deploy', '--env', 'dev', '--stack', '']), [...STACK_NAMES].sort());
    assert.deepEqual(complete(['catalogctl', 'diff', '--stack', 'catalog-s']), ['catalog-secrets', 'catalog-service', 'catalog-storage']);
    assert.deepEqual(complete(['catalogctl', 'local', 'token', '--role', '']), ['owner', 'platform', 'reader']);
    assert.deepEqual(complete(['catalogctl', 'render', '--out', ''], dir), ['other-envs']);
    // A flag's value is not taken for a command: `--env local` stays at the top level.
    assert.deepEqual(complete(['catalogctl', 'render', '--env', 'dev', '--ch']), ['--check']);
  });

  it('zsh runs the same function through bashcompinit; fish has a line per command and flag', async () => {
    const zsh = await runCli(['completion', 'zsh']);
    assert.equal(zsh.code, 0);
    assert.match(zsh.stdout, /^autoload -U \+X bashcompinit && bashcompinit$/m);
    const bash = await runCli(['completion', 'bash']);
    assert.ok(zsh.stdout.endsWith(bash.stdout), 'the zsh script ends with the bash script');
    const fish = await runCli(['completion', 'fish']);
    assert.equal(fish.code, 0);
    const lines = fish.stdout.split('\n');
    for (const c of program.commands) assert.ok(lines.some((l) => l.includes(`-n '__catalogctl_at \\'\\'' -a '${c.name()}'`)), `fish: command ${c.name()}`);
    assert.ok(lines.some((l) => l.includes(`__catalogctl_at \\'render\\'`) && l.includes('-l env ') && l.includes('(__catalogctl_envs)')));
    assert.ok(lines.some((l) => l.includes(`__catalogctl_at \\'local token\\'`) && l.includes('-l role') && l.includes('reader owner platform')));
  });

  it('rejects an unknown shell with exit 2', async () => {
    const r = await runCli(['completion', 'tcsh']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tcsh/);
  });
});
