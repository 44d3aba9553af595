/**
 * The world `release --on aws` tests run in: the release fixture in the emulator (functions,
 * aliases, stage, alarms, the two stacks release reads, with ReleaseStateMachineArn), dev's env
 * file in a temp dir with the emulator's account, and the Step Functions stand-in running the
 * rendered release state machine (test/support/sfn-local.ts), its SDK tasks sent to `awsEndpoint`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { buildReleaseStateMachine } from '../../src/templates/release-state-machine.ts';
import { MOTO_ACCOUNT_ID, type Moto } from '../support/moto.ts';
import { startSfnLocal, type SfnLocal } from '../support/sfn-local.ts';
import { createFixture, createOutputStacks, type Fixture } from './fixture.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

export const FUNCTIONS = ['catalog-list-datasets', 'catalog-get-dataset', 'catalog-write-dataset', 'catalog-authorizer'];
export const MACHINE = `arn:aws:states:us-east-1:${MOTO_ACCOUNT_ID}:stateMachine:catalog-dev-release`;

export interface ServerShiftWorld {
  fx: Fixture;
  aws: AwsApi;
  /** The env dir: dev.yaml and the _base.yaml it extends. */
  dir: string;
  config: EnvConfig;
  sfn: SfnLocal;
  /** The CLI's environment: test credentials and AWS_ENDPOINT_URL_SFN at the stand-in. */
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** A fresh world (the emulator reset first), with new code on $LATEST ready to release. */
export async function serverShiftWorld(moto: Moto, awsEndpoint: string, label: string): Promise<ServerShiftWorld> {
  await moto.reset();
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  const fx = await createFixture(moto, FUNCTIONS);
  await createOutputStacks(moto, fx, FUNCTIONS, { ReleaseStateMachineArn: MACHINE });
  const aws = await createAwsApi({ region: moto.region, endpoint: awsEndpoint });
  const dir = await mkdtemp(join(tmpdir(), `catalogctl-${label}-`));
  await writeEmulatorEnv(dir, (y) => y.replace(/bucket: .*/, 'bucket: catalog-artifacts'));
  const config = await loadEnv('dev', { envDir: dir });
  // What catalog-service deploys: the rendered definition, as the stand-in's state machine.
  const sfn = await startSfnLocal({ awsEndpoint, region: moto.region });
  sfn.register(MACHINE, buildReleaseStateMachine(config));
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: moto.region, AWS_ENDPOINT_URL_SFN: sfn.endpoint };
  await fx.changeFunctions('r2');
  return {
    fx,
    aws,
    dir,
    config,
    sfn,
    env,
    close: async () => {
      await sfn.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
