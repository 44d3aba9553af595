/**
 * CloudFormation behaviour the local emulator cannot produce, as scripted SDK responses
 * (aws-sdk-client-mock on the real CloudFormationClient, behind the real src/aws/cloudformation.ts).
 * Each response is written from the CloudFormation API reference:
 * - a change set without changes: CreateChangeSet succeeds, DescribeChangeSet then reports
 *   Status FAILED with "The submitted information didn't contain changes…";
 * - a failed change set (Status FAILED with another StatusReason);
 * - change sets that are CREATE_PENDING / CREATE_IN_PROGRESS before CREATE_COMPLETE, with
 *   Details naming a ParameterReference as the cause and RequiresRecreation values;
 * - updates that fail (UPDATE_FAILED events) and end in UPDATE_ROLLBACK_COMPLETE, creations that
 *   end in ROLLBACK_COMPLETE, stacks found in ROLLBACK_COMPLETE / UPDATE_ROLLBACK_FAILED / *_IN_PROGRESS;
 * - throttling (ThrottlingException "Rate exceeded").
 */
import { strict as assert } from 'node:assert';
import {
  CloudFormationClient,
  type CloudFormationClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  CreateChangeSetCommand,
  CreateStackCommand,
  DeleteChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
  type ResourceStatus,
  type Stack,
  type StackEvent,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { createCloudFormationApi } from '../../src/aws/cloudformation.ts';
import { exitCodeFor } from '../../src/cli/main.ts';
import type { S3Api } from '../../src/aws/s3.ts';
import type { EnvConfig, StackName } from '../../src/config/types.ts';
import { formatPlans } from '../../src/deploy/print-plan.ts';
import { deployStacks, diffStacks, type StackDeps, type StackTemplates } from '../../src/deploy/stacks.ts';
import { DeployError, UserInputError } from '../../src/errors.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { fixtureTemplates, testConfig } from './stack-fixtures.ts';

const NO_CHANGES_REASON = "The submitted information didn't contain changes. Submit different information to create a change set.";
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
const missing = (name: string) => Object.assign(new Error(`Stack with id ${name} does not exist`), { name: 'ValidationError', $fault: 'client', $metadata: { httpStatusCode: 400 } });

const NETWORK_OUTPUTS = [
  { OutputKey: 'SubnetIds', OutputValue: 'subnet-1,subnet-2' },
  { OutputKey: 'DbSecurityGroupId', OutputValue: 'sg-db' },
  { OutputKey: 'LambdaSecurityGroupId', OutputValue: 'sg-fn' },
  { OutputKey: 'RotationSecurityGroupId', OutputValue: 'sg-rotation' },
  { OutputKey: 'VpcId', OutputValue: 'vpc-1' },
];

/** The tags catalogctl gives env dev's stacks: envs/dev.yaml's, then the env tag. */
const DEV_TAGS = [{ Key: 'Environment', Value: 'dev' }, { Key: 'Owner', Value: 'platform-foundation' }, { Key: 'Service', Value: 'catalog' }, { Key: 'catalog:env', Value: 'dev' }];

/** A stack as DescribeStacks returns it, with dev's tags unless `extra` says otherwise. */
function stack(name: string, status: string, extra: Partial<Stack> = {}): { Stacks: Stack[] } {
  return { Stacks: [{ StackName: name, StackStatus: status as StackStatus, CreationTime: new Date(0), Tags: DEV_TAGS, ...extra }] };
}

function event(id: string, logicalId: string, status: string, reason?: string): StackEvent {
  return { EventId: id, StackId: 'id', StackName: 'catalog-storage', LogicalResourceId: logicalId, ResourceType: 'AWS::RDS::DBSubnetGroup', ResourceStatus: status as ResourceStatus, ResourceStatusReason: reason, Timestamp: new Date(0) };
}

describe('deploy/stacks: CloudFormation states the emulator cannot produce (scripted responses)', () => {
  // Installed for this suite only: mockClient replaces send on every CloudFormationClient.
  let cf: AwsStub<ServiceInputTypes, ServiceOutputTypes, CloudFormationClientResolvedConfig>;
  let config: EnvConfig;
  let templates: StackTemplates;
  let deps: StackDeps & { reporter: RecordingReporter };
  let sleeps: number[];
  let clock: number;

  before(async () => {
    cf = mockClient(CloudFormationClient);
    config = await testConfig();
    templates = fixtureTemplates(config);
  });
  after(() => cf.restore());

  beforeEach(async () => {
    cf.reset();
    sleeps = [];
    clock = 0;
    const unused = () => Promise.reject(new Error('not used by these tests'));
    deps = {
      aws: {
        cloudformation: await createCloudFormationApi({ region: 'us-east-1' }),
        s3: { bucketLocation: unused, headObject: unused, putObject: unused, getObject: unused, listKeys: unused, deleteObject: unused, createObject: unused } as S3Api,
        lambda: { getAlias: unused, updateAlias: unused, publishVersion: unused } as never,
        apigateway: { getStage: unused } as never,
      },
      reporter: new RecordingReporter(),
      pollMs: 5000,
      // Sleeping moves the clock, so waits report their elapsed time without taking any.
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    };
    // Every stack but network and storage is absent unless a test says otherwise.
    cf.on(DescribeStacksCommand).rejects(missing('other'));
    cf.on(DescribeStacksCommand, { StackName: 'catalog-network' }).resolves(stack('catalog-network', 'UPDATE_COMPLETE', { Outputs: NETWORK_OUTPUTS }));
    cf.on(GetTemplateCommand).resolves({ TemplateBody: JSON.stringify(templates['catalog-storage']) });
    cf.on(DescribeStackEventsCommand).resolves({ StackEvents: [event('old-1', 'catalog-storage', 'UPDATE_COMPLETE')] });
  });

  const storageOnly = { only: ['catalog-storage'] as StackName[] };
  const storageParams = { Parameters: [{ ParameterKey: 'SubnetIds', ParameterValue: 'subnet-1,subnet-2' }, { ParameterKey: 'DbSecurityGroupId', ParameterValue: 'sg-db' }] };

  it('a change set that "didn\'t contain changes" is a success with nothing executed, and is deleted', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', storageParams));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({ Status: 'FAILED', ExecutionStatus: 'UNAVAILABLE', StatusReason: NO_CHANGES_REASON });
    const out = await deployStacks({ config, templates, ...storageOnly }, deps);
    assert.deepEqual(out.stacks.map((s) => s.kind), ['no-changes']);
    assert.equal(cf.commandCalls(ExecuteChangeSetCommand).length, 0);
    assert.equal(cf.commandCalls(DeleteChangeSetCommand).length, 1);
    // The storage stack was fed the network stack's Outputs.
    const input = cf.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    assert.deepEqual(input.Parameters, [{ ParameterKey: 'DbSecurityGroupId', ParameterValue: 'sg-db' }, { ParameterKey: 'SubnetIds', ParameterValue: 'subnet-1,subnet-2' }]);
    // The storage fixture has no IAM resource and no Transform: nothing to acknowledge, nothing sent.
    assert.equal(input.Capabilities, undefined);
    assert.deepEqual(input.Tags, DEV_TAGS);

    const diff = await diffStacks({ config, templates, ...storageOnly }, deps);
    assert.equal(formatPlans(diff.plans), 'catalog-storage: no changes\n');
    assert.equal(cf.commandCalls(DeleteChangeSetCommand).length, 2);
  });

  it('a failed change set stops the deploy with its reason (exit 3 from the CLI) and is deleted', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', storageParams));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({ Status: 'FAILED', ExecutionStatus: 'UNAVAILABLE', StatusReason: 'Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template' });
    const out = await deployStacks({ config, templates, ...storageOnly }, deps);
    assert.deepEqual(out.failed, { stack: 'catalog-storage', kind: 'failed', status: 'CHANGE_SET_FAILED', failures: [], advice: 'change set failed: Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template' });
    assert.equal(cf.commandCalls(ExecuteChangeSetCommand).length, 0);
    assert.equal(cf.commandCalls(DeleteChangeSetCommand).length, 1);
    await assert.rejects(diffStacks({ config, templates, ...storageOnly }, deps), (e: unknown) => e instanceof DeployError && /catalog-storage: change set failed: Template format error/.test(e.message));
  });

  it('a pending change set is waited for; parameter-caused and conditional replacements show in the plan', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', { Parameters: [{ ParameterKey: 'SubnetIds', ParameterValue: 'subnet-0,subnet-2' }, { ParameterKey: 'DbSecurityGroupId', ParameterValue: 'sg-db' }] }));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand)
      .resolvesOnce({ Status: 'CREATE_PENDING', ExecutionStatus: 'UNAVAILABLE' })
      .resolvesOnce({ Status: 'CREATE_IN_PROGRESS', ExecutionStatus: 'UNAVAILABLE' })
      .resolves({
        Status: 'CREATE_COMPLETE',
        ExecutionStatus: 'AVAILABLE',
        Changes: [
          {
            Type: 'Resource',
            ResourceChange: {
              Action: 'Modify',
              LogicalResourceId: 'DbSubnetGroup',
              PhysicalResourceId: 'catalog-subnets',
              ResourceType: 'AWS::RDS::DBSubnetGroup',
              Replacement: 'Conditional',
              Scope: ['Properties'],
              Details: [
                { Target: { Attribute: 'Properties', Name: 'SubnetIds', RequiresRecreation: 'Conditionally' }, Evaluation: 'Static', ChangeSource: 'ParameterReference', CausingEntity: 'SubnetIds' },
              ],
            },
          },
        ],
      });
    const { plans } = await diffStacks({ config, templates, ...storageOnly }, deps);
    assert.deepEqual(sleeps, [5000, 5000]);
    // Every wait says what it waits for and for how long.
    assert.deepEqual(deps.reporter.events.filter((e) => e.data?.waiting).map((e) => e.message), ['catalog-storage: change set CREATE_PENDING, 0s', 'catalog-storage: change set CREATE_IN_PROGRESS, 5s']);
    assert.equal(
      formatPlans(plans),
      [
        'catalog-storage: 1 to change, 1 replaced',
        '  ~ DbSubnetGroup  AWS::RDS::DBSubnetGroup  modify  may replace',
        '      SubnetIds  (may require replacement, from parameter SubnetIds)',
        '  parameters:',
        '    SubnetIds: "subnet-0,subnet-2" → "subnet-1,subnet-2"  (upstream)',
        '',
      ].join('\n'),
    );
    assert.equal(cf.commandCalls(DeleteChangeSetCommand).length, 1);
  });

  it('an update that fails prints the failing events and ends in UPDATE_ROLLBACK_COMPLETE with what to do', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' })
      .resolvesOnce(stack('catalog-storage', 'UPDATE_COMPLETE', storageParams))
      .resolvesOnce(stack('catalog-storage', 'UPDATE_IN_PROGRESS'))
      .resolvesOnce(stack('catalog-storage', 'UPDATE_ROLLBACK_IN_PROGRESS'))
      .resolves(stack('catalog-storage', 'UPDATE_ROLLBACK_COMPLETE'));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      ExecutionStatus: 'AVAILABLE',
      Changes: [{ Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'DbSubnetGroup', ResourceType: 'AWS::RDS::DBSubnetGroup', Replacement: 'False' } }],
    });
    cf.on(ExecuteChangeSetCommand).resolves({});
    const failure = event('e-3', 'DbSubnetGroup', 'UPDATE_FAILED', "Resource handler returned message: \"The subnet ID 'subnet-1' does not exist\"");
    cf.on(DescribeStackEventsCommand)
      .resolvesOnce({ StackEvents: [event('old-1', 'catalog-storage', 'UPDATE_COMPLETE')] })
      .resolvesOnce({ StackEvents: [event('e-2', 'DbSubnetGroup', 'UPDATE_IN_PROGRESS'), event('e-1', 'catalog-storage', 'UPDATE_IN_PROGRESS', 'User Initiated'), event('old-1', 'catalog-storage', 'UPDATE_COMPLETE')] })
      .resolvesOnce({ StackEvents: [event('e-4', 'catalog-storage', 'UPDATE_ROLLBACK_IN_PROGRESS', 'The following resource(s) failed to update: [DbSubnetGroup].'), failure, event('e-2', 'x', 'x')] })
      .resolves({ StackEvents: [event('e-5', 'catalog-storage', 'UPDATE_ROLLBACK_COMPLETE'), event('e-4', 'x', 'x')] });
    const out = await deployStacks({ config, templates, ...storageOnly }, deps);
    assert.equal(out.failed?.kind, 'failed');
    assert.equal(out.failed.status, 'UPDATE_ROLLBACK_COMPLETE');
    assert.deepEqual(out.failed.failures.map((f) => [f.logicalId, f.status]), [['DbSubnetGroup', 'UPDATE_FAILED']]);
    assert.match(out.failed.advice, /put the stack back as it was; fix the cause above and deploy again/);
    const lines = deps.reporter.messages('deploy');
    // Each event once, oldest first.
    assert.deepEqual(lines.filter((l) => l.startsWith('catalog-storage  ')), [
      'catalog-storage  catalog-storage  UPDATE_IN_PROGRESS  User Initiated',
      'catalog-storage  DbSubnetGroup  UPDATE_IN_PROGRESS',
      `catalog-storage  DbSubnetGroup  UPDATE_FAILED  ${failure.ResourceStatusReason}`,
      'catalog-storage  catalog-storage  UPDATE_ROLLBACK_IN_PROGRESS  The following resource(s) failed to update: [DbSubnetGroup].',
      'catalog-storage  catalog-storage  UPDATE_ROLLBACK_COMPLETE',
    ]);
    assert.ok(deps.reporter.events.some((e) => e.level === 'warn' && e.message.includes('UPDATE_FAILED')));
    assert.deepEqual(deps.reporter.events.filter((e) => e.data?.waiting).map((e) => e.message), ['catalog-storage: UPDATE_IN_PROGRESS, 0s', 'catalog-storage: UPDATE_ROLLBACK_IN_PROGRESS, 5s']);
    // The plan is reported before the change set is executed.
    const order = deps.reporter.events.map((e) => (e.data?.plan ? 'plan' : e.message.startsWith('catalog-storage: executing') ? 'execute' : '')).filter(Boolean);
    assert.deepEqual(order, ['plan', 'execute']);
  });

  it('a new stack whose creation fails ends in ROLLBACK_COMPLETE with the delete-and-retry advice', async () => {
    cf.on(CreateStackCommand).resolves({ StackId: 'id' });
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' })
      .rejectsOnce(missing('catalog-storage'))
      .resolvesOnce(stack('catalog-storage', 'CREATE_IN_PROGRESS'))
      .resolves(stack('catalog-storage', 'ROLLBACK_COMPLETE'));
    cf.on(DescribeStackEventsCommand).resolves({ StackEvents: [event('e-3', 'catalog-storage', 'ROLLBACK_COMPLETE'), event('e-2', 'DbSubnetGroup', 'CREATE_FAILED', 'Some input subnets are invalid.'), event('e-1', 'catalog-storage', 'CREATE_IN_PROGRESS', 'User Initiated')] });
    const out = await deployStacks({ config, templates, ...storageOnly }, deps);
    assert.equal(out.failed?.status, 'ROLLBACK_COMPLETE');
    assert.match(out.failed.advice, /delete it \(aws cloudformation delete-stack --stack-name catalog-storage\), fix the cause, and deploy again/);
    assert.deepEqual(out.failed.kind === 'failed' && out.failed.failures.map((f) => f.reason), ['Some input subnets are invalid.']);
    assert.equal(cf.commandCalls(CreateStackCommand)[0]!.args[0].input.OnFailure, 'ROLLBACK');
  });

  for (const [status, advice] of [
    ['ROLLBACK_COMPLETE', /creation failed and it cannot be updated: delete it \(aws cloudformation delete-stack --stack-name catalog-storage\)/],
    ['UPDATE_ROLLBACK_FAILED', /run aws cloudformation continue-update-rollback --stack-name catalog-storage/],
    ['UPDATE_IN_PROGRESS', /another operation is running on it \(UPDATE_IN_PROGRESS\): wait for it to finish/],
    ['REVIEW_IN_PROGRESS', /unexecuted change set made by another tool/],
  ] as const) {
    it(`a stack found in ${status} is not touched; deploy and diff say what to do`, async () => {
      cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', status));
      const out = await deployStacks({ config, templates, ...storageOnly }, deps);
      assert.equal(out.failed?.kind, 'blocked');
      assert.match(out.failed.advice, advice);
      const { plans } = await diffStacks({ config, templates, ...storageOnly }, deps);
      assert.match(formatPlans(plans), new RegExp(`catalog-storage: cannot deploy \\(${status}\\)\\n  `));
      assert.equal(cf.commandCalls(CreateChangeSetCommand).length + cf.commandCalls(CreateStackCommand).length, 0);
    });
  }

  it('throttling is waited out with backoff; throttling that never ends is a deploy failure', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', storageParams));
    cf.on(CreateChangeSetCommand).rejectsOnce(throttled()).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({ Status: 'FAILED', StatusReason: NO_CHANGES_REASON });
    const out = await deployStacks({ config, templates, ...storageOnly }, deps);
    assert.deepEqual(out.stacks.map((s) => s.kind), ['no-changes']);
    assert.deepEqual(sleeps, [1000, 1000, 2000]);
    assert.equal(cf.commandCalls(CreateChangeSetCommand).length, 2);

    cf.on(DescribeChangeSetCommand).rejects(throttled());
    sleeps.length = 0;
    await assert.rejects(deployStacks({ config, templates, ...storageOnly }, deps), (e: unknown) => e instanceof DeployError && /catalog-storage: DescribeChangeSet: Rate exceeded/.test(e.message));
    assert.deepEqual(sleeps, [1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]);
  });
  /** Network and storage deployed with their Outputs; the secrets stack as the test gives it. */
  function upstreamDeployed(): void {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(
      stack('catalog-storage', 'UPDATE_COMPLETE', { Outputs: [{ OutputKey: 'DbMasterSecretArn', OutputValue: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-new' }, { OutputKey: 'DbKmsKeyArn', OutputValue: 'arn:aws:kms:us-east-1:123456789012:key/db' }] }),
    );
  }

  /** A catalog-secrets like the real one: the Secrets Manager transform and a hosted rotation function. */
  const rotatingSecrets = () => ({
    ...templates,
    'catalog-secrets': {
      Transform: 'AWS::SecretsManager-2020-07-23',
      Parameters: { DbMasterSecretArn: { Type: 'String' }, DbKmsKeyArn: { Type: 'String' }, RotationSecurityGroupId: { Type: 'String' } },
      Resources: {
        AppDbSecret: { Type: 'AWS::SecretsManager::Secret', Properties: { GenerateSecretString: { SecretStringTemplate: '{"username":"catalog_app"}', GenerateStringKey: 'password' } } },
        AppDbSecretRotation: {
          Type: 'AWS::SecretsManager::RotationSchedule',
          Properties: { SecretId: { Ref: 'AppDbSecret' }, HostedRotationLambda: { RotationType: 'PostgreSQLMultiUser', VpcSecurityGroupIds: { Ref: 'RotationSecurityGroupId' } }, RotationRules: { AutomaticallyAfterDays: 30 } },
        },
      },
      Outputs: { AppDbSecretArn: { Value: { Ref: 'AppDbSecret' } } },
    },
  });

  /** InsufficientCapabilitiesException as CloudFormation answers it (API reference: CreateStack / CreateChangeSet errors). */
  const insufficient = (caps: string[]) =>
    Object.assign(new Error(`Requires capabilities : [${caps.join(', ')}]`), { name: 'InsufficientCapabilitiesException', $fault: 'client', $metadata: { httpStatusCode: 400 } });

  it('capabilities come from the template: the transform and its rotation role are acknowledged, and CloudFormation accepts the stack', async () => {
    upstreamDeployed();
    cf.on(DescribeStacksCommand, { StackName: 'catalog-secrets' })
      .rejectsOnce(missing('catalog-secrets'))
      .resolves(stack('catalog-secrets', 'CREATE_COMPLETE', { Outputs: [{ OutputKey: 'AppDbSecretArn', OutputValue: 'arn:secret' }] }));
    // CloudFormation's side, written from the API reference rather than from src/deploy/capabilities.ts:
    // a Transform needs CAPABILITY_AUTO_EXPAND, and the hosted rotation's nested stack has an IAM role.
    cf.on(CreateStackCommand).callsFake((input: { TemplateBody?: string; Capabilities?: string[] }) => {
      const body = JSON.parse(input.TemplateBody ?? '{}') as { Transform?: string };
      const given = input.Capabilities ?? [];
      const lacking = [...(body.Transform && !given.includes('CAPABILITY_AUTO_EXPAND') ? ['CAPABILITY_AUTO_EXPAND'] : []), ...(body.Transform && !given.some((c) => c.endsWith('_IAM')) ? ['CAPABILITY_IAM'] : [])];
      if (lacking.length) throw insufficient(lacking);
      return { StackId: 'id' };
    });
    const out = await deployStacks({ config, templates: rotatingSecrets(), only: ['catalog-secrets'] }, deps);
    assert.equal(out.failed, undefined);
    assert.deepEqual(out.stacks.map((s) => [s.stack, s.kind]), [['catalog-secrets', 'created']]);
    assert.deepEqual(cf.commandCalls(CreateStackCommand)[0]!.args[0].input.Capabilities, ['CAPABILITY_AUTO_EXPAND', 'CAPABILITY_IAM']);
    const plan = out.plans[0]!;
    assert.ok(plan.kind === 'create');
    assert.match(formatPlans(out.plans), /acknowledges CAPABILITY_AUTO_EXPAND, CAPABILITY_IAM/);
  });

  it('a call CloudFormation refuses for lack of a capability is exit 3 with one line naming what it needed', async () => {
    upstreamDeployed();
    cf.on(DescribeStacksCommand, { StackName: 'catalog-secrets' }).resolves(
      stack('catalog-secrets', 'UPDATE_COMPLETE', { Parameters: [{ ParameterKey: 'DbMasterSecretArn', ParameterValue: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-new' }, { ParameterKey: 'DbKmsKeyArn', ParameterValue: 'arn:aws:kms:us-east-1:123456789012:key/db' }, { ParameterKey: 'RotationSecurityGroupId', ParameterValue: 'sg-rotation' }] }),
    );
    // e.g. a nested template that names its role: CloudFormation sees what the parent template cannot show.
    cf.on(CreateChangeSetCommand).rejects(insufficient(['CAPABILITY_NAMED_IAM']));
    const err = await deployStacks({ config, templates: rotatingSecrets(), only: ['catalog-secrets'] }, deps).then(
      () => assert.fail('deploy should have failed'),
      (e: unknown) => e,
    );
    const { code, message } = exitCodeFor(err);
    assert.equal(code, 3);
    assert.equal(message, 'catalog-secrets: CreateChangeSet: Requires capabilities : [CAPABILITY_NAMED_IAM] (acknowledged: CAPABILITY_AUTO_EXPAND, CAPABILITY_IAM, as derived from the template)');
    assert.equal(cf.commandCalls(ExecuteChangeSetCommand).length + cf.commandCalls(CreateStackCommand).length, 0);
  });

  it('an existing stack whose upstream is new is planned from its template, then shown again and asked for when its change set does more', async () => {
    // Storage is new; secrets exists and takes storage's Outputs, which do not exist yet.
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' })
      .rejectsOnce(missing('catalog-storage'))
      .resolves(stack('catalog-storage', 'CREATE_COMPLETE', { Outputs: [{ OutputKey: 'DbMasterSecretArn', OutputValue: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-new' }, { OutputKey: 'DbKmsKeyArn', OutputValue: 'arn:aws:kms:us-east-1:123456789012:key/db' }] }));
    cf.on(DescribeStacksCommand, { StackName: 'catalog-secrets' })
      .resolvesOnce(stack('catalog-secrets', 'UPDATE_COMPLETE', { Parameters: [{ ParameterKey: 'DbMasterSecretArn', ParameterValue: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-old' }, { ParameterKey: 'DbKmsKeyArn', ParameterValue: 'arn:aws:kms:us-east-1:123456789012:key/db' }, { ParameterKey: 'RotationSecurityGroupId', ParameterValue: 'sg-rotation' }] }))
      .resolves(stack('catalog-secrets', 'UPDATE_COMPLETE'));
    cf.on(GetTemplateCommand, { StackName: 'catalog-secrets' }).resolves({ TemplateBody: JSON.stringify(templates['catalog-secrets']) });
    cf.on(CreateStackCommand).resolves({ StackId: 'id' });
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({
      Status: 'CREATE_COMPLETE',
      ExecutionStatus: 'AVAILABLE',
      Changes: [
        {
          Type: 'Resource',
          ResourceChange: {
            Action: 'Modify',
            LogicalResourceId: 'SecretsLogGroup',
            ResourceType: 'AWS::Logs::LogGroup',
            Replacement: 'True',
            Details: [{ Target: { Attribute: 'Properties', Name: 'LogGroupName', RequiresRecreation: 'Always' }, ChangeSource: 'ParameterReference', CausingEntity: 'DbMasterSecretArn' }],
          },
        },
      ],
    });
    cf.on(ExecuteChangeSetCommand).resolves({});
    const asked: { stacks: string[]; replanned: boolean }[] = [];
    const out = await deployStacks(
      { config, templates, only: ['catalog-storage', 'catalog-secrets'], approve: async (req) => (asked.push({ stacks: req.plans.map((p) => `${p.stack}:${p.kind}`), replanned: !!req.replanned }), true) },
      deps,
    );
    assert.equal(out.failed, undefined);
    assert.deepEqual(out.stacks.map((s) => [s.stack, s.kind]), [['catalog-storage', 'created'], ['catalog-secrets', 'updated']]);
    const first = out.plans[1]!;
    assert.ok(first.kind === 'update' && first.source === 'template', 'planned from the template before anything ran');
    const shown = formatPlans([first]);
    assert.match(shown, /DbMasterSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-old" → "<DbMasterSecretArn of catalog-storage, once deployed>" {2}\(upstream\)/);
    assert.match(shown, /\(from the template: a stack before it changes first; its change set is made, and shown again if it does more, when deploy gets here\)/);
    assert.deepEqual(asked, [
      { stacks: ['catalog-storage:create', 'catalog-secrets:update'], replanned: false },
      { stacks: ['catalog-secrets:update'], replanned: true },
    ]);
    // The change set was made only after storage existed, with its Outputs.
    const input = cf.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    assert.deepEqual(input.Parameters?.find((p) => p.ParameterKey === 'DbMasterSecretArn'), { ParameterKey: 'DbMasterSecretArn', ParameterValue: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-new' });
    // Every plan came before the first stack operation.
    const kinds = deps.reporter.events.map((e) => (e.data?.plan && !e.data.replanned ? 'plan' : /: (creating|executing)/.test(e.message) && e.level === 'step' ? 'run' : '')).filter(Boolean);
    assert.deepEqual(kinds, ['plan', 'plan', 'run', 'run']);
  });

  it('a refused approval executes nothing and deletes the change sets made for the plan', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', { Parameters: [{ ParameterKey: 'SubnetIds', ParameterValue: 'subnet-0,subnet-2' }, { ParameterKey: 'DbSecurityGroupId', ParameterValue: 'sg-db' }] }));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', ExecutionStatus: 'AVAILABLE', Changes: [{ Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'DbSubnetGroup', ResourceType: 'AWS::RDS::DBSubnetGroup', Replacement: 'False' } }] });
    await assert.rejects(
      deployStacks({ config, templates, ...storageOnly, approve: async () => false }, deps),
      (e: unknown) => e instanceof UserInputError && e.message === 'deploy: not approved; nothing was changed',
    );
    assert.equal(cf.commandCalls(ExecuteChangeSetCommand).length, 0);
    assert.deepEqual(cf.commandCalls(DeleteChangeSetCommand).map((c) => c.args[0].input.StackName), ['catalog-storage']);
  });

  it('a plan that stops half-way (bad input on a later stack) leaves no change set behind', async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', { ...storageParams, Outputs: [{ OutputKey: 'DbEndpointAddress', OutputValue: 'db.local' }] }));
    cf.on(DescribeStacksCommand, { StackName: 'catalog-secrets' }).resolves(stack('catalog-secrets', 'UPDATE_COMPLETE'));
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', ExecutionStatus: 'AVAILABLE', Changes: [{ Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'DbSubnetGroup', ResourceType: 'AWS::RDS::DBSubnetGroup', Replacement: 'False' } }] });
    const broken = { ...templates, 'catalog-secrets': { ...templates['catalog-secrets'], Parameters: { Unwired: { Type: 'String' } } } };
    await assert.rejects(
      deployStacks({ config, templates: broken, only: ['catalog-storage', 'catalog-secrets'] }, deps),
      (e: unknown) => e instanceof UserInputError && /^catalog-secrets: parameters without a value: Unwired/.test(e.message),
    );
    assert.equal(cf.commandCalls(CreateChangeSetCommand).length, 1, 'storage was planned');
    assert.deepEqual(cf.commandCalls(DeleteChangeSetCommand).map((c) => c.args[0].input.StackName), ['catalog-storage']);
    assert.equal(cf.commandCalls(ExecuteChangeSetCommand).length, 0);
  });

  it("a stack tagged for another env is refused (exit 2) by diff and deploy; an untagged one only by deploy, unless it adopts it", async () => {
    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', { ...storageParams, Tags: [{ Key: 'catalog:env', Value: 'qa' }] }));
    const foreign = (e: unknown) => e instanceof UserInputError && /^stack catalog-storage is tagged catalog:env=qa, not env dev: refusing to act on another env's stack/.test(e.message);
    await assert.rejects(deployStacks({ config, templates, ...storageOnly }, deps), foreign);
    await assert.rejects(diffStacks({ config, templates, ...storageOnly }, deps), foreign);
    assert.equal(cf.commandCalls(CreateChangeSetCommand).length, 0);

    cf.on(DescribeStacksCommand, { StackName: 'catalog-storage' }).resolves(stack('catalog-storage', 'UPDATE_COMPLETE', { ...storageParams, Tags: [] }));
    await assert.rejects(
      deployStacks({ config, templates, ...storageOnly }, deps),
      (e: unknown) => e instanceof UserInputError && e.message === "deploy: catalog-storage has no catalog:env tag (created before stacks were tagged); if it is env dev's, run `catalogctl deploy --env dev --adopt-untagged` once to tag it; nothing was changed",
    );
    assert.equal(cf.commandCalls(CreateChangeSetCommand).length, 0);
    cf.on(CreateChangeSetCommand).resolves({ Id: 'cs-1' });
    cf.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', ExecutionStatus: 'AVAILABLE', Changes: [{ Type: 'Resource', ResourceChange: { Action: 'Modify', LogicalResourceId: 'DbSubnetGroup', ResourceType: 'AWS::RDS::DBSubnetGroup', Replacement: 'False', Scope: ['Tags'] } }] });
    cf.on(ExecuteChangeSetCommand).resolves({});
    const out = await deployStacks({ config, templates, ...storageOnly, adoptUntagged: true }, deps);
    assert.deepEqual(out.stacks.map((s) => s.kind), ['updated']);
    assert.deepEqual(cf.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.Tags, DEV_TAGS);
    assert.match(formatPlans(out.plans), /tag catalog:env: \(none\) → "dev"/);
  });
});
