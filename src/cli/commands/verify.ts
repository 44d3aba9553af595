import type { Command } from 'commander';

// Placeholder: replaced by the real command. Registering it keeps the command tree stable.
export function registerVerify(program: Command): void {
  program.command('verify').description('(not yet available)').action(() => {
    throw new Error('verify is not implemented yet');
  });
}
