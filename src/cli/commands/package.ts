import type { Command } from 'commander';
import { UserInputError } from '../../errors.ts';
import { addAwsFlags, type AwsFlagValues } from '../aws-flags.ts';
import { cliReporter } from '../output.ts';

interface PackageFlags extends AwsFlagValues {
  env: string;
  envDir: string;
  out?: string;
  upload?: boolean;
}

/** File-system failures on --out that the user fixes (a path, a permission, a full disk). */
const OUT_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR', 'ENOSPC', 'EDQUOT']);

export function registerPackage(program: Command): void {
  addAwsFlags(
    program
      .command('package')
      .description('Bundle the Lambda handlers into byte-reproducible, content-hashed zips (and upload them with --upload)')
      .requiredOption('-e, --env <name>', 'environment (envs/<name>.yaml): runtime, artifact bucket and prefix')
      .option('--env-dir <dir>', 'where env files live', 'envs')
      .option('-o, --out <dir>', 'output directory (default .build/<env>)')
      .option('--upload', "upload missing artifacts to the env's artifact bucket (after the account check)"),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ catalogctl package --env dev                            # .build/dev/*.zip + manifest.json, offline
  $ catalogctl package --env prod --upload --profile prod   # uploads only keys not already in S3
  $ catalogctl package --env dev --upload --endpoint-url http://127.0.0.1:5000

Artifacts are named <prefix>/<function>/<sha256>.zip; the same sources give the same bytes.
--upload first checks that the credentials are for the env file's account.
Exit codes: 0 packaged (and uploaded), 2 bad input (env file, flags, a handler that does not
compile, an unwritable --out, account mismatch), 3 AWS failure.`,
    )
    .action(async (flags: PackageFlags) => {
      const given = (['region', 'profile', 'endpointUrl'] as const).filter((k) => flags[k] !== undefined);
      if (given.length && !flags.upload) throw new UserInputError(`${given.map((k) => `--${k === 'endpointUrl' ? 'endpoint-url' : k}`).join(', ')}: only used with --upload, which is not given`);
      const { readFile } = await import('node:fs/promises');
      const { loadEnv } = await import('../../config/load.ts');
      const { packageArtifacts, uploadArtifacts } = await import('../../package/index.ts');
      const config = await loadEnv(flags.env, { envDir: flags.envDir });
      // The account check comes before the work, so a wrong account fails in a second.
      let aws;
      if (flags.upload) {
        const { createGuardedAwsApi } = await import('../../aws/index.ts');
        aws = await createGuardedAwsApi({ region: flags.region ?? config.account.region, profile: flags.profile, endpoint: flags.endpointUrl }, config);
      }
      const reporter = cliReporter();
      const outDir = flags.out ?? `.build/${config.name}`;
      const manifest = await packageArtifacts({ config, rootDir: process.cwd(), outDir, reporter }).catch((err: NodeJS.ErrnoException) => {
        if (err.code && OUT_ERRORS.has(err.code)) throw new UserInputError(`--out ${outDir}: cannot write ${err.path ?? ''} (${err.code})`);
        throw err;
      });
      if (!aws) return;
      try {
        await uploadArtifacts(aws.s3, manifest, reporter, (p) => readFile(p));
      } catch (err) {
        const { DeployError } = await import('../../errors.ts');
        throw new DeployError(`upload failed: ${(err as Error).message}`);
      }
    });
}
