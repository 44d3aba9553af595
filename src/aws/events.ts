/** The EventBridge part of the AWS interface: whether an event bus exists (preflight). */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface EventsApi {
  /** Whether the bus exists; `nameOrArn` as DescribeEventBus takes it. */
  eventBusExists(nameOrArn: string): Promise<boolean>;
}

export async function createEventsApi(target: AwsTarget): Promise<EventsApi> {
  const eb = await import('@aws-sdk/client-eventbridge');
  const client = new eb.EventBridgeClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof eb.EventBridgeClient>[0]>);
  return {
    async eventBusExists(nameOrArn) {
      try {
        await client.send(new eb.DescribeEventBusCommand({ Name: nameOrArn }));
        return true;
      } catch (err) {
        if ((err as { name?: string }).name === 'ResourceNotFoundException') return false;
        throw err;
      }
    },
  };
}
