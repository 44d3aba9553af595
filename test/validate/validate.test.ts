/**
 * `catalogctl validate` end to end: the real env files pass through the built CLI, and deep copies
 * of the rendered dev environment with one injected defect each fail through the same library the
 * command uses, naming the resource and the rule. All defect envs go through one
 * `validateRendered` call, so checkov (the slow tool) starts once.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { listSuppressions, resolveEnvNames, validateInputs } from '../../src/validate/envs.ts';
import { plainFiles, type EnvInput } from '../../src/validate/index.ts';
import { templatesRenderer } from '../../src/validate/templates.ts';
import { CHECKERS, type Finding, type ValidationReport } from '../../src/validate/report.ts';
import { runCli } from '../support/cli.ts';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Rendered = Record<string, Obj>;

const resourcesOf = (t: Obj, type: string): [string, Obj][] => Object.entries(t.Resources as Obj).filter(([, r]) => r.Type === type);
const firstOf = (t: Obj, type: string): [string, Obj] => {
  const r = resourcesOf(t, type)[0];
  assert.ok(r, `no ${type} in template`);
  return r;
};
const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Every defect: what it does to a copy of the rendered env, and the (file, resource, rule) it must be reported as. */
interface Defect {
  name: string;
  inject(r: Rendered): { stack: string; resource: string; rules: string[] };
}

/** The state machine's definition, parsed from catalog-service, and a way to write it back. */
function embeddedDefinition(service: Obj): { def: Obj; save(def: Obj): void } {
  const [, sm] = firstOf(service, 'AWS::StepFunctions::StateMachine');
  const sub = sm.Properties.DefinitionString['Fn::Sub'];
  return { def: JSON.parse(sub[0]), save: (def) => (sub[0] = JSON.stringify(def)) };
}

