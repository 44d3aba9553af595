/**
 * `status`'s secret-age warnings (src/ops/secret-age.ts) against the emulator's Secrets Manager,
 * with the clock injected: the emulator dates a version when it is put, so "45 days later" is the
 * judgement's clock moved, not the secret's dates.
 */
import { strict as assert } from 'node:assert';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecretsInspectApi } from '../../src/aws/secretsmanager.ts';
import { loadEnv } from '../../src/config/load.ts';
import { secretAgeWarnings, secretAges } from '../../src/ops/secret-age.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';

describe('status: secrets older than they should be', function () {
  this.timeout(30_000);
  beforeEach(async () => (await getMoto()).reset());
  // The interface takes credentials from the environment, as the CLI does.
  const saved = { ...process.env };
  before(() => Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }));
  after(() => void (process.env = saved));

  it('the poller token beyond the env rotation period, the app secret beyond its schedule; fresh ones pass; an unreadable one says so; the warning lines status prints for them', async () => {
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
    // The emulator dates a version at each ListSecretVersionIds call (to the second), which comes
    // after the judgement's clock is read: with the clock read first a second boundary between the
    // two made the age -1 (or 44 below). The clock is a minute ahead, so the call always precedes it.
    const now = await secretAges(config, apis, new Date(Date.now() + 60_000));
    assert.deepEqual(now.filter((f) => f.state !== 'unreadable'), [
      { secret: 'AppDbSecret', state: 'ok', ageDays: 0, limitDays: 31 },
      { secret: 'PollerTokenSecret', state: 'ok', ageDays: 0, limitDays: 30 },
    ]);
    assert.match((now.find((f) => f.secret === 'DbMasterSecret') as { reason: string }).reason, /ResourceNotFoundException/);
    const later = await secretAges(config, apis, new Date(Date.now() + 45 * 86_400_000 + 60_000));
    const stale = later.filter((f) => f.state === 'stale') as { secret: string; ageDays: number; limitDays: number; advice: string }[];
    assert.deepEqual(stale.map((f) => [f.secret, f.ageDays, f.limitDays]), [['AppDbSecret', 45, 31], ['PollerTokenSecret', 45, 30]]);
    assert.match(stale[0]!.advice, /rotation is off for it/);
    assert.match(stale[1]!.advice, /the external catalog service issues it: get a new token and `catalogctl secrets set --env dev PollerTokenSecret`/);

    // The warning lines `status` prints for these findings (the formatter status uses).
    const lines = secretAgeWarnings(later);
    assert.equal(lines.length, 3);
    assert.equal(lines[0], 'warning: secret AppDbSecret is 45 days old (limit 31): rotation is off for it; turn it back on (deploy the stack, or for the RDS master secret: aws rds modify-db-instance --manage-master-user-password)');
    assert.match(lines[1]!, /^warning: cannot read secret DbMasterSecret's rotation dates \(ResourceNotFoundException: [^\n]+\)$/);
    assert.equal(lines[2], 'warning: secret PollerTokenSecret is 45 days old (limit 30): the external catalog service issues it: get a new token and `catalogctl secrets set --env dev PollerTokenSecret`');
  });
});
