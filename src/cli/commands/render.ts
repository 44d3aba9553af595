import type { Command } from 'commander';
import { CheckFailedError } from '../../errors.ts';
import { cliReporter } from '../output.ts';

interface RenderFlags {
  env?: string;
  all?: boolean;
  envFile?: string;
  envDir: string;
  out: string;
  check?: boolean;
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('Render the five stacks and state_machine.json for an environment (offline, no AWS credentials)')
    .option('-e, --env <name>', 'environment to render (envs/<name>.yaml)')
    .option('-a, --all', 'render every env file in --env-dir')
    .option('--env-file <path>', 'render from an env file anywhere on disk')
    .option('--env-dir <dir>', 'where env files live', 'envs')
    .option('-o, --out <dir>', 'output directory', 'templates-out')
    .option('--check', 'write nothing; exit 4 with a diff when the files in --out are stale')
    .addHelpText(
      'after',
      `
Examples:
  $ catalogctl render --all                 # templates-out/{dev,staging,prod}/*.json
  $ catalogctl render --env prod --out /tmp/out
  $ catalogctl render --all --check         # CI: fail when templates-out/ is stale

Exit codes: 0 ok, 2 bad env file (file:line:col key: problem), 4 stale output with --check.`,
    )
    .action(async (flags: RenderFlags) => {
      const { loadSelected, renderToDisk, checkRendered } = await import('../../render/index.ts');
      const configs = await loadSelected(flags);
      if (flags.check) {
        const stale = await checkRendered(configs, flags.out);
        if (stale.length > 0) {
          process.stdout.write(stale.map((s) => s.diff).join(''));
          throw new CheckFailedError(`${stale.length} rendered file(s) in ${flags.out}/ are stale: run \`${rerun(flags)}\``);
        }
        process.stdout.write(`${flags.out}/ is up to date (${configs.map((c) => c.name).join(', ')})\n`);
        return;
      }
      await renderToDisk(configs, flags.out, cliReporter());
    });
}

/** The render command that brings --out up to date, with the same selection and directories. */
function rerun(flags: RenderFlags): string {
  const args = ['catalogctl', 'render'];
  if (flags.all) args.push('--all');
  else if (flags.env) args.push('--env', flags.env);
  else args.push('--env-file', flags.envFile ?? '');
  if (flags.envDir !== 'envs' && !flags.envFile) args.push('--env-dir', flags.envDir);
  if (flags.out !== 'templates-out') args.push('--out', flags.out);
  return args.join(' ');
}
