import type { Command } from 'commander';

// Placeholder: replaced by the real command. Registering it keeps the command tree stable.
export function registerPackage(program: Command): void {
  program.command('package').description('(not yet available)').action(() => {
    throw new Error('package is not implemented yet');
  });
}
