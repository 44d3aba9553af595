import type { Command } from 'commander';

// Placeholder: replaced by the real command. Registering it keeps the command tree stable.
export function registerLocal(program: Command): void {
  program.command('local').description('(not yet available)').action(() => {
    throw new Error('local is not implemented yet');
  });
}
