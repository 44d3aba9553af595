import { strict as assert } from 'node:assert';
import { CloudFormationClient, DescribeStacksCommand, ListChangeSetsCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { APIGatewayClient, GetStageCommand } from '@aws-sdk/client-api-gateway';
import { createAwsApi, type AwsApi } from '../../src/aws/index.ts';
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

  it('creates the five stacks in order, each fed the Outputs before it, and a second deploy changes nothing', async () => {
    const codeKeys = await putCode(moto, config, 'a');
    const templates = fixtureTemplates(config);
    const rec = new RecordingReporter();
    const first = await deployStacks({ config, templates, codeKeys }, deps(rec));
    assert.equal(first.failed, undefined);
    assert.deepEqual(first.stacks.map((s) => [s.stack, s.kind]), STACK_NAMES.map((s) => [s, 'created']));
    assert.deepEqual(rec.messages('deploy').filter((m) => m.endsWith(': creating')), STACK_NAMES.map((s) => `${s}: creating`));

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

  it('a new catalog-service without code keys is bad input naming the fix', async () => {
    await putCode(moto, config, 'a');
    await assert.rejects(
      deployStacks({ config, templates: fixtureTemplates(config) }, deps()),
      (e: unknown) => e instanceof UserInputError && /catalog-service: no code to deploy for CodeKeyAuditRelay.*catalogctl release --env dev/.test(e.message),
    );
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
