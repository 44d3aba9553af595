/**
 * The in-process checkers, the tool output parsers and the printers, on a small hand-written
 * environment (./fixture.ts). No external tool runs here except in the last block.
 */
import { strict as assert } from 'node:assert';
import { checkAsl } from '../../src/validate/asl.ts';
import { parseCfnLintOutput } from '../../src/validate/cfn-lint.ts';
import { parseCheckovOutput } from '../../src/validate/checkov.ts';
import { validateRendered } from '../../src/validate/index.ts';
import { formatJson, formatSummary, formatText } from '../../src/validate/print.ts';
import { buildReport, configFinding, type Finding } from '../../src/validate/report.ts';
import { checkRules } from '../../src/validate/rules.ts';
import { checkStateMachine } from '../../src/validate/state-machine.ts';
import { collectSuppressions, suppressionsMarkdown } from '../../src/validate/suppressions.ts';
import { findTool, ToolError } from '../../src/validate/tools.ts';
import { FIXTURE_CONFIG, fixtureEnvironment } from './fixture.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const brief = (fs: Finding[]): string[] => fs.map((f) => `${f.stack} ${f.resource} ${f.rule}`);

describe('validate: state machine ↔ catalog-service cross-check', () => {
  it('is clean when the role may invoke exactly the two functions the definition names', () => {
    const r = fixtureEnvironment();
    assert.deepEqual(checkStateMachine('fx', r['state_machine.json'], r['catalog-service.json']), []);
  });

  it('reports a role that may also invoke an unrelated function, naming the role and the function', () => {
    const r = fixtureEnvironment() as Obj;
    r['catalog-service.json'].Resources.PollerRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource.push({ 'Fn::Sub': '${ListDatasetsFunction.Arn}:*' });
    const f = checkStateMachine('fx', r['state_machine.json'], r['catalog-service.json']);
    assert.deepEqual(brief(f), ['catalog-service PollerRole SM_ROLE_INVOKES_OTHER']);
    assert.match(f[0]!.message, /ListDatasetsFunction/);
  });

  it('treats Resource "*" on lambda:* as invoking other functions', () => {
    const r = fixtureEnvironment() as Obj;
    r['catalog-service.json'].Resources.PollerRole.Properties.Policies.push({
      PolicyName: 'broad',
      PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'lambda:*', Resource: '*' }] },
    });
    assert.deepEqual(brief(checkStateMachine('fx', r['state_machine.json'], r['catalog-service.json'])), ['catalog-service PollerRole SM_ROLE_INVOKES_OTHER']);
  });

  it('reports a named function the role may not invoke, and a placeholder bound to no function', () => {
    const r = fixtureEnvironment() as Obj;
    const svc = r['catalog-service.json'];
    svc.Resources.PollerRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource.pop();
    svc.Resources.PollerStateMachine.Properties.DefinitionString['Fn::Sub'][1].CheckCatalogStatusFunctionArn = 'arn:aws:lambda:us-east-1:111111111111:function:elsewhere';
    assert.deepEqual(brief(checkStateMachine('fx', r['state_machine.json'], svc)), [
      'state_machine CheckCatalogStatus SM_UNKNOWN_FUNCTION',
      'catalog-service PollerRole SM_ROLE_CANNOT_INVOKE',
      'catalog-service PollerRole SM_ROLE_INVOKES_OTHER',
    ]);
  });

  it('follows aliases, and reports an embedded definition that differs from state_machine.json', () => {
    const r = fixtureEnvironment() as Obj;
    const svc = r['catalog-service.json'];
    svc.Resources.CheckLive = { Type: 'AWS::Lambda::Alias', Properties: { FunctionName: { Ref: 'CheckCatalogStatusFunction' }, Name: 'live', FunctionVersion: '1' } };
    svc.Resources.PollerStateMachine.Properties.DefinitionString['Fn::Sub'][1].CheckCatalogStatusFunctionArn = { Ref: 'CheckLive' };
    assert.deepEqual(checkStateMachine('fx', r['state_machine.json'], svc), []);
    const changed = structuredClone(r['state_machine.json']);
    changed.States.Wait.Seconds = 30;
    assert.deepEqual(brief(checkStateMachine('fx', changed, svc)), ['catalog-service PollerStateMachine SM_DEFINITION_MISMATCH']);
  });
});

