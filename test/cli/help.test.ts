/**
 * Every registered command's `--help`, through the built CLI, ends with an `Examples:` block of
 * real invocations of that command. Commands without one are listed by name in the failure.
 */
import { strict as assert } from 'node:assert';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { runCli } from '../support/cli.ts';

/** Every command of the tree, as the words that name it (the root is []). */
function commandPaths(cmd: Command, path: string[] = []): string[][] {
  return [path, ...cmd.commands.flatMap((sub) => commandPaths(sub, [...path, sub.name()]))];
}

describe('--help of every command', function () {
  this.timeout(60_000);

  it('has an Examples: block with an example of that command', async () => {
    const paths = commandPaths(buildProgram());
    assert.ok(paths.length > 10, `only ${paths.length} commands registered`);
    const missing: string[] = [];
    for (const path of paths) {
      const r = await runCli([...path, '--help']);
      assert.equal(r.code, 0, `${path.join(' ')} --help: ${r.stderr}`);
      const block = /\nExamples?:\n((?: {2}\$ .*\n?)+)/.exec(r.stdout)?.[1] ?? '';
      const own = block.split('\n').filter((l) => new RegExp(`^ {2}\\$ (\\S+=\\S+ )*(\\S+=\\$\\()?catalogctl ${path.map((p) => `${p} `).join('')}`).test(`${l} `));
      if (!/\nExamples:\n/.test(r.stdout) || own.length === 0) missing.push(['catalogctl', ...path].join(' '));
    }
    assert.deepEqual(missing, [], `--help without an Examples: block showing the command itself: ${missing.join(', ')}`);
  });
});