/** The logical id an intrinsic points at (Ref, Fn::GetAtt or the first ${Id…} of Fn::Sub), following aliases and versions. */
function functionIdOf(svc: Obj, expr: Obj): string | undefined {
  const sub = expr['Fn::Sub'];
  const id: string | undefined = expr.Ref ?? expr['Fn::GetAtt']?.[0] ?? (Array.isArray(sub) ? sub[0] : sub)?.match?.(/\$\{([A-Za-z0-9]+)/)?.[1];
  const r = id === undefined ? undefined : svc.Resources[id];
  if (r?.Type === 'AWS::Lambda::Alias' || r?.Type === 'AWS::Lambda::Version') return functionIdOf(svc, r.Properties.FunctionName);
  return id;
}

const DEFECTS: Defect[] = [
  {
    name: 'star-action',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const [id, role] = resourcesOf(svc, 'AWS::IAM::Role').find(([, x]) => x.Properties.Policies?.length)!;
      role.Properties.Policies[0].PolicyDocument.Statement[0].Action = '*';
      return { stack: 'catalog-service', resource: id, rules: ['CKV_AWS_63', 'CAT_IAM_WILDCARD_ACTION'] };
    },
  },
  {
    name: 'public-db',
    inject: (r) => {
      const [id, db] = firstOf(r['catalog-storage.json']!, 'AWS::RDS::DBInstance');
      db.Properties.PubliclyAccessible = true;
      return { stack: 'catalog-storage', resource: id, rules: ['CKV_AWS_17'] };
    },
  },
  {
    name: 'unencrypted-db',
    inject: (r) => {
      const [id, db] = firstOf(r['catalog-storage.json']!, 'AWS::RDS::DBInstance');
      db.Properties.StorageEncrypted = false;
      delete db.Properties.KmsKeyId;
      // checkov's CKV_AWS_16 is suppressed on the writer (its value is conditional on a restore); the project's rule reads the condition.
      return { stack: 'catalog-storage', resource: id, rules: ['db-encrypted'] };
    },
  },
  {
    name: 'open-5432',
    inject: (r) => {
      const net = r['catalog-network.json']!;
      // The DB security group is the one whose ingress is on 5432.
      const groups = [...resourcesOf(net, 'AWS::EC2::SecurityGroup'), ...resourcesOf(net, 'AWS::EC2::SecurityGroupIngress')];
      const [id, sg] = groups.find(([, g]) => JSON.stringify(g).includes('5432')) ?? firstOf(net, 'AWS::EC2::SecurityGroup');
      const rule = { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '0.0.0.0/0', Description: 'injected' };
      if (sg.Type === 'AWS::EC2::SecurityGroup') sg.Properties.SecurityGroupIngress = [...asList(sg.Properties.SecurityGroupIngress ?? []), rule];
      else Object.assign(sg.Properties, rule, { SourceSecurityGroupId: undefined });
      return { stack: 'catalog-network', resource: id, rules: ['CAT_SG_WORLD_INGRESS'] };
    },
  },
  {
    name: 'env-password',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const [id, fn] = resourcesOf(svc, 'AWS::Lambda::Function').find(([, f]) => f.Properties.Environment?.Variables?.DB_HOST) ?? firstOf(svc, 'AWS::Lambda::Function');
      fn.Properties.Environment ??= { Variables: {} };
      fn.Properties.Environment.Variables.DB_PASSWORD = 'Tr0ub4dor&3-catalog';
      return { stack: 'catalog-service', resource: id, rules: ['CAT_LAMBDA_ENV_SECRET'] };
    },
  },
  {
    // dev renders the cache off; the defect turns it on, as staging and prod have it, with a key
    // that no longer names the caller.
    name: 'cache-key-without-caller',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const [, stage] = firstOf(svc, 'AWS::ApiGateway::Stage');
      stage.Properties.CacheClusterEnabled = true;
      for (const s of stage.Properties.MethodSettings) if (s.HttpMethod === 'GET') s.CachingEnabled = true;
      const [id, method] = resourcesOf(svc, 'AWS::ApiGateway::Method').find(([, m]) => m.Properties.HttpMethod === 'GET' && m.Properties.Integration.CacheKeyParameters?.includes('method.request.querystring.cursor'))!;
      const drop = 'method.request.header.Authorization';
      method.Properties.Integration.CacheKeyParameters = method.Properties.Integration.CacheKeyParameters.filter((k: string) => k !== drop);
      delete method.Properties.RequestParameters[drop];
      return { stack: 'catalog-service', resource: id, rules: ['CAT_API_CACHE_KEY_IDENTITY'] };
    },
  },
  {
    name: 'cache-key-without-if-none-match',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const [, stage] = firstOf(svc, 'AWS::ApiGateway::Stage');
      stage.Properties.CacheClusterEnabled = true;
      for (const s of stage.Properties.MethodSettings) if (s.HttpMethod === 'GET') s.CachingEnabled = true;
      const [id, method] = resourcesOf(svc, 'AWS::ApiGateway::Method').find(([, m]) => m.Properties.HttpMethod === 'GET' && m.Properties.RequestParameters?.['method.request.path.id'] !== undefined)!;
      const drop = 'method.request.header.If-None-Match';
      method.Properties.Integration.CacheKeyParameters = method.Properties.Integration.CacheKeyParameters.filter((k: string) => k !== drop);
      return { stack: 'catalog-service', resource: id, rules: ['CAT_API_CACHE_KEY_CONDITIONAL'] };
    },
  },
  {
    name: 'asl-next-nowhere',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const emb = embeddedDefinition(svc);
      // Both copies change, as they would if the builder had the bug.
      for (const def of [r['state_machine.json']!, emb.def]) def.States.Wait.Next = 'NoSuchState';
      emb.save(emb.def);
      return { stack: 'state_machine', resource: 'Wait', rules: ['MISSING_TRANSITION_TARGET'] };
    },
  },
  {
    name: 'role-invokes-other',
    inject: (r) => {
      const svc = r['catalog-service.json']!;
      const [, sm] = firstOf(svc, 'AWS::StepFunctions::StateMachine');
      const roleId: string = sm.Properties.RoleArn['Fn::GetAtt'][0];
      const named = Object.values(sm.Properties.DefinitionString['Fn::Sub'][1] as Obj).map((v) => functionIdOf(svc, v));
      const [otherId] = resourcesOf(svc, 'AWS::Lambda::Function').find(([fid]) => !named.includes(fid))!;
      const docs = [
        ...asList(svc.Resources[roleId].Properties.Policies ?? []).map((p: Obj) => p.PolicyDocument),
        ...resourcesOf(svc, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId)).map(([, p]) => p.Properties.PolicyDocument),
      ];
      const st = docs.flatMap((d) => asList(d.Statement)).find((s: Obj) => JSON.stringify(s.Action).includes('lambda:InvokeFunction'));
      assert.ok(st, 'state machine role has an invoke statement');
      st.Resource = [...asList(st.Resource), { 'Fn::GetAtt': [otherId, 'Arn'] }];
      return { stack: 'catalog-service', resource: roleId, rules: ['SM_ROLE_INVOKES_OTHER'] };
    },
  },
];

