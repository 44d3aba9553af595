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
  /** Sets each variable with `replace` (the emulator rejects `add`; AWS accepts replace for new keys). */
  setStageVariables(restApiId: string, stageName: string, variables: Record<string, string>): Promise<void>;
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
      const ops = Object.keys(variables)
        .sort()
        .map((k) => ({ op: 'replace' as const, path: `/variables/${k}`, value: variables[k] }));
      if (ops.length) await client.send(new a.UpdateStageCommand({ restApiId, stageName, patchOperations: ops }));
    },
  };
}
