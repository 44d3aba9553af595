/** The CloudWatch Logs part of the AWS interface: reading a log group's events, for verify's audit check. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface LogEvent {
  timestamp: number;
  message: string;
}

export interface LogsApi {
  /**
   * Events of a log group in [start, end) matching a CloudWatch Logs filter pattern, up to `limit`
   * (all pages of FilterLogEvents).
   */
  filterEvents(logGroupName: string, o: { start: Date; end?: Date; filterPattern: string; limit?: number }): Promise<LogEvent[]>;
}

export async function createLogsApi(target: AwsTarget): Promise<LogsApi> {
  const l = await import('@aws-sdk/client-cloudwatch-logs');
  const client = new l.CloudWatchLogsClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof l.CloudWatchLogsClient>[0]>);
  return {
    async filterEvents(logGroupName, o) {
      const limit = o.limit ?? 100;
      const events: LogEvent[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(
          new l.FilterLogEventsCommand({ logGroupName, startTime: o.start.getTime(), endTime: o.end?.getTime(), filterPattern: o.filterPattern, nextToken: token, limit: Math.min(limit - events.length, 10_000) }),
        );
        for (const e of out.events ?? []) events.push({ timestamp: e.timestamp ?? 0, message: e.message ?? '' });
        token = out.nextToken;
      } while (token && events.length < limit);
      return events;
    },
  };
}
