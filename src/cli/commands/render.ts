import { Option, type Command } from 'commander';
import { CheckFailedError, UserInputError } from '../../errors.ts';
import { cliReporter } from '../output.ts';

interface RenderFlags {
  env?: string;
  all?: boolean;
  envPath?: string;
  /** The old name, refused: Node itself reads --env-file (see below). */
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
    .option('--env-path <path>', 'render from an env file anywhere on disk')
    // Formerly --env-file. Node 20 reads its own --env-file even after the script name and loads the
    // file as dotenv (NODE_OPTIONS included) before catalogctl runs, so no flag of ours may use a name
    // Node reads (docs/cli-render.md). The old name is kept only to say so.
    .addOption(new Option('--env-file <path>').hideHelp())
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
  $ catalogctl render --env-path /tmp/qa.yaml --out /tmp/out

Exit codes: 0 ok, 2 bad env file (file:line:col key: problem), 4 stale output with --check.`,
    )
    .action(async (flags: RenderFlags) => {
      if (flags.envFile !== undefined) throw new UserInputError(`--env-file is now --env-path (Node itself reads --env-file): catalogctl render --env-path ${flags.envFile}`);
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
  else args.push('--env-path', flags.envPath ?? '');
  if (flags.envDir !== 'envs' && !flags.envPath) args.push('--env-dir', flags.envDir);
  if (flags.out !== 'templates-out') args.push('--out', flags.out);
  return args.join(' ');
}