describe('validate: asl-validator', () => {
  it('accepts the definition with its placeholders', () => {
    assert.deepEqual(checkAsl('fx', fixtureEnvironment()['state_machine.json'], { region: 'us-east-1', account: '111111111111' }), []);
  });

  it('names the state whose Next points nowhere', () => {
    const sm = structuredClone(fixtureEnvironment()['state_machine.json']) as Obj;
    sm.States.Wait.Next = 'Nowhere';
    const f = checkAsl('fx', sm, { region: 'us-east-1', account: '111111111111' });
    assert.ok(f.some((x) => x.resource === 'Wait' && x.rule === 'MISSING_TRANSITION_TARGET' && /Nowhere/.test(x.message)), JSON.stringify(f));
    assert.equal(sm.States.Wait.QueryLanguage, undefined, 'the caller’s object is left alone');
  });
});

describe('validate: project rules', () => {
  const storage = (): Obj => structuredClone(fixtureEnvironment()['catalog-storage.json']) as Obj;

  it('reports a security group open to 0.0.0.0/0 on 5432', () => {
    const t = storage();
    t.Resources.DbSecurityGroup.Properties.SecurityGroupIngress = [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '0.0.0.0/0' }];
    const f = checkRules('fx', 'catalog-storage', t);
    assert.deepEqual(brief(f), ['catalog-storage DbSecurityGroup CAT_SG_WORLD_INGRESS']);
    assert.match(f[0]!.message, /0\.0\.0\.0\/0 on port 5432/);
  });

  it('reports a plaintext secret in a Lambda env var but not names, ARNs or references', () => {
    const t = structuredClone(fixtureEnvironment()['catalog-service.json']) as Obj;
    const vars = t.Resources.UpdateCatalogDbFunction.Properties.Environment.Variables;
    Object.assign(vars, { DB_USER: 'catalog_app', DB_SECRET_ARN: { Ref: 'DbSecret' }, JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x', DB_PASSWORD: 'hunter2' });
    vars.API_TOKEN = { 'Fn::Sub': '{{resolve:secretsmanager:${DbSecret}:SecretString:password}}' };
    assert.deepEqual(brief(checkRules('fx', 'catalog-service', t)), [
      'catalog-service UpdateCatalogDbFunction CAT_LAMBDA_ENV_SECRET',
      'catalog-service UpdateCatalogDbFunction CAT_LAMBDA_ENV_SECRET',
    ]);
  });

  describe('API cache keys (CAT_API_CACHE_KEY_*)', () => {
    const KEYS = ['method.request.header.Authorization', 'method.request.header.If-None-Match', 'method.request.querystring.limit'];
    /** A REST API with a TOKEN authorizer, one GET and one POST under /datasets, and a caching stage. */
    const api = (keys: string[] = KEYS): Obj => ({
      Resources: {
        Api: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'fx' } },
        Datasets: { Type: 'AWS::ApiGateway::Resource', Properties: { RestApiId: { Ref: 'Api' }, ParentId: { 'Fn::GetAtt': ['Api', 'RootResourceId'] }, PathPart: 'datasets' } },
        Auth: { Type: 'AWS::ApiGateway::Authorizer', Properties: { RestApiId: { Ref: 'Api' }, Type: 'TOKEN', IdentitySource: 'method.request.header.Authorization' } },
        ListMethod: {
          Type: 'AWS::ApiGateway::Method',
          Properties: {
            RestApiId: { Ref: 'Api' },
            ResourceId: { Ref: 'Datasets' },
            HttpMethod: 'GET',
            AuthorizationType: 'CUSTOM',
            AuthorizerId: { Ref: 'Auth' },
            RequestParameters: Object.fromEntries(keys.map((k) => [k, false])),
            Integration: { Type: 'AWS_PROXY', CacheKeyParameters: keys },
          },
        },
        CreateMethod: { Type: 'AWS::ApiGateway::Method', Properties: { RestApiId: { Ref: 'Api' }, ResourceId: { Ref: 'Datasets' }, HttpMethod: 'POST', AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'Auth' }, Integration: { Type: 'AWS_PROXY' } } },
        Stage: { Type: 'AWS::ApiGateway::Stage', Properties: { RestApiId: { Ref: 'Api' }, CacheClusterEnabled: true, MethodSettings: [{ ResourcePath: '/*', HttpMethod: '*', CachingEnabled: false }, { ResourcePath: '/~1datasets', HttpMethod: 'GET', CachingEnabled: true }] } },
      },
    });
    const rules = (t: Obj) => brief(checkRules('fx', 'catalog-service', t));

    it('is clean when the cached GET keys on the identity source and If-None-Match, declared and listed', () => {
      assert.deepEqual(rules(api()), []);
      // Header names are case-insensitive.
      assert.deepEqual(rules(api(['method.request.header.authorization', 'method.request.header.if-none-match'])), []);
    });

    it("reports a cached method whose key lacks the authorizer's identity source, or If-None-Match", () => {
      assert.deepEqual(rules(api(KEYS.filter((k) => !k.endsWith('Authorization')))), ['catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY']);
      const f = checkRules('fx', 'catalog-service', api(KEYS.filter((k) => !k.endsWith('If-None-Match'))));
      assert.deepEqual(brief(f), ['catalog-service ListMethod CAT_API_CACHE_KEY_CONDITIONAL']);
      assert.match(f[0]!.message, /^GET \/datasets \(cached on Stage\): method\.request\.header\.If-None-Match missing from CacheKeyParameters and RequestParameters/);
    });

    it('reports a key listed in CacheKeyParameters but not declared in RequestParameters', () => {
      const t = api();
      delete t.Resources.ListMethod.Properties.RequestParameters['method.request.header.Authorization'];
      const f = checkRules('fx', 'catalog-service', t);
      assert.deepEqual(brief(f), ['catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY']);
      assert.match(f[0]!.message, /missing from RequestParameters;/);
    });

    it("takes the identity from a REQUEST authorizer's sources and from AWS_IAM; an open method needs If-None-Match only", () => {
      const t = api(['method.request.header.If-None-Match']);
      Object.assign(t.Resources.Auth.Properties, { Type: 'REQUEST', IdentitySource: 'method.request.header.X-Tenant, method.request.querystring.key, context.sourceIp' });
      assert.deepEqual(rules(t), ['catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY', 'catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY']);
      Object.assign(t.Resources.ListMethod.Properties, { AuthorizationType: 'AWS_IAM', AuthorizerId: undefined });
      assert.deepEqual(rules(t), ['catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY']);
      t.Resources.ListMethod.Properties.AuthorizationType = 'NONE';
      assert.deepEqual(rules(t), []);
    });

    it('follows what the stage caches: nothing without a cache cluster, GET by default, a method setting either way', () => {
      const bare = api([]);
      bare.Resources.Stage.Properties.CacheClusterEnabled = false;
      assert.deepEqual(rules(bare), [], 'no cache cluster');
      bare.Resources.Stage.Properties = { RestApiId: { Ref: 'Api' }, CacheClusterEnabled: true };
      assert.deepEqual(rules(bare), ['catalog-service ListMethod CAT_API_CACHE_KEY_IDENTITY', 'catalog-service ListMethod CAT_API_CACHE_KEY_CONDITIONAL'], 'GET only, by default');
      bare.Resources.Stage.Properties.MethodSettings = [{ ResourcePath: '/~1datasets', HttpMethod: 'GET', CachingEnabled: false }, { ResourcePath: '/*', HttpMethod: 'POST', CachingEnabled: true }];
      assert.deepEqual(rules(bare), ['catalog-service CreateMethod CAT_API_CACHE_KEY_IDENTITY', 'catalog-service CreateMethod CAT_API_CACHE_KEY_CONDITIONAL'], 'a setting turns a method off or on');
    });
  });

  it('reports wildcard IAM actions', () => {
    const t = structuredClone(fixtureEnvironment()['catalog-service.json']) as Obj;
    t.Resources.CheckRole.Properties.Policies[0].PolicyDocument.Statement[0].Action = ['logs:*'];
    assert.deepEqual(brief(checkRules('fx', 'catalog-service', t)), ['catalog-service CheckRole CAT_IAM_WILDCARD_ACTION']);
  });
});

