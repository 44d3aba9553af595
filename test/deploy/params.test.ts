/**
 * Deploy's parameter wiring over the real templates of every env: each stack's Parameters are fed
 * from the Outputs of the stacks before it (named alike), the package manifest and what is live,
 * with nothing left over; and the miniature stacks the emulator tests deploy (./stack-fixtures.ts)
 * keep the same contract: every Parameter they take exists in the real stack under that name, fed
 * the same way.
 */
import { strict as assert } from 'node:assert';
import { listEnvs, loadEnv } from '../../src/config/load.ts';
import { API_FUNCTIONS, FUNCTION_NAMES, STACK_NAMES, type StackName } from '../../src/config/types.ts';
import { resolveParameters, type CodeKeys, type ParameterOrigin } from '../../src/deploy/params.ts';
import { renderedTemplates } from '../../src/deploy/stacks.ts';
import { fixtureTemplates, testConfig } from './stack-fixtures.ts';

type Tpl = { Parameters?: Record<string, { Default?: unknown }>; Outputs?: Record<string, unknown> };

const codeKeys: CodeKeys = { functions: Object.fromEntries(FUNCTION_NAMES.map((fn) => [fn, `catalog/x/${fn}/0.zip`])), layerPg: 'catalog/x/layers/pg/0.zip' };
const live = { versions: Object.fromEntries(API_FUNCTIONS.map((fn) => [fn, '1'])), deploymentId: 'abc123' };

/** Each stack's parameters resolved as deploy resolves them, upstream Outputs given stand-in values. */
function wire(config: Parameters<typeof resolveParameters>[1]['config'], templates: Record<StackName, Tpl>) {
  const upstreamOutputs: Record<string, string> = {};
  const out: Record<string, { origins: Record<string, ParameterOrigin>; missing: string[] }> = {};
  for (const s of STACK_NAMES) {
    const { origins, missing } = resolveParameters(templates[s], { config, upstreamOutputs, codeKeys, live });
    out[s] = { origins, missing };
    for (const o of Object.keys(templates[s].Outputs ?? {})) upstreamOutputs[o] = `<${s} ${o}>`;
  }
  return out;
}

describe('deploy/params: the real templates are wired, and the miniature stacks keep their contract', () => {
  it('feeds every parameter of every stack of every env from upstream Outputs, the manifest, what is live or a default', async () => {
    for (const env of await listEnvs()) {
      const config = await loadEnv(env);
      const wired = wire(config, (await renderedTemplates(config)) as Record<StackName, Tpl>);
      for (const s of STACK_NAMES) assert.deepEqual(wired[s]!.missing, [], `${env} ${s}`);
      // What the rotation function, migrate and the readers take from the stacks before them.
      assert.equal(wired['catalog-secrets']!.origins.RotationSecurityGroupId, 'upstream', env);
      assert.equal(wired['catalog-service']!.origins.DbMasterSecretArn, 'upstream', env);
      assert.equal(wired['catalog-service']!.origins.DbKmsKeyArn, 'upstream', env);
      assert.equal(wired['catalog-service']!.origins.DbReadReplicaAddresses, config.database.readReplicas > 0 ? 'upstream' : undefined, env);
      assert.equal(wired['catalog-service']!.origins.JwtKeysSecretArn, undefined, env);
    }
  });

  it('the miniature stacks take only parameters the real stacks have, fed the same way', async () => {
    const config = await testConfig();
    const real = (await renderedTemplates(config)) as Record<StackName, Tpl>;
    const mini = fixtureTemplates(config) as Record<StackName, Tpl>;
    const realWiring = wire(config, real);
    const miniWiring = wire(config, mini);
    for (const s of STACK_NAMES) {
      assert.deepEqual(miniWiring[s]!.missing, [], `fixture ${s}`);
      for (const [name, origin] of Object.entries(miniWiring[s]!.origins)) {
        assert.ok(name in (real[s].Parameters ?? {}), `fixture ${s} takes ${name}, which the real ${s} does not have`);
        // A default in the miniature stands for a value deploy would send; anything else must match.
        if (origin !== 'default') assert.equal(realWiring[s]!.origins[name], origin, `${s} ${name}`);
      }
    }
  });
});
