import type { Command } from 'commander';

// Placeholder: replaced by the real command. Registering it keeps the command tree stable.
export function registerDb(program: Command): void {
  program.command('db').description('(not yet available)').action(() => {
    throw new Error('db is not implemented yet');
  });
}