describe('validate: suppressions', () => {
  it('collects them from resource Metadata and reports one without a reason or at template level', () => {
    const t = structuredClone(fixtureEnvironment()['catalog-service.json']) as Obj;
    t.Resources.PollerRole.Metadata = { 'cfn-lint': { config: { ignore_checks: ['W3005', 'E3012'] }, reasons: { W3005: 'explicit ordering' } } };
    t.Metadata = { 'cfn-lint': { config: { ignore_checks: ['E3012'] } } };
    const { suppressions, findings } = collectSuppressions('fx', 'catalog-service', t);
    assert.ok(suppressions.some((s) => s.resource === 'PollerRole' && s.tool === 'cfn-lint' && s.rule === 'W3005' && s.reason === 'explicit ordering'));
    assert.deepEqual(brief(findings), ['catalog-service Metadata SUPPRESSION_NOT_ON_RESOURCE', 'catalog-service PollerRole SUPPRESSION_WITHOUT_REASON']);
    const md = suppressionsMarkdown(suppressions, ['fx']);
    assert.match(md, /\| catalog-service \| PollerRole \| cfn-lint \| W3005 \| all \| explicit ordering \|/);
  });
});

describe('validate: tool output parsers', () => {
  const files = [{ env: 'dev', stack: 'catalog-storage', path: '/t/dev/catalog-storage.json', region: 'us-east-1' }];

  it('parses cfn-lint JSON into findings with the logical id', () => {
    const out = JSON.stringify([
      { Filename: '/t/dev/catalog-storage.json', Level: 'Error', Message: 'bad\n  thing', Location: { Path: ['Resources', 'Database', 'Properties'] }, Rule: { Id: 'E3012' } },
      { Filename: '/t/dev/catalog-storage.json', Level: 'Informational', Message: 'hint', Location: { Path: ['Outputs', 'DbHost'] }, Rule: { Id: 'I3042' } },
    ]);
    assert.deepEqual(parseCfnLintOutput(out, files), [
      { env: 'dev', stack: 'catalog-storage', resource: 'Database', checker: 'cfn-lint', rule: 'E3012', severity: 'error', message: 'bad thing' },
      { env: 'dev', stack: 'catalog-storage', resource: 'Outputs.DbHost', checker: 'cfn-lint', rule: 'I3042', severity: 'info', message: 'hint' },
    ]);
    assert.throws(() => parseCfnLintOutput('Traceback…', files), ToolError);
  });

  it('parses checkov JSON, single report, list of reports or bare summary', () => {
    const report = {
      check_type: 'cloudformation',
      results: { failed_checks: [{ check_id: 'CKV_AWS_16', check_name: 'encrypted', file_abs_path: '/t/dev/catalog-storage.json', resource: 'AWS::RDS::DBInstance.Database' }] },
      summary: { checkov_version: '3.3.30' },
    };
    const expected = { findings: [{ env: 'dev', stack: 'catalog-storage', resource: 'Database', checker: 'checkov', rule: 'CKV_AWS_16', severity: 'error', message: 'encrypted' }], version: '3.3.30' };
    assert.deepEqual(parseCheckovOutput(JSON.stringify(report), files), expected);
    assert.deepEqual(parseCheckovOutput(JSON.stringify([report]), files), expected);
    assert.deepEqual(parseCheckovOutput(JSON.stringify({ passed: 0, failed: 0 }), files), { findings: [] });
  });
});

