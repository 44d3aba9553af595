import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, GetTemplateCommand, ListChangeSetsCommand } from '@aws-sdk/client-cloudformation';
import { createAwsApi } from '../../src/aws/index.ts';
import { STACK_NAMES, type EnvConfig } from '../../src/config/types.ts';
import type { CodeKeys } from '../../src/deploy/params.ts';
import { deployStacks } from '../../src/deploy/stacks.ts';
import { canonicalJson } from '../../src/util/canonical-json.ts';
import { CLI, runCli } from '../support/cli.ts';
import { getMoto, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';
import { fixtureTemplates, putCode, testConfig } from './stack-fixtures.ts';
import { writeEmulatorEnv } from '../support/env-files.ts';

/**
 * deploy's approval through the built CLI against the emulator (miniature stacks from
 * ./stack-fixtures.ts, given with --templates-dir; --skip-preflight: the emulator cannot answer
 * preflight's RDS and Lambda calls): `--require-approval broadening` without a terminal, and the
 * question asked on a pseudo-terminal (util-linux `script`) and answered there.
 */
describe('catalogctl deploy approval: --require-approval broadening, the question on a terminal (CLI, emulator)', function () {
  this.timeout(120_000);
  let moto: Moto;
  let dir: string;
  let config: EnvConfig;
  let cfn: CloudFormationClient;
  let keys: CodeKeys;
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const deployArgs = (...more: string[]) => ['deploy', '--env', 'dev', '--env-dir', join(dir, 'envs'), '--endpoint-url', moto.endpoint, '--templates-dir', dir, '--skip-preflight', ...more];
  const manifestOf = (k: CodeKeys) => JSON.stringify({ env: 'dev', functions: Object.fromEntries(Object.entries(k.functions).map(([fn, key]) => [fn, { key }])), layers: { pg: { key: k.layerPg } } });
  const stacks = async () => ((await cfn.send(new DescribeStacksCommand({}))).Stacks ?? []).map((s) => s.StackName!).sort();
  const describe1 = async (name: string) => (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
  const parameter = async (name: string, key: string) => (await describe1(name)).Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue;
  const pendingChangeSets = async (name: string) => (await cfn.send(new ListChangeSetsCommand({ StackName: name }))).Summaries?.filter((c) => c.ExecutionStatus !== 'EXECUTE_COMPLETE') ?? [];
  const deployedTemplate = async (name: string) => JSON.parse((await cfn.send(new GetTemplateCommand({ StackName: name }))).TemplateBody!) as { Resources: Record<string, { Properties: Record<string, unknown> }> };

  beforeEach(async () => {
    moto = await getMoto();
    await moto.reset();
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    config = await testConfig();
    cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    dir = await mkdtemp(join(tmpdir(), 'catalogctl-approval-'));
    await writeEmulatorEnv(join(dir, 'envs'));
    const templates = fixtureTemplates(config);
    for (const s of STACK_NAMES) await writeFile(join(dir, `${s}.json`), canonicalJson(templates[s]));
    keys = await putCode(moto, config, 'a');
    await writeFile(join(dir, 'manifest.json'), manifestOf(keys));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  describe('--require-approval broadening, without a terminal', () => {
    beforeEach(async () => {
      const aws = await createAwsApi({ region: moto.region, endpoint: moto.endpoint });
      await deployStacks({ config, templates: fixtureTemplates(config), codeKeys: keys }, { aws, pollMs: 0 });
    });

    it('new code (access widened nowhere) is deployed without --approve; the default any-change still needs it', async () => {
      const codeB = await putCode(moto, config, 'b', false);
      await writeFile(join(dir, 'manifest-b.json'), manifestOf(codeB));
      const artifacts = ['--artifacts', join(dir, 'manifest-b.json')];

      const asked = await runCli(deployArgs(...artifacts), { env });
      assert.equal(asked.code, 2, asked.stderr);
      assert.match(asked.stderr, /\ncatalogctl: deploy: catalog-service needs approval and there is no terminal to ask: pass --approve; nothing was changed\n$/);
      assert.equal(await parameter('catalog-service', 'CodeKeyListDatasets'), keys.functions['list-datasets']);

      const r = await runCli(deployArgs(...artifacts, '--require-approval', 'broadening'), { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, ['catalog-network: no-changes', 'catalog-storage: no-changes', 'catalog-secrets: no-changes', 'catalog-service: updated', 'catalog-observability: no-changes', ''].join('\n'));
      assert.doesNotMatch(r.stderr, /broadens access|needs approval/);
      assert.match(r.stderr, /catalog-service: updated\n/);
      const service = await describe1('catalog-service');
      assert.equal(service.StackStatus, 'UPDATE_COMPLETE');
      assert.equal(await parameter('catalog-service', 'CodeKeyListDatasets'), codeB.functions['list-datasets']);
      assert.deepEqual(await pendingChangeSets('catalog-service'), []);
    });

    it('a policy added to the functions\' role (adds IAM permissions) still needs approval: exit 2, nothing changed', async () => {
      // As the real catalog-service grants each database function its app secret (src/templates/service.ts).
      const templates = fixtureTemplates(config);
      const service = templates['catalog-service'] as { Resources: Record<string, { Properties: Record<string, unknown> }> };
      const policies = [{ PolicyName: 'read-app-db-secret', PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: 'AppDbSecretArn' } }] } }];
      service.Resources.FunctionRole!.Properties.Policies = policies;
      await writeFile(join(dir, 'catalog-service.json'), canonicalJson(service));

      const r = await runCli(deployArgs('--require-approval', 'broadening'), { env });
      assert.equal(r.code, 2, r.stderr);
      // The plan calls the broadening out, then the refusal names it.
      assert.match(r.stderr, /\ncatalog-service: 1 to change\n[^]*\n {2}broadens access: adds IAM permissions\n/);
      assert.match(r.stderr, /\ncatalogctl: deploy: catalog-service \(broadens access: catalog-service adds IAM permissions\) needs approval and there is no terminal to ask: pass --approve; nothing was changed\n$/);
      assert.doesNotMatch(r.stderr, /executing|: updated/);
      assert.equal(r.stdout, '');
      const after = await describe1('catalog-service');
      assert.equal(after.StackStatus, 'CREATE_COMPLETE');
      assert.equal((await deployedTemplate('catalog-service')).Resources.FunctionRole!.Properties.Policies, undefined);
      for (const s of STACK_NAMES) assert.deepEqual(await pendingChangeSets(s), [], `the plan's change set on ${s} is deleted`);

      // --approve is the answer without a terminal.
      const approved = await runCli(deployArgs('--require-approval', 'broadening', '--approve'), { env });
      assert.equal(approved.code, 0, approved.stderr);
      assert.match(approved.stdout, /^catalog-network: no-changes\n[^]*\ncatalog-service: updated\n/);
      assert.deepEqual((await deployedTemplate('catalog-service')).Resources.FunctionRole!.Properties.Policies, policies);
    });
  });

  describe('on a pseudo-terminal', () => {
    before(() => {
      if (spawnSync('script', ['--version']).status !== 0) throw new Error('`script` (util-linux) is needed to run the CLI on a pseudo-terminal: apt-get install util-linux');
    });

    /**
     * Runs the built CLI on a pseudo-terminal and types `answer` and Enter once it asks; returns
     * everything the terminal showed (its output and the echoed answer), with the terminal's CRLFs as LF.
     */
    function onTerminal(args: string[], answer: string): Promise<{ code: number | null; screen: string; asked: boolean }> {
      const command = `"${process.execPath}" "${CLI}" ${args.map((a) => `'${a}'`).join(' ')}`;
      // Plain text and one line per event: no colour, no redrawn progress line.
      const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { ...process.env, ...env, NO_COLOR: '1', TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let screen = '';
      let asked = false;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          screen += d.toString();
          if (!asked && /\[y\/N\] $/.test(screen)) {
            asked = true;
            child.stdin.write(`${answer}\n`);
          }
        });
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, screen: screen.replaceAll('\r\n', '\n'), asked });
        });
      });
    }

    const question = 'These changes broaden access: catalog-network adds security-group rules; catalog-service adds IAM permissions.\nDeploy 5 stack(s) to dev? [y/N] ';

    it('deploy asks after every plan; "n" is exit 2 with nothing created', async () => {
      const r = await onTerminal(deployArgs('--artifacts', join(dir, 'manifest.json')), 'n');
      assert.ok(r.asked, r.screen);
      assert.equal(r.code, 2, r.screen);
      assert.ok(r.screen.includes(`\n${question}n\n`), r.screen);
      assert.ok(r.screen.indexOf('catalog-observability: new stack') < r.screen.indexOf(question), 'every plan is shown before the question');
      assert.match(r.screen, /\[y\/N\] n\ncatalogctl: deploy: not approved; nothing was changed\n$/);
      assert.deepEqual(await stacks(), []);
    });

    it('"y" deploys the five stacks', async () => {
      const r = await onTerminal(deployArgs('--artifacts', join(dir, 'manifest.json')), 'y');
      assert.ok(r.asked, r.screen);
      assert.equal(r.code, 0, r.screen);
      assert.ok(r.screen.includes(`\n${question}y\n`), r.screen);
      assert.ok(r.screen.indexOf(question) < r.screen.indexOf('catalog-network: creating'), 'nothing is created before the answer');
      assert.ok(r.screen.endsWith(STACK_NAMES.map((s) => `${s}: created\n`).join('')), r.screen);
      assert.deepEqual(await stacks(), [...STACK_NAMES].sort());
      for (const s of STACK_NAMES) assert.equal((await describe1(s)).StackStatus, 'CREATE_COMPLETE', s);
    });
  });
});
