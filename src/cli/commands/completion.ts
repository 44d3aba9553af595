/** `catalogctl completion <shell>`; the scripts are built by ../completion-scripts.ts, loaded only here. */
import { Argument, type Command } from 'commander';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('Print a shell completion script for bash, zsh or fish (commands, flags, env names, stack names)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      `
Env names are read from the env dir (--env-dir on the line, else envs/) when you press TAB.

Examples:
  $ source <(catalogctl completion bash)                                   # this bash session
  $ catalogctl completion bash > ~/.local/share/bash-completion/completions/catalogctl
  $ echo 'source <(catalogctl completion zsh)' >> ~/.zshrc
  $ catalogctl completion fish > ~/.config/fish/completions/catalogctl.fish`,
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const { STACK_NAMES } = await import('../../config/types.ts');
      const { KNOWN_ROLES } = await import('../../handlers/shared/roles.ts');
      const { writeOut } = await import('../output.ts');
      const { bashScript, completionModel, fishScript, zshScript } = await import('../completion-scripts.ts');
      const model = completionModel(program, STACK_NAMES, KNOWN_ROLES);
      writeOut(shell === 'bash' ? bashScript(model) : shell === 'zsh' ? zshScript(model) : fishScript(model));
    });
}
