import { strict as assert } from 'node:assert';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listEnvs, loadEnv } from '../../src/config/load.ts';
import { STACK_NAMES, type StackName } from '../../src/config/types.ts';
import { IAM_RESOURCE_NAMES, requiredCapabilities } from '../../src/deploy/capabilities.ts';
import { renderEnvironment } from '../../src/templates/index.ts';

/**
 * What each stack must acknowledge, from the CloudFormation API reference (CreateStack /
 * CreateChangeSet `Capabilities`): unnamed IAM roles → CAPABILITY_IAM; the Secrets Manager
 * transform → CAPABILITY_AUTO_EXPAND, plus CAPABILITY_IAM for the rotation function's role in the
 * nested stack it generates. The emulator ignores capabilities, so this is checked on the templates.
 */
const EXPECTED: Record<StackName, string[]> = {
  'catalog-network': ['CAPABILITY_IAM'],
  'catalog-storage': ['CAPABILITY_IAM'],
  'catalog-secrets': ['CAPABILITY_AUTO_EXPAND', 'CAPABILITY_IAM'],
  'catalog-service': ['CAPABILITY_IAM'],
  'catalog-observability': [],
};

const role = (props: Record<string, unknown> = {}) => ({ Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {}, ...props } });

describe('deploy/capabilities: what each template must acknowledge', () => {
  it('follows the API reference rules on small templates', () => {
    const caps = (t: Record<string, unknown>) => requiredCapabilities(t).capabilities;
    assert.deepEqual(caps({ Resources: { Bucket: { Type: 'AWS::S3::Bucket' } } }), []);
    assert.deepEqual(caps({ Resources: { Perm: { Type: 'AWS::Lambda::Permission' }, Topic: { Type: 'AWS::SNS::Topic' } } }), [], 'not an IAM resource in the reference list');
    for (const type of Object.keys(IAM_RESOURCE_NAMES)) assert.deepEqual(caps({ Resources: { R: { Type: type, Properties: {} } } }), ['CAPABILITY_IAM'], type);
    // A custom name, literal or computed, needs NAMED_IAM, which covers IAM: sent alone.
    assert.deepEqual(caps({ Resources: { R: role({ RoleName: 'catalog-dev-fn' }) } }), ['CAPABILITY_NAMED_IAM']);
    assert.deepEqual(caps({ Resources: { R: role({ RoleName: { 'Fn::Sub': '${AWS::StackName}-fn' } }), S: role() } }), ['CAPABILITY_NAMED_IAM']);
    for (const [type, prop] of Object.entries(IAM_RESOURCE_NAMES))
      if (prop) assert.deepEqual(caps({ Resources: { R: { Type: type, Properties: { [prop]: 'x' } } } }), ['CAPABILITY_NAMED_IAM'], `${type} ${prop}`);
    // Every inline policy has a PolicyName: that is not a custom-named IAM resource.
    assert.deepEqual(caps({ Resources: { P: { Type: 'AWS::IAM::Policy', Properties: { PolicyName: 'p', PolicyDocument: {} } } } }), ['CAPABILITY_IAM']);
    assert.deepEqual(caps({ Transform: 'AWS::Include', Resources: {} }), ['CAPABILITY_AUTO_EXPAND']);
    assert.deepEqual(caps({ Transform: ['AWS::LanguageExtensions', 'AWS::Serverless-2016-10-31'], Resources: { F: { Type: 'AWS::Serverless::Function', Properties: {} } } }), ['CAPABILITY_AUTO_EXPAND', 'CAPABILITY_IAM']);
    assert.deepEqual(caps({ Transform: 'AWS::Serverless-2016-10-31', Resources: { F: { Type: 'AWS::Serverless::Function', Properties: { Role: 'arn:aws:iam::1:role/x' } } } }), ['CAPABILITY_AUTO_EXPAND']);
    const rotation = { Type: 'AWS::SecretsManager::RotationSchedule', Properties: { SecretId: 's', HostedRotationLambda: { RotationType: 'PostgreSQLMultiUser' } } };
    assert.deepEqual(caps({ Transform: 'AWS::SecretsManager-2020-07-23', Resources: { R: rotation } }), ['CAPABILITY_AUTO_EXPAND', 'CAPABILITY_IAM']);
    assert.deepEqual(caps({ Transform: 'AWS::SecretsManager-2024-09-16', Resources: { R: rotation, Role: role({ RoleName: 'x' }) } }), ['CAPABILITY_AUTO_EXPAND', 'CAPABILITY_NAMED_IAM']);
    assert.deepEqual(requiredCapabilities({ Resources: { R: role({ RoleName: 'x' }) } }).reasons, ['R AWS::IAM::Role has RoleName']);
  });

  it('every stack of every env, rendered in memory, needs exactly what the stack holds', async () => {
    const envs = await listEnvs();
    assert.ok(envs.length >= 3, `envs found: ${envs.join(', ')}`);
    for (const env of envs) {
      const rendered = renderEnvironment(await loadEnv(env));
      for (const s of STACK_NAMES) assert.deepEqual(requiredCapabilities(rendered[`${s}.json`] as never).capabilities, EXPECTED[s], `${env} ${s}`);
    }
  });

  it('every stack in templates-out/*/ needs the same, and no rendered IAM resource is left unacknowledged', async () => {
    const dirs = (await readdir('templates-out', { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    assert.ok(dirs.length >= 3, `templates-out dirs: ${dirs.join(', ')}`);
    for (const dir of dirs) {
      for (const s of STACK_NAMES) {
        const t = JSON.parse(await readFile(join('templates-out', dir, `${s}.json`), 'utf8')) as { Resources: Record<string, { Type: string }> };
        const { capabilities } = requiredCapabilities(t);
        assert.deepEqual(capabilities, EXPECTED[s], `templates-out/${dir}/${s}.json`);
        // Independent of the rule table: any AWS::IAM:: resource at all needs one of the IAM capabilities.
        if (Object.values(t.Resources).some((r) => r.Type.startsWith('AWS::IAM::'))) assert.ok(capabilities.some((c) => c.endsWith('_IAM')), `templates-out/${dir}/${s}.json`);
      }
    }
  });
});
