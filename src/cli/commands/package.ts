import type { Command } from 'commander';
import { cliReporter } from '../output.ts';

interface PackageFlags {
  env: string;
  envDir: string;
  out?: string;
  upload?: boolean;
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

export function registerPackage(program: Command): void {
  program
    .command('package')
    .description('Bundle the Lambda handlers into byte-reproducible, content-hashed zips (and upload them with --upload)')
    .requiredOption('-e, --env <name>', 'environment (envs/<name>.yaml): runtime, artifact bucket and prefix')
    .option('--env-dir <dir>', 'where env files live', 'envs')
    .option('-o, --out <dir>', 'output directory (default .build/<env>)')
    .option('--upload', 'upload missing artifacts to the env\'s artifact bucket')
    .option('--region <region>', 'AWS region (default: the env file\'s)')
    .option('--profile <name>', 'AWS shared-config profile')
    .option('--endpoint-url <url>', 'AWS endpoint, e.g. a local emulator (or AWS_ENDPOINT_URL)')
    .addHelpText(
      'after',
      `
Examples:
  $ catalogctl package --env dev                 # .build/dev/*.zip + manifest.json, offline
  $ catalogctl package --env prod --upload       # uploads only keys not already in S3

Artifacts are named <prefix>/<function>/<sha256>.zip; the same sources give the same bytes.`,
    )
    .action(async (flags: PackageFlags) => {
      const { readFile } = await import('node:fs/promises');
      const { loadEnv } = await import('../../config/load.ts');
      const { packageArtifacts, uploadArtifacts } = await import('../../package/index.ts');
      const config = await loadEnv(flags.env, { envDir: flags.envDir });
      const reporter = cliReporter();
      const manifest = await packageArtifacts({ config, rootDir: process.cwd(), outDir: flags.out ?? `.build/${config.name}`, reporter });
      if (!flags.upload) return;
      const { createS3Api } = await import('../../aws/s3.ts');
      const s3 = await createS3Api({ region: flags.region ?? config.account.region, profile: flags.profile, endpoint: flags.endpointUrl });
      try {
        await uploadArtifacts(s3, manifest, reporter, (p) => readFile(p));
      } catch (err) {
        const { DeployError } = await import('../../errors.ts');
        throw new DeployError(`upload failed: ${(err as Error).message}`);
      }
    });
}
