import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAwsApi } from '../../src/aws/index.ts';
import { STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { deployStacks } from '../../src/deploy/stacks.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';
import { runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, putCode, testConfig } from './stack-fixtures.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

/**
 * preflight, diff --fail, deploy --json, the env guard on every AWS command, status's placeholder
 * warning and `secrets set`, through the built CLI against the emulator (miniature stacks from
 * ./stack-fixtures.ts; see test/README.md for what the emulator answers).
 */
describe('catalogctl preflight / diff --fail / deploy --json / env guard / secrets set (CLI, emulator)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let config: EnvConfig;
  let cfn: CloudFormationClient;
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const args = (cmd: string[], envName = 'dev', ...more: string[]) => [...cmd, '--env', envName, '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, ...more];
  const stacks = async () => ((await cfn.send(new DescribeStacksCommand({}))).Stacks ?? []).map((s) => s.StackName!).sort();

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    config = await testConfig();
    cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-operator-'));
    const yaml = await writeEmulatorEnv(join(dir, 'envs'));
    // qa: dev.yaml copied with only its name changed, so it kept dev's stack names (issue 15's first hour).
    await writeFile(join(dir, 'envs', 'qa.yaml'), yaml.replace(/^name: dev$/m, 'name: qa'));
    const templates = fixtureTemplates(config);
    for (const s of STACK_NAMES) await writeFile(join(dir, `${s}.json`), canonicalJson(templates[s]));
    const keys = await putCode(moto, config, 'a');
    const manifest = { env: 'dev', functions: Object.fromEntries(Object.entries(keys.functions).map(([fn, key]) => [fn, { key }])), layers: { pg: { key: keys.layerPg } } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await new EventBridgeClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS }).send(new CreateEventBusCommand({ Name: 'evidence-ledger' }));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('preflight: the table, exit 3 for what the emulator cannot answer; deploy runs the same checks first and changes nothing', async () => {
    const pre = await runCli(args(['preflight'], 'dev', '--json'), { env });
    assert.equal(pre.code, 3, pre.stderr);
    const report = JSON.parse(pre.stdout) as { env: string; ok: boolean; checks: { check: string; found: string; ok: boolean }[] };
    const by = Object.fromEntries(report.checks.map((c) => [c.check, c]));
    assert.equal(report.ok, false);
    // Answered truthfully by the emulator:
    assert.equal(by['availability zones']!.ok, true);
    assert.deepEqual(by['artifact bucket'], { ...by['artifact bucket'], found: `catalog-artifacts-${MOTO_ACCOUNT_ID}-us-east-1 in us-east-1`, ok: true });
    assert.deepEqual(by['Evidence Ledger bus'], { ...by['Evidence Ledger bus'], found: 'evidence-ledger exists', ok: true });
    // Not answered (RDS DescribeDBEngineVersions and Lambda GetAccountSettings do not exist in it): failed, saying so.
    assert.match(by['RDS engine version']!.found, /^could not check: /);
    assert.match(by['Lambda concurrency']!.found, /^could not check: /);
    assert.equal(pre.stderr, 'catalogctl: preflight: 3 check(s) failed: RDS engine version, RDS instance class, Lambda concurrency\n');

    const table = await runCli(args(['preflight']), { env });
    assert.match(table.stdout, /^check {2,}found {2,}needed {2,}ok\n/);
    assert.match(table.stdout, /\nartifact bucket {6}catalog-artifacts-123456789012-us-east-1 in us-east-1 .* ok\n/);

    const dep = await runCli(args(['deploy'], 'dev', '--templates-dir', dir, '--artifacts', join(dir, 'manifest.json'), '--approve'), { env });
    assert.equal(dep.code, 3, dep.stderr);
    assert.match(dep.stderr, /check {2,}found {2,}needed {2,}ok\n/);
    assert.match(dep.stderr, /catalogctl: deploy: preflight failed \(RDS engine version, RDS instance class, Lambda concurrency\); nothing was changed\n$/);
    assert.deepEqual(await stacks(), []);
  });

  it('diff --fail exits 4 while anything would change and 0 once nothing would; deploy --json is one event per line, then a summary', async () => {
    const before = await runCli(args(['diff'], 'dev', '--templates-dir', dir, '--artifacts', join(dir, 'manifest.json'), '--fail'), { env });
    assert.equal(before.code, 4, before.stderr);
    assert.match(before.stderr, /catalogctl: diff: 5 stack\(s\) would change: catalog-network, catalog-storage, catalog-secrets, catalog-service, catalog-observability\n$/);

    // Stopped before anything ran (no terminal, no --approve): still a summary, saying why and with which exit code.
    const stopped = await runCli(args(['deploy'], 'dev', '--templates-dir', dir, '--artifacts', join(dir, 'manifest.json'), '--skip-preflight', '--json'), { env });
    assert.equal(stopped.code, 2);
    const last = JSON.parse(stopped.stdout.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
    assert.deepEqual({ ...last, error: String(last.error).slice(0, 40) }, { type: 'summary', env: 'dev', outcome: 'stopped', exitCode: 2, error: 'deploy: catalog-network, catalog-storage' });

    const dep = await runCli(args(['deploy'], 'dev', '--templates-dir', dir, '--artifacts', join(dir, 'manifest.json'), '--approve', '--skip-preflight', '--json'), { env });
    assert.equal(dep.code, 0, dep.stderr);
    const lines = dep.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; level?: string; message?: string; data?: { plan?: { kind: string } } } & Record<string, unknown>);
    assert.ok(lines.length > 10);
    assert.ok(lines.slice(0, -1).every((l) => l.type === 'event'));
    assert.deepEqual(lines.at(-1), { type: 'summary', env: 'dev', outcome: 'deployed', stacks: STACK_NAMES.map((stack) => ({ stack, kind: 'created' })) });
    const firstCreate = lines.findIndex((l) => l.message === 'catalog-network: creating');
    assert.equal(lines.slice(0, firstCreate).filter((l) => l.data?.plan?.kind === 'create').length, 5, 'every plan before the first stack is created');
    assert.doesNotMatch(dep.stderr, /catalog-network/, 'progress stays off the terminal in --json');

    const after = await runCli(args(['diff'], 'dev', '--templates-dir', dir, '--fail'), { env });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, STACK_NAMES.map((s) => `${s}: no changes\n`).join('\n'));
  });

  it("every AWS command refuses a stack tagged for another env (exit 2), naming the stack, its tag and the env asked for", async () => {
    const aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
    await deployStacks({ config, templates: fixtureTemplates(config), codeKeys: await putCode(moto, config, 'a', false) }, { aws, pollMs: 0 });
    const refusal = /^catalogctl: stack catalog-\w+ is tagged catalog:env=dev, not env qa: refusing to act on another env's stack \(give env qa its own stackPrefix in its env file\)\n$/;
    const commands = [['diff'], ['deploy', '--approve', '--skip-preflight', '--templates-dir', dir], ['status'], ['release', '--skip-deploy', '--approve'], ['rollback'], ['verify'], ['secrets', 'set', 'PollerTokenSecret']];
    for (const cmd of commands) {
      const r = await runCli(args(cmd, 'qa'), { env, input: 'token\n' });
      assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, refusal, `${cmd.join(" ")}: ${r.stderr}`);
    }
    // dev's own stacks are untouched and still dev's.
    for (const s of STACK_NAMES) assert.equal((await cfn.send(new DescribeStacksCommand({ StackName: s }))).Stacks![0]!.StackStatus, 'CREATE_COMPLETE');

    // With its own stackPrefix, qa addresses only its own stacks; --stack takes either name.
    await writeFile(join(dir, 'envs', 'qa.yaml'), `${await readFile(join(dir, 'envs', 'qa.yaml'), 'utf8')}stackPrefix: catalog-qa\n`);
    const own = await runCli(args(['diff'], 'qa', '--templates-dir', dir, '--stack', 'catalog-qa-network', '--stack', 'catalog-storage'), { env });
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /^catalog-qa-network: new stack, 5 resources to create\n[^]*\ncatalog-qa-storage: new stack, 1 resource to create\n/);
    // It still shares dev's artifact prefix: rollback refuses dev's release manifest rather than move dev's aliases.
    await aws.s3.putObject(config.artifacts.bucket, 'catalog/dev/releases/latest.json', JSON.stringify({ releaseId: 'r1', env: 'dev', outcome: 'promoted', functions: [{ functionName: 'catalog-dev-list-datasets', versionBefore: '1', versionAfter: '2' }] }));
    const rb = await runCli(args(['rollback'], 'qa'), { env });
    assert.equal(rb.code, 2);
    assert.equal(rb.stderr, `catalogctl: rollback: release r1 in s3://${config.artifacts.bucket}/catalog/dev/releases/ is env dev's, not env qa's; give env qa its own artifacts.prefix\n`);
    const typo = await runCli(args(['diff'], 'qa', '--stack', 'catalog-qa-netwrk'), { env });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^catalogctl: --stack: "catalog-qa-netwrk" is not one of catalog-network \(catalog-qa-network\), catalog-storage \(catalog-qa-storage\), /);
  });

  it('status warns about a secret still holding its generated placeholder; secrets set replaces it from stdin and never prints it', async () => {
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const noStack = await runCli(args(['secrets', 'set', 'PollerTokenSecret']), { env, input: 'tok-1\n' });
    assert.equal(noStack.code, 3);
    assert.equal(noStack.stderr, 'catalogctl: secrets set: stack catalog-secrets does not exist; deploy it first (catalogctl deploy --env dev)\n');

    // The emulator's CloudFormation skips secrets: the secret is made by API, in the shape the
    // catalog-secrets template generates it (with the placeholder marker), and its ARN is the stack's Output.
    const secret = await sm.send(new CreateSecretCommand({ Name: 'catalog-dev-poller-token', SecretString: JSON.stringify({ 'catalogctl:placeholder': 'set with catalogctl secrets set', token: 'generated-by-cloudformation' }) }));
    await cfn.send(
      new CreateStackCommand({
        StackName: 'catalog-secrets',
        TemplateBody: JSON.stringify({ Resources: { Logs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/catalog/dev/secrets' } } }, Outputs: { PollerTokenSecretArn: { Value: secret.ARN } } }),
        Tags: [{ Key: 'catalog:env', Value: 'dev' }],
      }),
    );
    const warned = await runCli(args(['status']), { env });
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stdout, /\nwarning: secret PollerTokenSecret still holds its generated placeholder: set it with `catalogctl secrets set --env dev PollerTokenSecret`\n/);
    const asJson = JSON.parse((await runCli(args(['status'], 'dev', '--json'), { env })).stdout) as { secrets?: unknown };
    assert.deepEqual(asJson.secrets, [{ secret: 'PollerTokenSecret', state: 'placeholder' }]);

    for (const [input, message] of [
      ['', 'catalogctl: secrets set: the value for PollerTokenSecret is empty; give it on stdin (e.g. `catalogctl secrets set … < token.txt`)\n'],
      ['\n', 'catalogctl: secrets set: the value for PollerTokenSecret is empty; give it on stdin (e.g. `catalogctl secrets set … < token.txt`)\n'],
      ['line one\nline two\n', 'catalogctl: secrets set: the value for PollerTokenSecret spans several lines; it must be one line (one trailing newline is removed)\n'],
    ]) {
      const r = await runCli(args(['secrets', 'set', 'PollerTokenSecret']), { env, input });
      assert.equal(r.code, 2, JSON.stringify(input));
      assert.equal(r.stderr, message);
    }
    const typo = await runCli(args(['secrets', 'set', 'pollertoken']), { env, input: 'x' });
    assert.equal(typo.code, 2);
    assert.equal(typo.stderr, 'catalogctl: secrets set: unknown secret "pollertoken"; did you mean PollerTokenSecret? (secrets set by hand: PollerTokenSecret)\n');
    assert.equal(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN }))).SecretString!).token, 'generated-by-cloudformation', 'refused input changed nothing');

    // `echo` adds one newline: it is removed once.
    const set = await runCli(args(['secrets', 'set', 'PollerTokenSecret']), { env, input: 's3cr3t-kb-token\n' });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, new RegExp(`^PollerTokenSecret: set \\(${secret.ARN!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, version [\\w-]+\\)\\n$`));
    assert.doesNotMatch(set.stdout + set.stderr, /s3cr3t/);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN }))).SecretString, '{"token":"s3cr3t-kb-token"}');
    const quiet = await runCli(args(['status']), { env });
    assert.doesNotMatch(quiet.stdout, /warning: secret/);

    // The account guard comes before anything is read or written (envs/dev.yaml names account 111111111111).
    const wrong = await runCli(['secrets', 'set', 'PollerTokenSecret', '--env', 'dev', '--endpoint-url', moto.endpoint], { env, input: 'other\n' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /account mismatch: env dev is account 111111111111/);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN }))).SecretString, '{"token":"s3cr3t-kb-token"}');
  });

  it('--help of diff, deploy, status, preflight and secrets set shows examples', async () => {
    for (const cmd of [['diff'], ['deploy'], ['status'], ['preflight'], ['secrets', 'set']]) {
      const r = await runCli([...cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`\\nExamples:\\n {2}\\$ catalogctl ${cmd.join(' ')} --env `), cmd.join(' '));
      assert.match(r.stdout, /\nExit codes: 0 /, cmd.join(' '));
    }
  });
});
