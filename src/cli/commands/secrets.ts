import type { Command } from 'commander';
import { awsOptions, connect, type AwsFlags } from './deploy.ts';

/** `secrets set`: an operator-set secret's value from stdin, never from argv, never printed. */
export function registerSecrets(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('Secrets of catalog-secrets that an operator sets by hand')
    .addHelpText('after', '\nExamples:\n  $ catalogctl secrets set --env prod PollerTokenSecret < /run/secrets/kb-token\n  $ catalogctl secrets set --help');
  awsOptions(secrets.command('set').description("Put a secret's value, read from stdin (not echoed on a terminal), as the secret's current version"))
    .argument('<name>', 'the secret, by its logical name in catalog-secrets: PollerTokenSecret')
    .addHelpText(
      'after',
      `
The value is read from stdin, never from the command line: on a terminal it is asked for and not
echoed; from a pipe or a file it is read whole, and one trailing newline (what echo and editors
add) is removed. An empty value is refused. The secret's ARN comes from the catalog-secrets stack's
Outputs; the value is stored as {"token": …}, the shape the poller reads.

Examples:
  $ catalogctl secrets set --env dev PollerTokenSecret
  Value for PollerTokenSecret (not echoed):
  $ catalogctl secrets set --env prod PollerTokenSecret < /run/secrets/kb-token
  $ vault kv get -field=token secret/kb | catalogctl secrets set --env staging PollerTokenSecret

Exit codes: 0 set, 2 bad input (unknown name, empty value, account mismatch, a stack tagged for
another env), 3 AWS failure (no catalog-secrets stack yet, access denied), 130 interrupted.`,
    )
    .action(async (name: string, flags: AwsFlags) => {
      const { findOperatorSecret, setSecret, MAX_SECRET_BYTES } = await import('../../deploy/secrets.ts');
      const secret = findOperatorSecret(name);
      const { config, aws } = await connect(flags);
      const { readAll, readHidden } = await import('../prompt.ts');
      const { createSecretsManagerApi } = await import('../../aws/secretsmanager.ts');
      const readValue = () => (process.stdin.isTTY ? readHidden(`Value for ${secret.logicalId} (not echoed): `) : readAll(process.stdin, MAX_SECRET_BYTES, 'secrets set'));
      const { arn, versionId } = await setSecret(config, { cloudformation: aws.cloudformation, secrets: await createSecretsManagerApi(aws.target) }, secret, readValue);
      process.stdout.write(`${secret.logicalId}: set (${arn}${versionId ? `, version ${versionId}` : ''})\n`);
    });
}
