import type { Command } from 'commander';
import { DeployError, UserInputError } from '../../errors.ts';

// diff and deploy (change sets) are registered so `--help` shows the whole tool, but this version
// does not carry them yet: they refuse cleanly instead of half-working.
const PLANNED: Record<string, string> = {
  diff: 'Show the change sets a deploy would execute, per stack',
  deploy: 'Create and execute change sets in stack order',
};

interface AwsFlags {
  env: string;
  envDir: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

function awsOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--env <name>', 'environment (envs/<name>.yaml)')
    .option('--env-dir <dir>', 'where env files live', 'envs')
    .option('--region <region>', "AWS region (default: the env file's)")
    .option('--profile <name>', 'AWS shared-config profile')
    .option('--endpoint-url <url>', 'AWS endpoint, e.g. a local emulator (or AWS_ENDPOINT_URL)');
}

/** Loads the env and builds the AWS interface after the account guard (exit 2 on a mismatch). */
async function connect(flags: AwsFlags) {
  const { loadEnv } = await import('../../config/load.ts');
  const { createGuardedAwsApi } = await import('../../aws/index.ts');
  const config = await loadEnv(flags.env, { envDir: flags.envDir });
  const aws = await createGuardedAwsApi({ region: flags.region ?? config.account.region, profile: flags.profile, endpoint: flags.endpointUrl }, config);
  return { config, aws };
}

/** The seed's deployment verification against the stage, as a gate before each traffic step. */
async function verifyGate(aws: Awaited<ReturnType<typeof connect>>['aws'], envName: string, requests: number) {
  const stack = await aws.cloudformation.describeStack('catalog-service');
  const baseUrl = stack?.outputs.ApiUrl;
  if (!baseUrl) throw new DeployError(`--verify: stack catalog-service of ${envName} has no ApiUrl output`);
  const { verify, failingChecks } = await import('../../verify/index.ts');
  return async () => {
    const report = await verify({ baseUrl, token: process.env.CATALOGCTL_TOKEN || undefined, requests, databaseUrl: process.env.DATABASE_URL || undefined });
    return report.ok ? ({ ok: true } as const) : ({ ok: false, reason: `verify failed ${failingChecks(report).join(', ')}` } as const);
  };
}

const pct = (w: number) => `${Math.round(w * 1000) / 10}%`;

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

  awsOptions(program.command('release').description('Publish new versions, create the API deployment and shift the live aliases behind the alarms'))
    .option('--bake <seconds>', "bake time after each traffic step (default: the env file's)")
    .option('--approve', 'approve the shift without an interactive confirmation')
    .option('--resume', 'continue a shift left in progress instead of refusing')
    .option('--verify', "gate every traffic step on `catalogctl verify` against the stage's ApiUrl (token: $CATALOGCTL_TOKEN)")
    .option('--verify-requests <n>', 'health probe requests per gate', '20')
    .addHelpText('after', '\nExit codes: 0 promoted, 2 bad input / not approved / shift in progress, 3 alarm rollback, 130 interrupted (previous release restored).')
    .action(async (flags: AwsFlags & { bake?: string; approve?: boolean; resume?: boolean; verify?: boolean; verifyRequests: string }) => {
      if (flags.bake !== undefined && !/^\d{1,5}$/.test(flags.bake)) throw new UserInputError(`--bake: must be whole seconds, got "${flags.bake}"`);
      if (!/^[1-9]\d{0,3}$/.test(flags.verifyRequests)) throw new UserInputError(`--verify-requests: must be a whole number from 1 to 9999, got "${flags.verifyRequests}"`);
      const { config, aws } = await connect(flags);
      const gate = flags.verify ? await verifyGate(aws, config.name, Number(flags.verifyRequests)) : undefined;
      const { release } = await import('../../deploy/release.ts');
      const { cliReporter } = await import('../output.ts');
      const abort = new AbortController();
      // Kept for the whole release so a second Ctrl-C cannot kill the restore half-way.
      const onSignal = (): void => abort.abort();
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      try {
        const r = await release(config, aws, {
          bakeSeconds: flags.bake === undefined ? undefined : Number(flags.bake),
          resume: flags.resume,
          signal: abort.signal,
          gate,
          reporter: cliReporter(),
          approve: async (plan) => {
            if (flags.approve) return true;
            if (!process.stdin.isTTY) throw new UserInputError(`release: env ${config.name} requires approval; pass --approve or run on a terminal`);
            const lines = plan.functions.map((f) => `  ${f.functionName}: ${f.previousVersion} → ${f.newVersion}`);
            process.stderr.write(`Release plan for ${config.name}:\n${lines.join('\n')}\n  stage ${plan.stageName}: ${plan.previousDeploymentId} → ${plan.newDeploymentId}\n  steps ${plan.steps.join('/')}% with ${plan.bakeSeconds}s bakes\n`);
            const rl = (await import('node:readline/promises')).createInterface({ input: process.stdin, output: process.stderr });
            try {
              return /^y(es)?$/i.test((await rl.question('Shift traffic? [y/N] ')).trim());
            } finally {
              rl.close();
            }
          },
        });
        if (r.outcome.kind === 'rolled-back') throw new DeployError(`release ${r.releaseId} rolled back: ${r.outcome.reason}`);
        process.stdout.write(`release ${r.releaseId}: promoted (${r.manifest.functions.map((f) => `${f.functionName} v${f.versionAfter}`).join(', ')})\n`);
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });

  awsOptions(program.command('rollback').description('Put the live aliases and the API stage back on the previous release'))
    .option('--to <release-id>', 'put back what this release promoted instead')
    .action(async (flags: AwsFlags & { to?: string }) => {
      const { config, aws } = await connect(flags);
      const { rollback } = await import('../../deploy/release.ts');
      const r = await rollback(config, aws, { to: flags.to });
      if (r.changed.length === 0) process.stdout.write(`rollback (release ${r.releaseId}): already in place, nothing changed\n`);
      else process.stdout.write(`rollback (release ${r.releaseId}):\n${r.changed.map((c) => `  ${c}`).join('\n')}\n`);
    });

  awsOptions(program.command('status').description('Show what each alias serves, the stage deployment and the last releases'))
    .option('--json', 'print the status as JSON')
    .action(async (flags: AwsFlags & { json?: boolean }) => {
      const { config, aws } = await connect(flags);
      const { status } = await import('../../deploy/release.ts');
      const { canonicalJson } = await import('../../util/canonical-json.ts');
      const s = await status(config, aws);
      if (flags.json) {
        process.stdout.write(`${canonicalJson(s)}\n`);
        return;
      }
      const out = [`env ${s.env}${s.shiftInProgress ? '  (shift in progress)' : ''}`, 'aliases (live):'];
      for (const a of s.aliases) {
        const extra = Object.entries(a.weights);
        const main = 1 - extra.reduce((n, [, w]) => n + w, 0);
        out.push(`  ${a.functionName}  v${a.version} ${pct(main)}${extra.map(([v, w]) => `, v${v} ${pct(w)}`).join('')}`);
      }
      out.push(`stage ${s.stage.stageName} (${s.stage.restApiId}): deployment ${s.stage.deploymentId}`, 'releases:');
      for (const r of s.releases) out.push(`  ${r.releaseId}  ${r.outcome}  ${r.startedAt}`);
      if (s.releases.length === 0) out.push('  none recorded');
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