describe('catalogctl validate', function () {
  this.timeout(120_000);

  describe('on the real envs, through the CLI', () => {
    let report: ValidationReport;
    let progress: string;
    before(async () => {
      const r = await runCli(['validate', '--all', '--json']);
      assert.equal(r.code, 0, `validate --all failed:\n${r.stdout.slice(0, 4000)}\n${r.stderr}`);
      report = JSON.parse(r.stdout) as ValidationReport;
      progress = r.stderr;
    });

    it('says on stderr which checkers still run, and how long each took (stdout stays JSON)', () => {
      assert.match(progress, /^… running checkov, cfn-lint$/m);
      assert.match(progress, /^ {2}cfn-lint: 0 finding\(s\) in \d+\.\ds$/m);
      assert.match(progress, /^ {2}checkov: 0 finding\(s\) in \d+\.\ds$/m);
      assert.match(progress, /^… running (checkov|cfn-lint)$/m);
    });

    it('is clean for every env with every checker', async () => {
      assert.deepEqual(report.envs.sort(), (await resolveEnvNames({ all: true })).sort());
      assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), []);
      assert.equal(report.ok, true);
      assert.equal(report.files.length, report.envs.length * 5);
      assert.equal(report.checkers.checkov.version, '3.3.30');
    });

    it('rejects an unknown env as bad input', async () => {
      const r = await runCli(['validate', '--env', 'nosuch']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--env nosuch: .*known envs: /);
    });

    it('exits 2 on a bad env file, as render does, listing every problem before any checker runs', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'validate-envs-'));
      try {
        const text = await readFile('envs/dev.yaml', 'utf8');
        await writeFile(join(dir, '_base.yaml'), await readFile('envs/_base.yaml', 'utf8'));
        await writeFile(join(dir, 'broken.yaml'), text.replace(/^name: dev$/m, 'name: broken').replace(/backupRetentionDays: \d+/, 'backupRetentionDays: 3').replace('instanceClass: db.t4g.medium', 'instanceClass: t4g'));
        const r = await runCli(['validate', '--env-dir', dir, '--all', '--json']);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.equal(r.stdout, '', 'no report: nothing was checked');
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 2, r.stderr);
        assert.match(lines[0]!, /^catalogctl: .*broken\.yaml:\d+:3 database\.instanceClass: must be an RDS instance class/);
        assert.match(lines[1]!, /^.*broken\.yaml:\d+:3 database\.backupRetentionDays: must be >= 7$/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('with injected defects, through the library', () => {
    let config: EnvConfig;
    let report: ValidationReport;
    const expected = new Map<string, { stack: string; resource: string; rules: string[] }>();

    before(async () => {
      config = await loadEnv('dev');
      // Plain JSON (what render writes), so copies keep no class instances.
      const base = plainFiles(templatesRenderer.render(config)) as Rendered;
      const inputs: EnvInput[] = [{ name: 'dev', config, rendered: base }];
      for (const d of DEFECTS) {
        const copy = structuredClone(base);
        expected.set(d.name, d.inject(copy));
        inputs.push({ name: d.name, config, rendered: copy });
      }
      // checkov over the copies whose defect is one of its checks (and the clean one), the project's
      // own checkers over every copy; no defect here is cfn-lint's to find, and cfn-lint and checkov
      // over ten envs' templates would cost about a minute: both run over the real envs above.
      const checkovFinds = (i: EnvInput) => i.name === 'dev' || DEFECTS.some((d) => d.name === i.name && expected.get(d.name)!.rules.some((r) => r.startsWith('CKV_')));
      const own = CHECKERS.filter((c) => c !== 'cfn-lint' && c !== 'checkov');
      const [withCheckov, rest] = await Promise.all([
        validateInputs(inputs.filter(checkovFinds), templatesRenderer, { checkers: [...own, 'checkov'] }),
        validateInputs(inputs.filter((i) => !checkovFinds(i)), templatesRenderer, { checkers: own }),
      ]);
      report = { ...withCheckov, ok: withCheckov.ok && rest.ok, findings: [...withCheckov.findings, ...rest.findings] };
    });

    it('leaves the unmodified copy clean', () => {
      assert.deepEqual(report.findings.filter((f) => f.env === 'dev' && f.severity !== 'info'), []);
      assert.equal(report.ok, false);
    });

    for (const d of DEFECTS) {
      it(`reports ${d.name}, naming the resource and the rule`, () => {
        const want = expected.get(d.name)!;
        const got = report.findings.filter((f: Finding) => f.env === d.name && f.severity !== 'info');
        for (const rule of want.rules) {
          assert.ok(
            got.some((f) => f.stack === want.stack && f.resource === want.resource && f.rule === rule),
            `expected ${want.stack} ${want.resource} ${rule}; got:\n${got.map((f) => `${f.stack} ${f.resource} ${f.rule} ${f.message}`).join('\n')}`,
          );
        }
      });
    }
  });

  describe('docs/validate.md', () => {
    it('lists exactly the suppressions the templates declare', async () => {
      const names = await resolveEnvNames({ all: true });
      const table = await listSuppressions(names, templatesRenderer);
      const doc = await readFile('docs/validate.md', 'utf8');
      const m = doc.match(/<!-- suppressions:start -->\n([\s\S]*?)<!-- suppressions:end -->/);
      assert.ok(m, 'docs/validate.md has the suppressions markers');
      assert.equal(m[1], table, 'docs/validate.md is stale: regenerate the table with `node dist/catalogctl.mjs validate --all --list-suppressions`');
    });
  });
});
