import type { Command } from 'commander';

// Placeholder: replaced by the real command. Registering it keeps the command tree stable.
export function registerValidate(program: Command): void {
  program.command('validate').description('(not yet available)').action(() => {
    throw new Error('validate is not implemented yet');
  });
}
