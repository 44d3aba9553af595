/**
 * validate's cross-check of release_state_machine.json against catalog-service, on the real
 * rendered dev env: clean as rendered, and each defect it exists for reported with its rule.
 */
import { strict as assert } from 'node:assert';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { renderEnvironment } from '../../src/templates/index.ts';
import { checkAsl } from '../../src/validate/asl.ts';
import { plainFiles, validateRendered } from '../../src/validate/index.ts';
import { alarmNamesOf, checkReleaseStateMachine } from '../../src/validate/release-state-machine.ts';
import type { Finding } from '../../src/validate/report.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const brief = (fs: Finding[]): string[] => fs.map((f) => `${f.stack} ${f.resource} ${f.rule}`);

describe('validate: release state machine ↔ catalog-service cross-check', () => {
  let config: EnvConfig;
  let rendered: () => Obj;
  before(async () => {
    config = await loadEnv('dev');
    const base = plainFiles(renderEnvironment(config));
    rendered = () => structuredClone(base) as Obj;
  });
  const check = (r: Obj, c: EnvConfig = config) => checkReleaseStateMachine('dev', r['release_state_machine.json'], r['catalog-service.json'], c, alarmNamesOf(r['catalog-observability.json']));
  const statements = (r: Obj): Obj[] => r['catalog-service.json'].Resources.ReleaseRole.Properties.Policies[0].PolicyDocument.Statement;

  it('is clean as rendered, for every env, and asl-validator accepts the definition', async () => {
    for (const env of ['dev', 'staging', 'prod']) {
      const c = await loadEnv(env);
      const r = plainFiles(renderEnvironment(c)) as Obj;
      assert.deepEqual(checkReleaseStateMachine(env, r['release_state_machine.json'], r['catalog-service.json'], c, alarmNamesOf(r['catalog-observability.json'])), [], env);
      assert.deepEqual(checkAsl(env, r['release_state_machine.json'], { region: c.account.region, account: c.account.id }, 'release_state_machine'), [], env);
    }
    assert.deepEqual(alarmNamesOf(rendered()['catalog-observability.json']).length, 8);
  });

  it('reports a role that may do more than the release needs, or on more than this env', () => {
    const r = rendered();
    statements(r).push({ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: '*' });
    statements(r)[0]!.Resource.push({ 'Fn::GetAtt': ['MigrateFunction', 'Arn'] });
    statements(r)[2]!.Resource = '*';
    statements(r)[4]!.Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::another-bucket/*' };
    assert.deepEqual(brief(check(r)), [
      'catalog-service ReleaseRole RSM_ROLE_SCOPE',
      'catalog-service ReleaseRole RSM_ROLE_SCOPE',
      'catalog-service ReleaseRole RSM_ROLE_SCOPE',
      'catalog-service ReleaseRole RSM_ROLE_EXTRA',
    ]);
    assert.deepEqual(
      check(r).map((f) => f.message.replace(/: .*/, '')),
      ['lambda:updatealias', 'cloudwatch:describealarms', 's3:putobject', 'the release role may lambda:InvokeFunction, which no state calls'],
    );
  });

  it('reports an action a state calls that the role may not, and a task the release does not need', () => {
    const r = rendered();
    const s = statements(r);
    s.splice(s.findIndex((x) => x.Action === 'apigateway:PATCH'), 1);
    const def = r['release_state_machine.json'];
    def.States['Gate.ReadAlarms'].Resource = 'arn:aws:states:::lambda:invoke';
    r['catalog-service.json'].Resources.ReleaseStateMachine.Properties.DefinitionString = JSON.stringify(def);
    assert.deepEqual(brief(check(r)), [
      'release_state_machine Gate.ReadAlarms RSM_UNKNOWN_TASK',
      'catalog-service ReleaseRole RSM_ROLE_EXTRA',
      'catalog-service ReleaseRole RSM_ROLE_CANNOT',
    ]);
  });

  it('reports a deployed definition that differs from the file, records written elsewhere, and a missing machine', () => {
    const r = rendered();
    r['release_state_machine.json'].States.Unlock.Parameters.Bucket = 'someone-elses-bucket';
    assert.deepEqual(brief(check(r)), ['catalog-service ReleaseStateMachine RSM_DEFINITION_MISMATCH', 'release_state_machine Unlock RSM_RECORD_PLACE']);
    const gone = rendered();
    delete gone['catalog-service.json'].Resources.ReleaseStateMachine;
    assert.deepEqual(brief(check(gone)), ['catalog-service - RSM_MISSING']);
  });

  it("reports a cache env whose definition does not flush after a stage PATCH or whose role may not flush, or flushes more than its stage's cache; a flush where there is no cache", async () => {
    const staging = await loadEnv('staging');
    const base = plainFiles(renderEnvironment(staging));
    const fresh = () => structuredClone(base) as Obj;
    const checkStaging = (r: Obj) => checkReleaseStateMachine('staging', r['release_state_machine.json'], r['catalog-service.json'], staging, alarmNamesOf(r['catalog-observability.json']));
    const redeploy = (r: Obj) => (r['catalog-service.json'].Resources.ReleaseStateMachine.Properties.DefinitionString = JSON.stringify(r['release_state_machine.json']));
    const flushStatement = (r: Obj) => statements(r).findIndex((x) => x.Action === 'apigateway:DELETE');
    assert.deepEqual(checkStaging(fresh()), []);

    const cannot = fresh();
    statements(cannot).splice(flushStatement(cannot), 1);
    assert.deepEqual(check(cannot, staging).map((f) => [f.rule, f.message]), [['RSM_ROLE_CANNOT', 'the release role may not apigateway:delete, which Restore.Flush, Stage.Flush calls']]);

    const wide = fresh();
    statements(wide)[flushStatement(wide)]!.Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestApi}/*' };
    assert.deepEqual(brief(checkStaging(wide)), ['catalog-service ReleaseRole RSM_ROLE_SCOPE']);

    const skipped = fresh();
    skipped['release_state_machine.json'].States['Stage.Moved'].Next = 'Step.Load';
    redeploy(skipped);
    assert.deepEqual(checkStaging(skipped).map((f) => [f.resource, f.rule, f.message]), [['Stage.Forward', 'RSM_CACHE_FLUSH', "api.cache is enabled, but nothing flushes the stage's cache after Stage.Forward changes its variables"]]);

    // dev has no cache: a flush there is refused, and its role could not make it anyway.
    const dev = rendered();
    dev['release_state_machine.json'].States['Restore.Stage'].Next = 'Restore.Flush';
    dev['release_state_machine.json'].States['Restore.Flush'] = { ...fresh()['release_state_machine.json'].States['Restore.Flush'], Next: 'Restore.Done?', Catch: undefined };
    redeploy(dev);
    assert.deepEqual(brief(check(dev)), ['release_state_machine Restore.Flush RSM_CACHE_FLUSH', 'catalog-service ReleaseRole RSM_ROLE_CANNOT']);
  });

  it('reports release.shift: aws with bakes one execution history cannot hold; validate lists it under the env file', async () => {
    const long = { ...config, release: { ...config.release, shift: 'aws' as const, bakeSeconds: 86_400, alarmPollSeconds: 1 } };
    assert.deepEqual(brief(check(rendered(), long)), ['env release.shift RSM_HISTORY_BUDGET']);
    assert.deepEqual(check(rendered(), { ...config, release: { ...config.release, shift: 'aws' } }), []);
    const report = await validateRendered([{ name: 'dev', config: long, rendered: renderEnvironment(config) }], { checkers: ['state-machine'] });
    assert.match(report.findings[0]!.message, /^release\.shift is aws, but 3 steps with 86400 s bakes polled every 1 s need about \d+ history events/);
  });
});
