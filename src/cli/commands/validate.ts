import type { Command } from 'commander';
import { CheckFailedError } from '../../errors.ts';

interface ValidateFlags {
  env?: string[];
  all?: boolean;
  envDir: string;
  json?: boolean;
  listSuppressions?: boolean;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Render in memory and check env files, template invariants, cfn-lint, checkov and the state machine')
    .option('--env <name>', 'environment to validate (repeatable)', collect)
    .option('--all', 'validate every env file in --env-dir')
    .option('--env-dir <dir>', 'directory holding <env>.yaml files', 'envs')
    .option('--json', 'print one machine-readable report on stdout')
    .option('--list-suppressions', 'print the Markdown table of check suppressions in the templates, and validate nothing')
    .addHelpText(
      'after',
      `
While cfn-lint and checkov run, stderr shows which is still running and for how long.
Exit codes: 0 clean, 4 findings (grouped by env and stack), 2 bad flags, unknown env, a bad env
file (every problem as file:line:col key: problem) or a checker missing (bash
scripts/setup-python.sh installs cfn-lint and checkov), 1 a checker crashed or printed what it
never prints (a bug to report), 130 interrupted.

Examples:
  $ catalogctl validate --all
  $ catalogctl validate --env prod --json > report.json
  $ catalogctl validate --all --list-suppressions`,
    )
    .action(async (flags: ValidateFlags) => {
      const { listSuppressions, resolveEnvNames, validateEnvs } = await import('../../validate/envs.ts');
      const { templatesRenderer } = await import('../../validate/templates.ts');
      const names = await resolveEnvNames({ envs: flags.env ?? [], all: flags.all }, flags.envDir);
      if (flags.listSuppressions) {
        process.stdout.write(await listSuppressions(names, templatesRenderer, flags.envDir));
        return;
      }
      const { formatJson, formatText } = await import('../../validate/print.ts');
      const { cliReporter, writeOut } = await import('../output.ts');
      const style = await terminalStyle();
      // Ctrl-C stops the tools and still removes the temp dir (exit 130).
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      // Progress (which checker still runs, for how long) goes to stderr, so --json stays parseable.
      const report = await validateEnvs(names, templatesRenderer, { envDir: flags.envDir, signal: abort.signal, reporter: cliReporter() }).finally(() =>
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal),
      );
      writeOut(flags.json ? formatJson(report) : formatText(report, style));
      if (!report.ok) {
        const n = report.findings.filter((f) => f.severity !== 'info').length;
        throw new CheckFailedError(`validate: ${n} finding${n === 1 ? '' : 's'}`);
      }
    });
}

async function terminalStyle(): Promise<import('../../validate/print.ts').Style> {
  const { plainStyle } = await import('../../validate/print.ts');
  const { chalkFor, colorEnabled } = await import('../output.ts');
  if (!colorEnabled(process.stdout)) return plainStyle;
  const chalk = await chalkFor(process.stdout);
  return { bad: (s) => chalk.red(s), good: (s) => chalk.green(s), dim: (s) => chalk.dim(s) };
}