describe('validate: report and printers', () => {
  const findings: Finding[] = [
    { env: 'prod', stack: 'catalog-service', resource: 'Fn', checker: 'checkov', rule: 'CKV_AWS_45', severity: 'error', message: 'secret' },
    { env: 'dev', stack: 'catalog-storage', resource: 'Db', checker: 'cfn-lint', rule: 'W1', severity: 'warning', message: 'warn' },
    { env: 'dev', stack: 'catalog-network', resource: 'Vpc', checker: 'cfn-lint', rule: 'I1', severity: 'info', message: 'fyi' },
  ];
  const report = buildReport({
    envs: ['dev', 'prod'],
    files: ['dev/catalog-network.json'],
    runs: [
      { checker: 'cfn-lint', findings: findings.slice(1), durationMs: 10 },
      { checker: 'checkov', findings: findings.slice(0, 1), durationMs: 20, version: '3.3.30' },
    ],
    suppressions: [],
    durationMs: 1234,
  });

  it('groups findings by env and stack, prints one line each and a summary with counts per checker', () => {
    assert.equal(report.ok, false);
    assert.equal(
      formatText(report),
      [
        'dev/catalog-network Vpc I1 fyi (info)',
        '',
        'dev/catalog-storage Db W1 warn',
        '',
        'prod/catalog-service Fn CKV_AWS_45 secret',
        '',
        'validate: 2 envs (dev, prod), 1 templates: 2 findings [config 0, invariants 0, rules 0, suppressions 0, cfn-lint 1, checkov 1, asl 0, state-machine 0], 1 info, 0 suppressions, 1.2s',
        '',
      ].join('\n'),
    );
    assert.deepEqual(JSON.parse(formatJson(report)), report);
  });

  it('is ok with only informational findings', () => {
    const r = buildReport({ envs: ['dev'], files: [], runs: [{ checker: 'cfn-lint', findings: findings.slice(2), durationMs: 1 }], suppressions: [], durationMs: 1 });
    assert.equal(r.ok, true);
    assert.match(formatSummary(r), /: clean \[/);
  });

  it('turns an env file error into a config finding naming the key', () => {
    assert.deepEqual(configFinding('prod', 'envs/prod.yaml:14:7 api.cache.sizeGb: must be one of 0.5, 1.6'), {
      env: 'prod',
      stack: 'env',
      resource: 'api.cache.sizeGb',
      checker: 'config',
      rule: 'ENV_SCHEMA',
      severity: 'error',
      message: 'envs/prod.yaml:14:7 api.cache.sizeGb: must be one of 0.5, 1.6',
    });
  });
});

describe('validate: external tools', () => {
  it('fails with the install command when a tool is missing', async () => {
    await assert.rejects(findTool('checkov', ['/nonexistent/.venv']), (e: unknown) => e instanceof ToolError && /scripts\/setup-python\.sh/.test(e.message));
  });

  it('runs cfn-lint and checkov over the fixture and finds it clean', async function () {
    this.timeout(60_000);
    const report = await validateRendered([{ name: 'fx', config: FIXTURE_CONFIG, rendered: fixtureEnvironment() }], {
      checkers: ['rules', 'suppressions', 'cfn-lint', 'checkov', 'asl', 'state-machine'],
    });
    assert.deepEqual(report.findings, []);
    assert.equal(report.ok, true);
    assert.equal(report.checkers.checkov.version, '3.3.30');
    assert.equal(report.suppressions.length, 11);
  });
});
