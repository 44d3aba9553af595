import { strict as assert } from 'node:assert';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand, ListChangeSetsCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { APIGatewayClient, GetStageCommand } from '@aws-sdk/client-api-gateway';
import { createAwsApi, createGuardedAwsApi, type AwsApi } from '../../src/aws/index.ts';
import { API_FUNCTIONS, STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { formatPlans } from '../../src/deploy/print-plan.ts';
import { deployStacks, diffStacks, MAX_TEMPLATE_BODY, type StackDeps } from '../../src/deploy/stacks.ts';
import { UserInputError } from '../../src/errors.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, fnName, goLive as liveFixture, putCode, testConfig } from './stack-fixtures.ts';

describe('deploy/stacks: diff and deploy against the emulator', function () {
  this.timeout(60_000);
  let moto: Moto;
  let aws: AwsApi;
  let config: EnvConfig;
  let cfn: CloudFormationClient;
  let lambda: LambdaClient;
  let apigw: APIGatewayClient;
  const deps = (reporter = new RecordingReporter()): StackDeps => ({ aws, reporter, pollMs: 0 });

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    moto = await getMoto();
    config = await testConfig();
    const c = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
    cfn = new CloudFormationClient(c);
    lambda = new LambdaClient(c);
    apigw = new APIGatewayClient(c);
  });

  beforeEach(async () => {
    await moto.reset();
    aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
  });

  async function stackParams(name: string): Promise<Record<string, string>> {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
    return Object.fromEntries((s.Parameters ?? []).map((p) => [p.ParameterKey!, p.ParameterValue!]));
  }

  const goLive = () => liveFixture(moto, config);

  async function envTag(name: string): Promise<string | undefined> {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
    return s.Tags?.find((t) => t.Key === 'catalog:env')?.Value;
  }

  const stackNames = async () => ((await cfn.send(new DescribeStacksCommand({}))).Stacks ?? []).map((s) => s.StackName!).sort();

  it('creates the five stacks in order, each fed the Outputs before it, and a second deploy changes nothing', async () => {
    const codeKeys = await putCode(moto, config, 'a');
    const templates = fixtureTemplates(config);
    const rec = new RecordingReporter();
    const first = await deployStacks({ config, templates, codeKeys }, deps(rec));
    assert.equal(first.failed, undefined);
    assert.deepEqual(first.stacks.map((s) => [s.stack, s.kind]), STACK_NAMES.map((s) => [s, 'created']));
    assert.deepEqual(rec.messages('deploy').filter((m) => m.endsWith(': creating')), STACK_NAMES.map((s) => `${s}: creating`));
    // Every stack's plan (new stacks: from the template) was reported before the first stack was created.
    const firstRun = rec.events.findIndex((e) => e.level === 'step' && e.message.endsWith(': creating'));
    assert.deepEqual(rec.events.slice(0, firstRun).filter((e) => e.data?.plan).map((e) => (e.data!.plan as { kind: string }).kind), STACK_NAMES.map(() => 'create'));
    for (const s of STACK_NAMES) assert.equal(await envTag(s), 'dev', `${s} carries its env`);

    const outputs = (i: number) => { const s = first.stacks[i]!; assert.ok('outputs' in s); return s.outputs; };
    const net = outputs(0);
    const storage = await stackParams('catalog-storage');
    assert.equal(storage.SubnetIds, net.SubnetIds);
    assert.equal(storage.DbSecurityGroupId, net.DbSecurityGroupId);
    const svc = await stackParams('catalog-service');
    assert.equal(svc.AppDbSecretArn, outputs(2).AppDbSecretArn);
    assert.equal(svc.CodeKeyListDatasets, codeKeys.functions['list-datasets']);
    assert.equal(svc.LiveVersionListDatasets, '', 'no alias yet: the bootstrap version serves');
    assert.equal((await stackParams('catalog-observability')).FunctionNameListDatasets, fnName(config, 'list-datasets'));
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: fnName(config, 'get-dataset') }));
    assert.match(fn.Code!.Location!, /get-dataset\/a\.zip/);

    await goLive();
    // Same templates, same code: the service stack's Live* parameters now carry what is live, which is what serves anyway.
    const again = await deployStacks({ config, templates, codeKeys }, deps());
    assert.equal(again.failed, undefined);
    for (const s of again.stacks.filter((x) => x.stack !== 'catalog-service')) assert.equal(s.kind, 'no-changes', s.stack);
    const third = await deployStacks({ config, templates, codeKeys }, deps());
    assert.deepEqual(third.stacks.map((s) => s.kind), STACK_NAMES.map(() => 'no-changes'));
    for (const s of STACK_NAMES) assert.deepEqual((await cfn.send(new ListChangeSetsCommand({ StackName: s }))).Summaries?.filter((c) => c.ExecutionStatus !== 'EXECUTE_COMPLETE') ?? [], [], s);
  });

  it('new code updates the functions through a change set, but the alias and the stage stay where they were', async () => {
    const a = await putCode(moto, config, 'a');
    const templates = fixtureTemplates(config);
    await deployStacks({ config, templates, codeKeys: a }, deps());
    const { restApiId, deploymentId } = await goLive();
    const b = await putCode(moto, config, 'b', false);

    // A template change (Description) and a parameter change (the code keys). The emulator's change
    // sets list only template-driven changes; parameter-driven ones are in the scripted-response tests.
    const next = fixtureTemplates(config, { extraDescription: ' v2' });
    const diff = await diffStacks({ config, templates: next, codeKeys: b }, deps());
    const svcPlan = diff.plans.find((p) => p.stack === 'catalog-service')!;
    assert.equal(svcPlan.kind, 'update');
    const text = formatPlans(diff.plans);
    assert.match(text, /catalog-network: no changes/);
    assert.match(text, /~ ListDatasetsFunction {2}AWS::Lambda::Function {2}modify\n {6}Description\n {8}- "catalog list-datasets"\n {8}\+ "catalog list-datasets v2"/);
    assert.match(text, /parameters:\n(.*\n)* {4}CodeKeyListDatasets: "catalog\/dev\/list-datasets\/a\.zip" → "catalog\/dev\/list-datasets\/b\.zip" {2}\(code\)/);
    assert.match(text, / {4}LiveVersionListDatasets: "" → "1" {2}\(live\)/);
    for (const s of STACK_NAMES) assert.deepEqual((await cfn.send(new ListChangeSetsCommand({ StackName: s }))).Summaries?.filter((c) => c.ExecutionStatus !== 'EXECUTE_COMPLETE') ?? [], [], `diff left a change set on ${s}`);

    const rec = new RecordingReporter();
    const out = await deployStacks({ config, templates: next, codeKeys: b }, deps(rec));
    assert.deepEqual(out.stacks.map((s) => s.kind), ['no-changes', 'no-changes', 'no-changes', 'updated', 'no-changes']);
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: fnName(config, 'list-datasets') }));
    assert.match(fn.Code!.Location!, /list-datasets\/b\.zip/);
    const params = await stackParams('catalog-service');
    for (const f of API_FUNCTIONS) {
      const alias = await aws.lambda.getAlias(fnName(config, f), 'live');
      assert.deepEqual(alias, { functionVersion: '1', additionalWeights: {} }, `${f} alias moved`);
    }
    assert.equal(params.LiveVersionListDatasets, '1');
    assert.equal(params.LiveDeploymentId, deploymentId);
    assert.equal((await apigw.send(new GetStageCommand({ restApiId, stageName: config.api.stageName }))).deploymentId, deploymentId);
  });

  it('refuses to deploy while a traffic shift is in progress (exit 2), and --stack deploys one stack with the others\' Outputs', async () => {
    const a = await putCode(moto, config, 'a');
    const templates = fixtureTemplates(config);
    await deployStacks({ config, templates, codeKeys: a }, deps());
    await goLive();
    await aws.lambda.updateAlias(fnName(config, 'get-dataset'), 'live', '1', { '1': 0 });
    await aws.lambda.updateAlias(fnName(config, 'authorizer'), 'live', '1', { '2': 0.1 });
    const rec = new RecordingReporter();
    await assert.rejects(deployStacks({ config, templates, codeKeys: a }, deps(rec)), (e: unknown) => e instanceof UserInputError && /shift is in progress on catalog-dev-get-dataset, catalog-dev-authorizer/.test(e.message));
    assert.deepEqual(rec.events, [], 'refused before any stack was touched');
    // Stacks before catalog-service do not read the aliases.
    const only = await deployStacks({ config, templates: fixtureTemplates(config, { extraDescription: '!' }), codeKeys: a, only: ['catalog-storage'] }, deps());
    assert.deepEqual(only.stacks.map((s) => [s.stack, s.kind]), [['catalog-storage', 'no-changes']]);
  });

  it('a template over the inline limit goes through the artifact bucket (TemplateURL)', async () => {
    const a = await putCode(moto, config, 'a');
    const templates = fixtureTemplates(config, { padServiceBytes: MAX_TEMPLATE_BODY });
    const out = await deployStacks({ config, templates, codeKeys: a }, deps());
    assert.equal(out.failed, undefined);
    const keys = await aws.s3.listKeys(config.artifacts.bucket, `${config.artifacts.prefix}/templates/`);
    assert.equal(keys.length, 1);
    assert.match(keys[0]!, /^catalog\/dev\/templates\/catalog-service\/[0-9a-f]{64}\.json$/);
  });

  it('a new catalog-service without code keys is bad input naming the fix, before any stack is created', async () => {
    await putCode(moto, config, 'a');
    await assert.rejects(
      deployStacks({ config, templates: fixtureTemplates(config) }, deps()),
      (e: unknown) => e instanceof UserInputError && /catalog-service: no code to deploy for CodeKeyAuditRelay.*catalogctl release --env dev/.test(e.message),
    );
    assert.deepEqual(await stackNames(), []);
  });

  it("two envs in one account and region each deploy their own stacks; an env with the other's stack names is refused before anything changes", async () => {
    const dev = await putCode(moto, config, 'a');
    await deployStacks({ config, templates: fixtureTemplates(config), codeKeys: dev }, deps());
    // qa: dev.yaml copied, with its own name, stack prefix and artifact prefix.
    const qa = { ...structuredClone(config), name: 'qa', stackPrefix: 'catalog-qa', artifacts: { ...config.artifacts, prefix: 'catalog/qa' } };
    const qaCode = await putCode(moto, qa, 'a', false);
    const out = await deployStacks({ config: qa, templates: fixtureTemplates(qa), codeKeys: qaCode }, deps());
    assert.deepEqual(out.stacks.map((s) => [s.stack, s.kind]), STACK_NAMES.map((s) => [s.replace('catalog-', 'catalog-qa-'), 'created']));
    assert.deepEqual(await stackNames(), [...STACK_NAMES, ...STACK_NAMES.map((s) => s.replace('catalog-', 'catalog-qa-'))].sort());
    for (const s of STACK_NAMES) {
      assert.equal(await envTag(s), 'dev');
      assert.equal(await envTag(s.replace('catalog-', 'catalog-qa-')), 'qa');
    }
    const plans = await diffStacks({ config: qa, templates: fixtureTemplates(qa), codeKeys: qaCode }, deps());
    assert.deepEqual(plans.plans.map((p) => [p.stack, p.kind]), STACK_NAMES.map((s) => [s.replace('catalog-', 'catalog-qa-'), 'no-changes']));

    // The copy that kept dev's stack names: refused (exit 2) by diff, deploy and the guarded interface.
    const copy = { ...qa, stackPrefix: 'catalog' };
    const refused = (e: unknown) => e instanceof UserInputError && e.message.startsWith("stack catalog-network is tagged catalog:env=dev, not env qa: refusing to act on another env's stack");
    await assert.rejects(diffStacks({ config: copy, templates: fixtureTemplates(copy), codeKeys: qaCode }, deps()), refused);
    await assert.rejects(deployStacks({ config: copy, templates: fixtureTemplates(copy, { extraDescription: '!' }), codeKeys: qaCode }, deps()), refused);
    const guarded = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, copy);
    await assert.rejects(guarded.cloudformation.describeStack('catalog-service'), (e: unknown) => e instanceof UserInputError && e.message.startsWith('stack catalog-service is tagged catalog:env=dev, not env qa'));
    assert.equal((await cfn.send(new ListChangeSetsCommand({ StackName: 'catalog-network' }))).Summaries?.filter((c) => c.ExecutionStatus !== 'EXECUTE_COMPLETE').length ?? 0, 0);
  });

  it('stacks created before env tags are refused by deploy until --adopt-untagged tags them; read-only commands only warn', async () => {
    const templates = fixtureTemplates(config);
    await cfn.send(new CreateStackCommand({ StackName: 'catalog-network', TemplateBody: JSON.stringify(templates['catalog-network']) }));
    assert.equal(await envTag('catalog-network'), undefined);
    await assert.rejects(
      deployStacks({ config, templates, only: ['catalog-network'] }, deps()),
      (e: unknown) => e instanceof UserInputError && /^deploy: catalog-network has no catalog:env tag .*--adopt-untagged/.test(e.message),
    );
    const warned: string[] = [];
    const guarded = await createGuardedAwsApi({ region: moto.region, endpoint: moto.endpoint }, config, { onUntagged: (s) => warned.push(s) });
    await diffStacks({ config, templates, only: ['catalog-network'] }, { aws: guarded, pollMs: 0 });
    await guarded.cloudformation.describeStack('catalog-network');
    assert.deepEqual(warned, ['catalog-network'], 'warned once per stack');

    // The emulator reads a change set that changes only tags as "no changes" and does not apply a
    // change set's tags to the stack (real CloudFormation does both), so the adopting deploy carries
    // a template change here, and the tags are checked on the CreateChangeSet call itself.
    const next = fixtureTemplates(config);
    (next['catalog-network'] as { Resources: { Vpc: { Properties: Record<string, unknown> } } }).Resources.Vpc.Properties.EnableDnsSupport = true;
    const sent: (Record<string, string> | undefined)[] = [];
    const recording = { ...aws, cloudformation: { ...aws.cloudformation, createChangeSet: (input: Parameters<AwsApi['cloudformation']['createChangeSet']>[0]) => (sent.push(input.tags), aws.cloudformation.createChangeSet(input)) } };
    const out = await deployStacks({ config, templates: next, only: ['catalog-network'], adoptUntagged: true }, { aws: recording, pollMs: 0 });
    assert.match(formatPlans(out.plans), /tag catalog:env: \(none\) → "dev"/);
    assert.deepEqual(out.stacks.map((s) => s.kind), ['updated']);
    assert.deepEqual(sent, [{ ...config.tags, 'catalog:env': 'dev' }]);
  });

  it('diff of an account with no stacks shows five new stacks and creates nothing', async () => {
    const a = await putCode(moto, config, 'a');
    const { plans } = await diffStacks({ config, templates: fixtureTemplates(config), codeKeys: a }, deps());
    assert.deepEqual(plans.map((p) => p.kind), STACK_NAMES.map(() => 'create'));
    const text = formatPlans(plans);
    assert.match(text, /catalog-network: new stack, 5 resources to create/);
    assert.match(text, /\+ DatabaseSecurityGroup {2}AWS::EC2::SecurityGroup {2}add {2}\[security group\]/);
    assert.match(text, /Security group changes:/);
    assert.match(text, /\+ FunctionRole {2}AWS::IAM::Role {2}add {2}\[IAM\]/);
    assert.equal((await cfn.send(new DescribeStacksCommand({}))).Stacks?.length ?? 0, 0);
  });
});
