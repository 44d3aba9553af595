import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateAliasCommand, LambdaClient, PublishVersionCommand, UpdateAliasCommand } from '@aws-sdk/client-lambda';
import { STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';
import { runCli } from '../support/cli.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, fnName, putCode, testConfig } from './stack-fixtures.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

/**
 * diff and deploy through the built CLI against the emulator. The stacks are the miniature
 * templates of ./stack-fixtures.ts, given with --templates-dir (the emulator cannot create the real
 * ones); the code keys come from a package-style manifest given with --artifacts.
 */
describe('catalogctl diff / deploy (CLI, emulator)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let config: EnvConfig;
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const args = (cmd: string, ...more: string[]) => [cmd, '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, ...more];

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    config = await testConfig();
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-deploy-'));
    await writeEmulatorEnv(join(dir, 'envs'));
    const templates = fixtureTemplates(config);
    for (const s of STACK_NAMES) await writeFile(join(dir, `${s}.json`), canonicalJson(templates[s]));
    const keys = await putCode(moto, config, 'a');
    const manifest = { env: 'dev', functions: Object.fromEntries(Object.entries(keys.functions).map(([fn, key]) => [fn, { key }])), layers: { pg: { key: keys.layerPg } } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('deploy creates the stacks; diff then reports no changes; a shift in progress refuses deploy (2)', async () => {
    const plan = await runCli(args('diff', '--templates-dir', dir, '--artifacts', join(dir, 'manifest.json')), { env });
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^catalog-network: new stack, 5 resources to create\n/);
    assert.match(plan.stdout, /catalog-service: new stack, 13 resources to create/);

    // The emulator cannot answer preflight's RDS and Lambda account calls (see preflight-cli.test.ts).
    const deployArgs = (...more: string[]) => args('deploy', '--templates-dir', dir, '--skip-preflight', ...more);
    // Without a terminal, a deploy that changes anything needs --approve: plan shown, nothing done.
    const unapproved = await runCli(deployArgs('--artifacts', join(dir, 'manifest.json')), { env });
    assert.equal(unapproved.code, 2, unapproved.stderr);
    assert.match(unapproved.stderr, /catalog-network: new stack, 5 resources to create\n/);
    assert.match(unapproved.stderr, /catalogctl: deploy: catalog-network, catalog-storage, catalog-secrets, catalog-service, catalog-observability \(broadens access: catalog-network adds security-group rules; catalog-service adds IAM permissions\) needs approval and there is no terminal to ask: pass --approve; nothing was changed\n$/);
    assert.doesNotMatch(unapproved.stderr, /: creating\n/);
    const cfn0 = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    assert.equal((await cfn0.send(new DescribeStacksCommand({}))).Stacks?.length ?? 0, 0, 'nothing was created');

    const dep = await runCli(deployArgs('--artifacts', join(dir, 'manifest.json'), '--approve'), { env });
    assert.equal(dep.code, 0, dep.stderr);
    assert.equal(dep.stdout, STACK_NAMES.map((s) => `${s}: created\n`).join(''));
    assert.match(dep.stderr, /catalog-service: creating\n/);
    // Every plan is printed before the first stack is created.
    assert.ok(dep.stderr.indexOf('catalog-observability: new stack') < dep.stderr.indexOf('catalog-network: creating'), dep.stderr);
    const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    assert.equal((await cfn.send(new DescribeStacksCommand({ StackName: 'catalog-observability' }))).Stacks![0]!.StackStatus, 'CREATE_COMPLETE');

    // Without --artifacts the deployed code stays.
    const same = await runCli(args('diff', '--templates-dir', dir), { env });
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, STACK_NAMES.map((s) => `${s}: no changes\n`).join('\n'));
    const again = await runCli(deployArgs('--stack', 'catalog-service'), { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'catalog-service: no-changes\n');

    // A shift in progress (created by API: the emulator's CloudFormation makes no aliases).
    const lambda = new LambdaClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const name = fnName(config, 'list-datasets');
    const v = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: v.Version! }));
    await lambda.send(new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: v.Version!, RoutingConfig: { AdditionalVersionWeights: { '2': 0.1 } } }));
    const locked = await runCli(deployArgs(), { env });
    assert.equal(locked.code, 2, locked.stderr);
    assert.match(locked.stderr, /catalogctl: deploy: a traffic shift is in progress on catalog-dev-list-datasets; finish it \(release --resume\) or run rollback first/);
    const shown = await runCli(args('diff', '--templates-dir', dir), { env });
    assert.match(shown.stdout, /note: a traffic shift is in progress on catalog-dev-list-datasets/);
  });

  it('bad input exits 2: the credentials\' account is not the env\'s, an unknown --stack, a missing template; no AWS at all exits 3', async () => {
    const wrong = await runCli(['diff', '--env', 'dev', '--endpoint-url', moto.endpoint], { env });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /account mismatch: env dev is account 111111111111 but the credentials are for 123456789012/);
    const deployWrong = await runCli(['deploy', '--env', 'dev', '--endpoint-url', moto.endpoint], { env });
    assert.equal(deployWrong.code, 2);
    const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    assert.equal((await cfn.send(new DescribeStacksCommand({}))).Stacks?.length ?? 0, 0, 'nothing was created');

    // Nothing listening: an AWS failure (exit 3), not a crash.
    const { freePort } = await import('../support/ports.ts');
    const down = await runCli(['diff', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', `http://127.0.0.1:${await freePort()}`], { env });
    assert.equal(down.code, 3, down.stderr);
    assert.match(down.stderr, /catalogctl: cannot check the AWS account \(STS GetCallerIdentity\): /);

    const stack = await runCli(args('deploy', '--stack', 'catalog-web'), { env });
    assert.equal(stack.code, 2);
    assert.match(stack.stderr, /--stack: "catalog-web" is not one of catalog-network, /);
    const tpl = await runCli(args('diff', '--templates-dir', join(dir, 'nowhere')), { env });
    assert.equal(tpl.code, 2);
    assert.match(tpl.stderr, /--templates-dir: cannot read .*nowhere\/catalog-network\.json/);
  });
});
