import type { Command } from 'commander';

// Placeholder: replaced by diff/deploy/release/rollback/status.
export function registerDeployCommands(program: Command): void {
  for (const name of ['diff', 'deploy', 'release', 'rollback', 'status']) {
    program.command(name).description('(not yet available)').action(() => {
      throw new Error(`${name} is not implemented yet`);
    });
  }
}
