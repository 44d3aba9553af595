import type { Command } from 'commander';
import { UserInputError } from '../../errors.ts';

// diff, deploy, release, rollback and status are registered so `--help` shows the whole tool, but
// this version does not carry them yet: they refuse cleanly instead of half-working.
const PLANNED: Record<string, string> = {
  diff: 'Show the change sets a deploy would execute, per stack',
  deploy: 'Create and execute change sets in stack order',
  release: 'Package, deploy, publish versions and shift the live aliases behind alarms',
  rollback: 'Put the live aliases and the API stage back on the previous release',
  status: 'Show stacks, what each alias serves and the last releases',
};

export function registerDeployCommands(program: Command): void {
  for (const [name, description] of Object.entries(PLANNED)) {
    program
      .command(name)
      .description(`${description} (not available in this version)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new UserInputError(`${name}: not available in this version of catalogctl`);
      });
  }
}
