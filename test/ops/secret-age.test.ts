/**
 * `status`'s secret-age warnings (src/ops/secret-age.ts) against the emulator's Secrets Manager,
 * with the clock injected: the emulator dates a version when it is put, so "45 days later" is the
 * judgement's clock moved, not the secret's dates.
 */
import { strict as assert } from 'node:assert';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecretsInspectApi } from '../../src/aws/secretsmanager.ts';
import { loadEnv } from '../../src/config/load.ts';
import { secretAges } from '../../src/ops/secret-age.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';

describe('status: secrets older than they should be', function () {
  this.timeout(30_000);
  beforeEach(async () => (await getMoto()).reset());
  // The interface takes credentials from the environment, as the CLI does.
  const saved = { ...process.env };
  before(() => Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }));
  after(() => void (process.env = saved));

  it('the poller token beyond the env rotation period, the app secret beyond its schedule; fresh ones pass; an unreadable one says so', async () => {
    const moto = await getMoto();
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const token = (await sm.send(new CreateSecretCommand({ Name: 'poller-token', SecretString: '{"token":"t"}' }))).ARN!;
    const app = (await sm.send(new CreateSecretCommand({ Name: 'app-db', SecretString: '{}' }))).ARN!;
    const config = await loadEnv('dev');
    const outputs: Record<string, Record<string, string>> = {
      'catalog-secrets': { AppDbSecretArn: app, PollerTokenSecretArn: token },
      'catalog-storage': { DbMasterSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-gone-AbCdEf' },
    };
    const apis = { cloudformation: { describeStack: async (n: string) => (outputs[n] ? { name: n, status: 'UPDATE_COMPLETE', outputs: outputs[n]!, parameters: {}, tags: {} } : undefined) }, secrets: await createSecretsInspectApi({ region: moto.region, endpoint: moto.endpoint }) };
    const now = await secretAges(config, apis);
    assert.deepEqual(now.filter((f) => f.state !== 'unreadable'), [
      { secret: 'AppDbSecret', state: 'ok', ageDays: 0, limitDays: 31 },
      { secret: 'PollerTokenSecret', state: 'ok', ageDays: 0, limitDays: 30 },
    ]);
    assert.match((now.find((f) => f.secret === 'DbMasterSecret') as { reason: string }).reason, /ResourceNotFoundException/);
    const later = await secretAges(config, apis, new Date(Date.now() + 45 * 86_400_000));
    const stale = later.filter((f) => f.state === 'stale') as { secret: string; ageDays: number; limitDays: number; advice: string }[];
    assert.deepEqual(stale.map((f) => [f.secret, f.ageDays, f.limitDays]), [['AppDbSecret', 45, 31], ['PollerTokenSecret', 45, 30]]);
    assert.match(stale[0]!.advice, /rotation is off for it/);
    assert.match(stale[1]!.advice, /the external catalog service issues it: get a new token and `catalogctl secrets set --env dev PollerTokenSecret`/);
  });
});
