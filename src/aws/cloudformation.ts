/** The CloudFormation part of the AWS interface: what the commands read from deployed stacks. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface StackSummary {
  name: string;
  status: string;
  outputs: Record<string, string>;
}

export interface CloudFormationApi {
  /** The stack, or undefined when it does not exist. */
  describeStack(name: string): Promise<StackSummary | undefined>;
}

export async function createCloudFormationApi(target: AwsTarget): Promise<CloudFormationApi> {
  const cfn = await import('@aws-sdk/client-cloudformation');
  const client = new cfn.CloudFormationClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof cfn.CloudFormationClient>[0]>);
  return {
    async describeStack(name) {
      try {
        const out = await client.send(new cfn.DescribeStacksCommand({ StackName: name }));
        const s = out.Stacks?.[0];
        if (!s) return undefined;
        const outputs: Record<string, string> = {};
        for (const o of s.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
        return { name: s.StackName ?? name, status: s.StackStatus ?? 'UNKNOWN', outputs };
      } catch (err) {
        if (/does not exist/.test((err as Error).message)) return undefined;
        throw err;
      }
    },
  };
}
