/** The API Gateway (REST, v1) part of the AWS interface: deployments and the stage. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface StageState {
  deploymentId: string;
  variables: Record<string, string>;
}

export interface ApiGatewayApi {
  /** A deployment not attached to any stage; the stage moves to it only via setStageDeployment. */
  createDeployment(restApiId: string, description: string): Promise<string>;
  getStage(restApiId: string, stageName: string): Promise<StageState>;
  setStageDeployment(restApiId: string, stageName: string, deploymentId: string): Promise<void>;
  /**
   * Makes the stage's variables exactly `variables`: `replace` for new and changed keys (the
   * emulator rejects `add`; AWS accepts replace for new keys), `remove` for keys not in it. Returns
   * the keys it changed (none when the stage already had exactly these).
   */
  setStageVariables(restApiId: string, stageName: string, variables: Record<string, string>): Promise<string[]>;
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
  };
}
