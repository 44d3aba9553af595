/** The API Gateway (REST, v1) part of the AWS interface: deployments and the stage. */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json.ts';
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface StageState {
  deploymentId: string;
  variables: Record<string, string>;
}

export interface ApiGatewayApi {
  /** A deployment not attached to any stage; the stage moves to it only via setStageDeployment. */
  createDeployment(restApiId: string, description: string): Promise<string>;
  /** A deployment's description ('' when it has none). */
  deploymentDescription(restApiId: string, deploymentId: string): Promise<string>;
  /**
   * sha256 of what a deployment of the REST API would snapshot now: the API's settings, resources
   * with their methods and integrations, authorizers, models, request validators and gateway
   * responses, with ids and dates left out. Equal fingerprints mean a new deployment would serve
   * the same API.
   */
  definitionFingerprint(restApiId: string): Promise<string>;
  getStage(restApiId: string, stageName: string): Promise<StageState>;
  setStageDeployment(restApiId: string, stageName: string, deploymentId: string): Promise<void>;
  /**
   * Makes the stage's variables exactly `variables`: `replace` for new and changed keys (the
   * emulator rejects `add`; AWS accepts replace for new keys), `remove` for keys not in it. Returns
   * the keys it changed (none when the stage already had exactly these).
   */
  setStageVariables(restApiId: string, stageName: string, variables: Record<string, string>): Promise<string[]>;
  /**
   * FlushStageCache: every entry of the stage's API cache. API Gateway accepts it (HTTP 202) and
   * flushes in the background; IAM: apigateway:DELETE on `/restapis/<id>/stages/<stage>/cache/data`.
   */
  flushStageCache(restApiId: string, stageName: string): Promise<void>;
}

export async function createApiGatewayApi(target: AwsTarget): Promise<ApiGatewayApi> {
  const a = await import('@aws-sdk/client-api-gateway');
  const client = new a.APIGatewayClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof a.APIGatewayClient>[0]>);
  return {
    async createDeployment(restApiId, description) {
      const out = await client.send(new a.CreateDeploymentCommand({ restApiId, description }));
      if (!out.id) throw new Error(`CreateDeployment on ${restApiId} returned no id`);
      return out.id;
    },
    async deploymentDescription(restApiId, deploymentId) {
      return (await client.send(new a.GetDeploymentCommand({ restApiId, deploymentId }))).description ?? '';
    },
    async definitionFingerprint(restApiId) {
      // Every list is paged (500 a page, API Gateway's maximum).
      const all = async <T>(page: (position?: string) => Promise<{ items?: T[]; position?: string }>): Promise<T[]> => {
        const out: T[] = [];
        let position: string | undefined;
        do {
          const r = await page(position);
          out.push(...(r.items ?? []));
          position = r.position;
        } while (position);
        return out;
      };
      const limit = 500;
      const [api, resources, authorizers, models, validators, responses] = await Promise.all([
        client.send(new a.GetRestApiCommand({ restApiId })),
        all((position) => client.send(new a.GetResourcesCommand({ restApiId, embed: ['methods'], limit, position }))),
        all((position) => client.send(new a.GetAuthorizersCommand({ restApiId, limit, position }))),
        all((position) => client.send(new a.GetModelsCommand({ restApiId, limit, position }))),
        all((position) => client.send(new a.GetRequestValidatorsCommand({ restApiId, limit, position }))),
        all((position) => client.send(new a.GetGatewayResponsesCommand({ restApiId, limit, position }))),
      ]);
      const { $metadata: _m, id: _i, createdDate: _c, ...settings } = api;
      const definition = {
        settings,
        resources: resources.map(({ id: _id, parentId: _p, ...r }) => r).sort((x, y) => ((x.path ?? '') < (y.path ?? '') ? -1 : 1)),
        authorizers: [...authorizers].sort(byKey('id')),
        models: models.map(({ id: _id, ...m }) => m).sort(byKey('name')),
        validators: [...validators].sort(byKey('id')),
        responses: [...responses].sort(byKey('responseType')),
      };
      return createHash('sha256').update(canonicalJson(definition)).digest('hex');
    },
    async getStage(restApiId, stageName) {
      const out = await client.send(new a.GetStageCommand({ restApiId, stageName }));
      return { deploymentId: out.deploymentId ?? '', variables: { ...(out.variables ?? {}) } };
    },
    async setStageDeployment(restApiId, stageName, deploymentId) {
      await client.send(new a.UpdateStageCommand({ restApiId, stageName, patchOperations: [{ op: 'replace', path: '/deploymentId', value: deploymentId }] }));
    },
    async setStageVariables(restApiId, stageName, variables) {
      const current = (await client.send(new a.GetStageCommand({ restApiId, stageName }))).variables ?? {};
      const keys = [...new Set([...Object.keys(current), ...Object.keys(variables)])].sort();
      const ops = keys.flatMap((k): { op: 'remove' | 'replace'; path: string; value?: string }[] => {
        if (!(k in variables)) return [{ op: 'remove', path: `/variables/${k}` }];
        return current[k] === variables[k] ? [] : [{ op: 'replace', path: `/variables/${k}`, value: variables[k] }];
      });
      if (ops.length) await client.send(new a.UpdateStageCommand({ restApiId, stageName, patchOperations: ops }));
      return ops.map((o) => o.path.slice('/variables/'.length));
    },
    async flushStageCache(restApiId, stageName) {
      await client.send(new a.FlushStageCacheCommand({ restApiId, stageName }));
    },
  };
}

const byKey =
  <K extends string>(k: K) =>
  (x: Partial<Record<K, unknown>>, y: Partial<Record<K, unknown>>): number =>
    String(x[k] ?? '') < String(y[k] ?? '') ? -1 : String(x[k] ?? '') > String(y[k] ?? '') ? 1 : 0;
