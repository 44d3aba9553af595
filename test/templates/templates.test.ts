import { strict as assert } from 'node:assert';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { FUNCTION_NAMES } from '../../src/config/types.ts';
import { isPlaceholder } from '../../src/deploy/secrets.ts';
import { AUTHORIZER_METRICS } from '../../src/handlers/authorizer/metrics.ts';
import { X509Certificate } from 'node:crypto';
import { rdsCaFor } from '../../src/handlers/shared/rds-ca.ts';
import { buildTemplates, codeKeyParameter, renderEnvironment } from '../../src/templates/index.ts';
import { checkInvariants } from '../../src/templates/invariants.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';

type Res = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; Metadata?: unknown };
type Tpl = { Parameters: Record<string, { Default?: unknown }>; Resources: Record<string, Res>; Outputs: Record<string, unknown>; Transform?: string };

const envs: Record<string, EnvConfig> = {};
const rendered = (env: string) => JSON.parse(JSON.stringify(renderEnvironment(envs[env]!))) as Record<string, Tpl>;
const stack = (env: string, name: string) => rendered(env)[`catalog-${name}.json`]!;
const byType = (t: Tpl, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);

describe('templates', () => {
  before(async () => {
    for (const e of ['dev', 'staging', 'prod']) envs[e] = await loadEnv(e);
  });

  it('pass every invariant in every env', () => {
    for (const e of Object.keys(envs)) assert.deepEqual(checkInvariants(rendered(e), envs[e]), [], e);
  });

  it('differ per env as the env files say: Multi-AZ, replicas, cache, provisioned concurrency', () => {
    const db = (e: string) => stack(e, 'storage').Resources.Database!.Properties;
    assert.deepEqual(['dev', 'staging', 'prod'].map((e) => db(e).MultiAZ), [false, true, true]);
    assert.deepEqual(['dev', 'staging', 'prod'].map((e) => byType(stack(e, 'storage'), 'AWS::RDS::DBInstance').length), [1, 1, 2]);
    const apiStage = (e: string) => stack(e, 'service').Resources.ApiStage!.Properties;
    assert.deepEqual(['dev', 'staging', 'prod'].map((e) => apiStage(e).CacheClusterEnabled), [false, true, true]);
    assert.deepEqual(['dev', 'staging', 'prod'].map((e) => stack(e, 'service').Parameters.ApiCacheSize!.Default), ['0.5', '0.5', '1.6']);
    assert.deepEqual(['dev', 'staging', 'prod'].map((e) => stack(e, 'service').Parameters.LambdaProvisionedConcurrency!.Default), [0, 5, 20]);
    assert.equal(stack('prod', 'storage').Resources.Database!.DeletionPolicy, 'Snapshot');
    assert.equal(stack('dev', 'storage').Resources.Database!.DeletionPolicy, 'Delete');
    assert.ok(stack('prod', 'observability').Resources.ReplicaLagAlarm);
    assert.equal(stack('dev', 'observability').Resources.ReplicaLagAlarm, undefined);
  });

  it('carry the seed parameter table as constrained parameters with env defaults', () => {
    const p = { ...stack('prod', 'storage').Parameters, ...stack('prod', 'service').Parameters } as Record<string, Record<string, unknown>>;
    assert.equal(p.DBInstanceClass!.Default, 'db.r6g.large');
    assert.equal(p.DBAllocatedStorage!.Default, 200);
    assert.equal(p.ApiThrottlingRate!.Default, 2000);
    assert.equal(p.ApiThrottlingBurst!.Default, 500);
    assert.ok(Array.isArray(p.ApiCacheSize!.AllowedValues));
    assert.equal(p.SubnetIds!.Type, 'List<AWS::EC2::Subnet::Id>');
    for (const fn of FUNCTION_NAMES) assert.ok(p[codeKeyParameter(fn)], fn);
    assert.equal(JSON.stringify(rendered('prod')).includes('ImportValue'), false, 'no Fn::ImportValue');
  });

  it('give every function its own role, the seed env vars, and secrets only as ARNs', () => {
    const svc = stack('prod', 'service');
    const fns = byType(svc, 'AWS::Lambda::Function');
    assert.equal(fns.length, FUNCTION_NAMES.length);
    const roles = new Set(fns.map(([, f]) => JSON.stringify(f.Properties.Role)));
    assert.equal(roles.size, fns.length);
    const list = svc.Resources.ListDatasetsFunction!.Properties;
    const vars = (list.Environment as { Variables: Record<string, unknown> }).Variables;
    // The seed's list, but DB_USER: multi-user rotation alternates the user, which the functions take from the secret.
    for (const k of ['DB_HOST', 'DB_NAME', 'EVIDENCE_BUS_ARN', 'READ_PAGE_LIMIT', 'CACHE_TTL_SEC', 'DRR_INTEGRATION', 'AUDIT_ASYNC', 'DB_MAX_CONN', 'DB_SECRET_ARN']) assert.ok(k in vars, k);
    assert.deepEqual([list.MemorySize, list.Timeout], [1024, 20]);
    assert.ok(!JSON.stringify(svc).match(/"DB_PASSWORD"/));
    assert.equal(byType(svc, 'AWS::Lambda::Alias').length, 4);
  });

  it('key every cached method on the caller (Authorization) and on If-None-Match, declared on the method, in every env that caches', () => {
    const caller = ['method.request.header.Authorization', 'method.request.header.If-None-Match'];
    for (const e of Object.keys(envs)) {
      const svc = stack(e, 'service');
      const pathOf = (ref: unknown): string => {
        const id = (ref as { Ref?: string }).Ref;
        if (!id) return '';
        const p = svc.Resources[id]!.Properties;
        return `${pathOf(p.ParentId)}/${String(p.PathPart)}`;
      };
      const stage = svc.Resources.ApiStage!.Properties as { CacheClusterEnabled: boolean; MethodSettings: { ResourcePath: string; HttpMethod: string; CachingEnabled?: boolean }[] };
      const cached = stage.MethodSettings.filter((m) => m.CachingEnabled === true).map((m) => `${m.HttpMethod} ${m.ResourcePath.slice(1).replace(/~1/g, '/')}`);
      // staging and prod cache both GET routes; dev caches nothing.
      assert.deepEqual(cached.sort(), stage.CacheClusterEnabled ? ['GET /storage/v1/catalog/datasets', 'GET /storage/v1/catalog/datasets/{id}'] : [], e);
      const methods = byType(svc, 'AWS::ApiGateway::Method').map(([id, m]) => ({ id, route: `${String(m.Properties.HttpMethod)} ${pathOf(m.Properties.ResourceId)}`, p: m.Properties as { RequestParameters?: Record<string, boolean>; Integration: { CacheKeyParameters?: string[] } } }));
      for (const route of cached) {
        const m = methods.find((x) => x.route === route);
        assert.ok(m, `${e}: no method for cached ${route}`);
        for (const k of caller) {
          assert.ok(m.p.Integration.CacheKeyParameters?.includes(k), `${e} ${m.id}: ${k} not in CacheKeyParameters`);
          assert.equal(m.p.RequestParameters?.[k], false, `${e} ${m.id}: ${k} not declared (optional) in RequestParameters`);
        }
      }
      // The GET routes key on the caller in every env, so turning the cache on changes nothing else.
      for (const m of methods.filter((x) => x.route.startsWith('GET '))) assert.deepEqual(caller.filter((k) => !m.p.Integration.CacheKeyParameters?.includes(k)), [], `${e} ${m.id}`);
    }
  });

  it('give each function exactly the variables its handler reads: no Node options, no DB_USER, the master secret to migrate only, the replicas to the readers only', () => {
    const env = (e: string, id: string) => (stack(e, 'service').Resources[id]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const db = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_SECRET_ARN', 'DB_MAX_CONN'];
    const app = ['READ_PAGE_LIMIT', 'CACHE_TTL_SEC', 'DRR_INTEGRATION', 'AUDIT_ASYNC', 'LOG_SUCCESS_SAMPLE_RATE', 'EVIDENCE_BUS_ARN'];
    for (const e of Object.keys(envs)) {
      const reader = envs[e]!.database.readReplicas > 0 ? ['DB_READER_HOST'] : [];
      // Where the env has RDS Proxy, the app's connections go through it as the IAM user migrate creates.
      const proxied = envs[e]!.database.proxy?.enabled ? ['DB_PROXY_HOST', 'DB_IAM_USER'] : [];
      const expected: Record<string, string[]> = {
        ListDatasetsFunction: [...db, ...proxied, ...reader, ...app],
        GetDatasetFunction: [...db, ...proxied, ...reader, ...app],
        WriteDatasetFunction: [...db, ...proxied, ...app, 'STATE_MACHINE_ARN'],
        AuthorizerFunction: ['JWT_JWKS_URI', 'JWT_ISSUER', 'JWT_AUDIENCE'],
        CheckCatalogStatusFunction: ['EXTERNAL_API_BASE_URL', 'TOKEN_SECRET_ARN'],
        UpdateCatalogDbFunction: [...db, ...proxied],
        MigrateFunction: [...db, 'DB_MASTER_SECRET_ARN', ...(proxied.length ? ['DB_IAM_USER'] : [])],
        AuditRelayFunction: [...db, ...proxied, 'EVIDENCE_BUS_ARN'],
      };
      for (const [id, keys] of Object.entries(expected)) assert.deepEqual(Object.keys(env(e, id)).sort(), [...keys].sort(), `${e} ${id}`);
      assert.deepEqual(env(e, 'MigrateFunction').DB_MASTER_SECRET_ARN, { Ref: 'DbMasterSecretArn' });
      if (reader.length) assert.deepEqual(env(e, 'ListDatasetsFunction').DB_READER_HOST, { Ref: 'DbReadReplicaAddresses' });
    }
  });

  it("let migrate read the master secret, decrypted only through Secrets Manager, and no other function", () => {
    for (const e of Object.keys(envs)) {
      const svc = stack(e, 'service');
      const statements = (role: string) => (svc.Resources[role]!.Properties.Policies as { PolicyDocument: { Statement: Record<string, unknown>[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
      const migrate = statements('MigrateRole');
      assert.ok(migrate.some((st) => st.Action === 'secretsmanager:GetSecretValue' && JSON.stringify(st.Resource) === '{"Ref":"DbMasterSecretArn"}'), e);
      assert.deepEqual(
        migrate.filter((st) => JSON.stringify(st.Resource) === '{"Ref":"DbKmsKeyArn"}'),
        [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: { Ref: 'DbKmsKeyArn' }, Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' } } } }],
        e,
      );
      for (const [role] of byType(svc, 'AWS::IAM::Role').filter(([id]) => id !== 'MigrateRole')) assert.ok(!/DbMasterSecretArn|DbKmsKeyArn/.test(JSON.stringify(svc.Resources[role])), `${e} ${role}`);
    }
  });

  it('keep traffic moves out of change sets: aliases and stage follow Live* parameters; stage variables belong to release', () => {
    const svc = stack('dev', 'service');
    const alias = svc.Resources.ListDatasetsLiveAlias!.Properties;
    assert.deepEqual(alias.FunctionVersion, { 'Fn::If': ['HasLiveVersionListDatasets', { Ref: 'LiveVersionListDatasets' }, { 'Fn::GetAtt': ['ListDatasetsBootstrapVersion', 'Version'] }] });
    assert.equal(alias.RoutingConfig, undefined);
    assert.deepEqual(svc.Resources.ApiStage!.Properties.DeploymentId, { 'Fn::If': ['HasLiveDeploymentId', { Ref: 'LiveDeploymentId' }, { Ref: 'BootstrapDeployment' }] });
    // A stack update would otherwise put the env file's feature flags on the stage outside a release, or undo a rollback's.
    for (const env of ['dev', 'staging', 'prod']) assert.equal(stack(env, 'service').Resources.ApiStage!.Properties.Variables, undefined, env);
    for (const k of ['RestApiId', 'StageName', 'StateMachineArn', 'FunctionNameListDatasets']) assert.ok(svc.Outputs[k], k);
    assert.ok(stack('dev', 'observability').Outputs.AlarmNames);
  });

  it("flush the stage's API cache after release and rollback change its variables only where the env has a cache, and the role may flush only that stage's cache", () => {
    type Statement = { Action: string; Resource: unknown };
    for (const e of ['dev', 'staging', 'prod']) {
      const role = stack(e, 'service').Resources.ReleaseRole!.Properties as { Policies: { PolicyDocument: { Statement: Statement[] } }[] };
      const deletes = role.Policies.flatMap((p) => p.PolicyDocument.Statement).filter((st) => JSON.stringify(st.Action).includes('apigateway:DELETE'));
      const def = rendered(e)['release_state_machine.json'] as unknown as { States: Record<string, { Type: string; Resource?: string; Next?: string; Parameters?: unknown }> };
      const flushes = Object.entries(def.States).filter(([, st]) => st.Resource === 'arn:aws:states:::aws-sdk:apigateway:flushStageCache');
      if (!envs[e]!.api.cache.enabled) {
        assert.deepEqual([deletes, flushes], [[], []], e);
        continue;
      }
      assert.deepEqual(deletes, [{ Effect: 'Allow', Action: 'apigateway:DELETE', Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestApi}/stages/${ApiStage}/cache/data' } }], e);
      assert.deepEqual(flushes.map(([name, st]) => [name, st.Parameters]).sort(), [
        ['Restore.Flush', { 'RestApiId.$': '$.stage.RestApiId', 'StageName.$': '$.stage.StageName' }],
        ['Stage.Flush', { 'RestApiId.$': '$.stage.RestApiId', 'StageName.$': '$.stage.StageName' }],
      ], e);
      // After the PATCH forward (once the stage is marked moved) and the PATCH back, each behind its flag.
      assert.deepEqual([def.States['Stage.Moved']!.Next, def.States['Restore.Stage']!.Next], ['Stage.Flush?', 'Restore.Flush?'], e);
      // A failed flush goes on with the shift, or with the end of the restore.
      assert.deepEqual([def.States['Stage.FlushFailed']!.Next, def.States['Restore.FlushFailed']!.Next], ['Step.Load', 'Restore.Done?'], e);
    }
  });

  it("gate releases on the authorizer's own AuthorizerFailures, never on its Lambda Errors (every rejected token)", () => {
    for (const e of Object.keys(envs)) {
      const obs = stack(e, 'observability');
      assert.equal(obs.Resources.AuthorizerErrorsAlarm, undefined, e);
      assert.deepEqual(obs.Resources.AuthorizerFailuresAlarm!.Properties, {
        AlarmName: `catalog-${e}-authorizer-failures`,
        AlarmDescription: 'authorizer could not decide (JWKS unreachable or invalid, settings missing, a crash); rejected tokens do not count',
        ActionsEnabled: true,
        AlarmActions: [{ Ref: 'NotificationTopic' }],
        OKActions: [{ Ref: 'NotificationTopic' }],
        TreatMissingData: 'notBreaching',
        Namespace: AUTHORIZER_METRICS.namespace,
        MetricName: AUTHORIZER_METRICS.failures,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'FunctionNameAuthorizer' } }],
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: envs[e]!.alarms.evaluationMinutes,
        DatapointsToAlarm: 2,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      const gating = (obs.Outputs.AlarmNames as { Value: { 'Fn::Join': [string, string[]] } }).Value['Fn::Join'][1];
      assert.ok(gating.includes(`catalog-${e}-authorizer-failures`), e);
      assert.ok(!gating.some((n) => n.includes('authorizer-errors')), e);
      // Nothing watches Lambda's Errors for the authorizer, in alarms or on the dashboard.
      for (const [id, r] of byType(obs, 'AWS::CloudWatch::Alarm')) assert.ok(!(r.Properties.MetricName === 'Errors' && JSON.stringify(r.Properties.Dimensions).includes('FunctionNameAuthorizer')), `${e} ${id}`);
      const body = (obs.Resources.Dashboard!.Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub'];
      assert.ok(!body.includes('"Errors","FunctionName","${FunctionNameAuthorizer}"'), e);
      assert.ok(body.includes(`"${AUTHORIZER_METRICS.namespace}","${AUTHORIZER_METRICS.failures}","FunctionName","\${FunctionNameAuthorizer}"`), e);
    }
  });

  it('deliver every audit event on the bus to an encrypted log group verify reads, through a resource policy for that rule only', () => {
    for (const e of Object.keys(envs)) {
      const svc = stack(e, 'service');
      const group = svc.Resources.AuditLogGroup!.Properties;
      assert.deepEqual([group.LogGroupName, group.RetentionInDays, group.KmsKeyId], [`/aws/events/catalog-${e}-audit`, envs[e]!.logging.retentionDays, { Ref: 'SecretsKmsKeyArn' }], e);
      const rule = svc.Resources.AuditLogRule!.Properties as { EventBusName: unknown; EventPattern: unknown; Targets: Record<string, unknown>[] };
      assert.deepEqual(rule.EventBusName, { Ref: 'AuditBus' });
      assert.deepEqual(rule.EventPattern, { source: ['catalog.service'] });
      // The group's ARN without the ':*' its Arn attribute ends in, and no role: CloudWatch Logs targets take none.
      assert.deepEqual(rule.Targets, [{ Id: 'audit-log-group', Arn: { 'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${AuditLogGroup}' } }]);
      const policy = svc.Resources.AuditLogResourcePolicy!.Properties as { PolicyName: string; PolicyDocument: { 'Fn::Sub': string } };
      assert.equal(policy.PolicyName, `catalog-${e}-audit-events`, 'one per env: resource policies are account-wide, 10 per region');
      const doc = JSON.parse(policy.PolicyDocument['Fn::Sub']) as { Statement: { Principal: { Service: string[] }; Action: string; Resource: string; Condition?: unknown }[] };
      const streams = 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${AuditLogGroup}:*';
      assert.deepEqual(
        doc.Statement.map((st) => [st.Principal.Service, st.Action, st.Resource, st.Condition]),
        [
          [['events.amazonaws.com', 'delivery.logs.amazonaws.com'], 'logs:CreateLogStream', streams, undefined],
          [['events.amazonaws.com', 'delivery.logs.amazonaws.com'], 'logs:PutLogEvents', streams, { ArnEquals: { 'aws:SourceArn': '${AuditLogRule.Arn}' } }],
        ],
      );
      assert.deepEqual(svc.Outputs.AuditLogGroupName, { Description: 'Log group every audit event on the bus is delivered to (catalogctl verify reads it)', Value: { Ref: 'AuditLogGroup' } });
      // The secrets key lets CloudWatch Logs use it, or the encrypted group could not be written.
      const key = stack(e, 'secrets').Resources.SecretsKey!.Properties as { KeyPolicy: { Statement: { Principal: { Service?: unknown[] }; Action: string[] }[] } };
      const logs = key.KeyPolicy.Statement.find((st) => JSON.stringify(st.Principal.Service ?? []).includes('logs.${AWS::Region}.amazonaws.com'));
      assert.ok(logs && ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*'].every((a) => logs.Action.includes(a)), e);
    }
  });

  it('give the secret rotation function a route to every API it calls and to the database, and nothing else', () => {
    for (const e of Object.keys(envs)) {
      const net = stack(e, 'network');
      const gid = (id: string) => ({ 'Fn::GetAtt': [id, 'GroupId'] });
      // The hosted PostgreSQLMultiUser function calls Secrets Manager (Describe/Get/PutSecretValue,
      // GetRandomPassword, UpdateSecretVersionStage) and, for an RDS-managed master secret, RDS
      // DescribeDBInstances; KMS is called by Secrets Manager on its behalf. No NAT: endpoints only.
      for (const [id, service] of [['SecretsManagerEndpoint', 'secretsmanager'], ['RdsEndpoint', 'rds']] as const) {
        const p = net.Resources[id]!.Properties;
        assert.deepEqual([p.ServiceName, p.VpcEndpointType, p.PrivateDnsEnabled, p.SecurityGroupIds], [{ 'Fn::Sub': `com.amazonaws.\${AWS::Region}.${service}` }, 'Interface', true, [gid('EndpointSecurityGroup')]], `${e} ${id}`);
        assert.deepEqual(p.SubnetIds, [{ Ref: 'PrivateSubnetA' }, { Ref: 'PrivateSubnetB' }], `${e} ${id}`);
      }
      assert.equal(byType(net, 'AWS::EC2::NatGateway').length + byType(net, 'AWS::EC2::InternetGateway').length, 0, e);
      assert.deepEqual(
        (net.Resources.RotationSecurityGroup!.Properties.SecurityGroupEgress as Record<string, unknown>[]).map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.DestinationSecurityGroupId, r.CidrIp]),
        [
          ['tcp', 443, 443, gid('EndpointSecurityGroup'), undefined],
          ['tcp', 5432, 5432, gid('DatabaseSecurityGroup'), undefined],
        ],
        e,
      );
      const ingress = (id: string) => {
        const p = net.Resources[id]!.Properties;
        return [p.GroupId, p.IpProtocol, p.FromPort, p.ToPort, p.SourceSecurityGroupId];
      };
      assert.deepEqual(ingress('DatabaseIngressFromRotation'), [gid('DatabaseSecurityGroup'), 'tcp', 5432, 5432, gid('RotationSecurityGroup')], e);
      assert.deepEqual(ingress('EndpointIngressFromRotation'), [gid('EndpointSecurityGroup'), 'tcp', 443, 443, gid('RotationSecurityGroup')], e);
      assert.deepEqual(net.Outputs.RotationSecurityGroupId, { Description: 'Security group of the app DB secret rotation function', Value: gid('RotationSecurityGroup') }, e);
    }
  });

  it("keep the app DB secret in the rotation function's JSON shape, rotated from its own security group, never before migrate", () => {
    for (const e of Object.keys(envs)) {
      const sec = stack(e, 'secrets');
      const g = sec.Resources.AppDbSecret!.Properties.GenerateSecretString as { SecretStringTemplate: { 'Fn::Sub': string } };
      // As CloudFormation substitutes it: the port parameter (a Number) enters unquoted.
      const json = JSON.parse(g.SecretStringTemplate['Fn::Sub'].replace('${AppDbSecretPort}', '5432').replace(/\$\{([A-Za-z]+)\}/g, '<$1>')) as Record<string, unknown>;
      assert.deepEqual(json, { engine: 'postgres', host: '<AppDbSecretHost>', port: 5432, username: envs[e]!.database.appUsername, dbname: envs[e]!.database.databaseName, masterarn: '<AppDbSecretMasterArn>', ssl: true }, e);
      const port = sec.Parameters.AppDbSecretPort as Record<string, unknown>;
      assert.deepEqual([port.Type, port.MinValue, port.MaxValue], ['Number', 1150, 65535], e);
      const rotation = sec.Resources.AppDbSecretRotation!.Properties as { RotateImmediatelyOnUpdate: boolean; HostedRotationLambda: Record<string, unknown> };
      assert.equal(rotation.RotateImmediatelyOnUpdate, false, `${e}: the first rotation would run before migrate creates the app user`);
      assert.deepEqual(rotation.HostedRotationLambda.VpcSecurityGroupIds, { Ref: 'RotationSecurityGroupId' }, e);
      assert.equal(sec.Parameters.LambdaSecurityGroupId, undefined, e);
    }
  });

  it('carry no JWT keys secret anywhere (the JWKS is public, fetched from auth.jwksUri), and a poller token that says it is a placeholder', () => {
    for (const e of Object.keys(envs)) {
      const all = JSON.stringify(rendered(e));
      assert.ok(!/JwtKeys/.test(all), e);
      const authorizerPolicy = JSON.stringify(stack(e, 'service').Resources.AuthorizerRole!.Properties.Policies);
      assert.ok(!authorizerPolicy.includes('secretsmanager:'), `${e}: the authorizer reads no secret`);
      const g = stack(e, 'secrets').Resources.PollerTokenSecret!.Properties.GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string };
      assert.deepEqual(JSON.parse(g.SecretStringTemplate), { 'catalogctl:placeholder': `set with: catalogctl secrets set --env ${e} PollerTokenSecret` });
      // What Secrets Manager generates from it is what status recognises as never set.
      assert.equal(isPlaceholder(JSON.stringify({ ...(JSON.parse(g.SecretStringTemplate) as object), [g.GenerateStringKey]: 'x'.repeat(64) })), true, e);
    }
  });

  it('create replicas AWS accepts (no KmsKeyId or StorageEncrypted: same-region replicas inherit the key), all on a CA the zips trust, their endpoints an Output', () => {
    for (const e of Object.keys(envs)) {
      const storage = stack(e, 'storage');
      const instances = byType(storage, 'AWS::RDS::DBInstance');
      const replicas = instances.filter(([id]) => id !== 'Database');
      assert.equal(replicas.length, envs[e]!.database.readReplicas, e);
      for (const [id, r] of replicas) {
        assert.deepEqual(r.Properties.SourceDBInstanceIdentifier, { Ref: 'Database' }, `${e} ${id}`);
        assert.equal(r.Properties.KmsKeyId, undefined, `${e} ${id}`);
        assert.equal(r.Properties.StorageEncrypted, undefined, `${e} ${id}`);
      }
      // The writer is encrypted with the stack's key (unless restored: it then inherits the source's).
      const unlessRestored = (v: unknown) => ({ 'Fn::If': ['IsRestored', { Ref: 'AWS::NoValue' }, v] });
      assert.deepEqual([storage.Resources.Database!.Properties.StorageEncrypted, storage.Resources.Database!.Properties.KmsKeyId], [unlessRestored(true), unlessRestored({ Ref: 'DatabaseKey' })], e);
      // rds-ca-rsa2048-g1 on every instance, and the env's region's root of it is in the zips.
      for (const [id, r] of instances) assert.equal(r.Properties.CACertificateIdentifier, 'rds-ca-rsa2048-g1', `${e} ${id}`);
      const region = envs[e]!.account.region;
      assert.ok(rdsCaFor(region).some((pem) => new X509Certificate(pem).subject.includes(`CN=Amazon RDS ${region} Root CA RSA2048 G1`)), `${e}: no RSA2048 G1 root for ${region}`);
      const addresses = storage.Outputs.DbReadReplicaAddresses as { Value: unknown } | undefined;
      if (replicas.length === 0) assert.equal(addresses, undefined, e);
      else assert.deepEqual(addresses!.Value, { 'Fn::Join': [',', replicas.map(([id]) => ({ 'Fn::GetAtt': [id, 'Endpoint.Address'] }))] }, e);
    }
    const two = structuredClone(envs.prod!) as EnvConfig & { database: { readReplicas: number } };
    two.database.readReplicas = 2;
    const out = (renderEnvironment(two)['catalog-storage.json'] as Tpl).Outputs.DbReadReplicaAddresses as { Value: unknown };
    assert.deepEqual(out.Value, { 'Fn::Join': [',', [{ 'Fn::GetAtt': ['DatabaseReplica1', 'Endpoint.Address'] }, { 'Fn::GetAtt': ['DatabaseReplica2', 'Endpoint.Address'] }]] });
  });

  it('lets the state machine role invoke exactly its two functions', () => {
    const role = stack('dev', 'service').Resources.PollerRole!.Properties as { Policies: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } }[] };
    const invoke = role.Policies.flatMap((p) => p.PolicyDocument.Statement).filter((s) => JSON.stringify(s.Action).includes('lambda:InvokeFunction'));
    assert.deepEqual(invoke.map((s) => s.Resource), [[{ 'Fn::GetAtt': ['CheckCatalogStatusFunction', 'Arn'] }, { 'Fn::GetAtt': ['UpdateCatalogDbFunction', 'Arn'] }]]);
  });

  it('hand every reader plain JSON: no class instances, the same value a JSON round trip gives', () => {
    const classes: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (v === null || typeof v !== 'object') return;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (!Array.isArray(v) && proto !== Object.prototype) classes.push(`${path} (${(v as object).constructor.name})`);
      for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    for (const e of Object.keys(envs)) {
      const r = renderEnvironment(envs[e]!);
      walk(r, e);
      assert.deepEqual(r, JSON.parse(JSON.stringify(r)), e);
    }
    assert.deepEqual(classes, []);
  });

  it('write the same bytes from the typed objects (render) as from the plain JSON every other reader gets', () => {
    for (const e of Object.keys(envs)) {
      const typed = buildTemplates(envs[e]!) as Record<string, unknown>;
      const plain = renderEnvironment(envs[e]!) as Record<string, unknown>;
      for (const f of Object.keys(plain)) assert.equal(canonicalJson(typed[f]), canonicalJson(plain[f]), `${e} ${f}`);
    }
  });

  it('render the same bytes twice', () => {
    assert.equal(canonicalJson(renderEnvironment(envs.prod!)), canonicalJson(renderEnvironment(envs.prod!)));
  });

  describe('invariants catch defects', () => {
    const findings = (mutate: (r: Record<string, Tpl>) => void) => {
      const r = rendered('dev');
      mutate(r);
      return checkInvariants(r, envs.dev).map((f) => `${f.stack} ${f.logicalId} ${f.rule}`);
    };
    it('a * IAM action', () => {
      assert.deepEqual(findings((r) => ((r['catalog-service.json']!.Resources.MigrateRole!.Properties.Policies as { PolicyDocument: { Statement: unknown[] } }[])[0]!.PolicyDocument.Statement.push({ Effect: 'Allow', Action: 's3:*', Resource: '*' }))), ['catalog-service MigrateRole no-wildcard-action']);
    });
    it('database ingress from an address range', () => {
      assert.deepEqual(findings((r) => (r['catalog-network.json']!.Resources.DatabaseIngressFromLambda!.Properties = { GroupId: { 'Fn::GetAtt': ['DatabaseSecurityGroup', 'GroupId'] }, IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '0.0.0.0/0' })), ['catalog-network DatabaseIngressFromLambda db-ingress-from-lambda-only']);
    });
    it('a public or unencrypted database', () => {
      assert.deepEqual(findings((r) => Object.assign(r['catalog-storage.json']!.Resources.Database!.Properties, { PubliclyAccessible: true, StorageEncrypted: false })), ['catalog-storage Database db-private', 'catalog-storage Database db-encrypted']);
    });
    it('a plaintext secret in a function environment', () => {
      assert.deepEqual(findings((r) => ((r['catalog-service.json']!.Resources.MigrateFunction!.Properties.Environment as { Variables: Record<string, string> }).Variables.DB_PASSWORD = 'hunter2')), ['catalog-service MigrateFunction no-plaintext-secret']);
    });
    it('a KMS key on a same-region read replica (RDS refuses it), not on a cross-region one', () => {
      const replica = (source: unknown) => (r: Record<string, Tpl>) => {
        const storage = r['catalog-storage.json']!;
        storage.Resources.DatabaseReplica1 = { Type: 'AWS::RDS::DBInstance', Properties: { DBInstanceClass: 'db.r6g.large', PubliclyAccessible: false, SourceDBInstanceIdentifier: source, KmsKeyId: { Ref: 'DatabaseKey' } } };
      };
      assert.deepEqual(findings(replica({ Ref: 'Database' })), ['catalog-storage DatabaseReplica1 replica-inherits-key']);
      assert.deepEqual(findings(replica({ 'Fn::Sub': 'arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:catalog' })), ['catalog-storage DatabaseReplica1 replica-inherits-key']);
      assert.deepEqual(findings(replica('arn:aws:rds:eu-west-1:111111111111:db:catalog')), [], 'a cross-region replica needs a key of its own region');
    });
    it('a function variable that resolves a secret, or takes a NoEcho parameter', () => {
      const f = findings((r) => {
        const svc = r['catalog-service.json']!;
        const vars = (svc.Resources.MigrateFunction!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        vars.DB_HOST = { 'Fn::Sub': '{{resolve:secretsmanager:${AppDbSecretArn}:SecretString:host}}' };
        svc.Parameters.Hidden = { Type: 'String', NoEcho: true, Default: 'x' } as { Default: unknown };
        vars.EXTRA = { 'Fn::Join': ['', ['x', { Ref: 'Hidden' }]] };
      });
      assert.deepEqual(f, ['catalog-service MigrateFunction no-plaintext-secret', 'catalog-service MigrateFunction no-plaintext-secret']);
    });
    it('a cache key the method does not declare (API Gateway refuses it)', () => {
      const f = findings((r) => delete (r['catalog-service.json']!.Resources.ListDatasetsMethod!.Properties.RequestParameters as Record<string, boolean>)['method.request.header.If-None-Match']);
      assert.deepEqual(f, ['catalog-service ListDatasetsMethod cache-key-declared']);
    });
    it("a CloudWatch Logs target given a role, or the log group's Arn attribute", () => {
      const f = findings((r) => {
        const targets = r['catalog-service.json']!.Resources.AuditLogRule!.Properties.Targets as Record<string, unknown>[];
        Object.assign(targets[0]!, { Arn: { 'Fn::GetAtt': ['AuditLogGroup', 'Arn'] }, RoleArn: { 'Fn::GetAtt': ['EvidenceLedgerRole', 'Arn'] } });
      });
      assert.deepEqual(f, ['catalog-service AuditLogRule events-logs-target', 'catalog-service AuditLogRule events-logs-target']);
    });
    it('a dangling reference and an unwired parameter', () => {
      const f = findings((r) => {
        r['catalog-service.json']!.Resources.MigrateFunction!.Properties.Role = { 'Fn::GetAtt': ['NoSuchRole', 'Arn'] };
        r['catalog-observability.json']!.Parameters.Mystery = {};
      });
      assert.deepEqual(f, ['catalog-service MigrateFunction reference-resolves', 'catalog-observability Mystery parameter-wired']);
    });
  });
});
