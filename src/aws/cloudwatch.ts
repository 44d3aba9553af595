/** The CloudWatch part of the AWS interface: which of the gating alarms are firing. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface CloudWatchApi {
  /** Names (of those given) whose state is ALARM. A gating alarm that does not exist is reported as missing. */
  alarmsInAlarm(names: string[]): Promise<{ firing: string[]; missing: string[] }>;
}

export async function createCloudWatchApi(target: AwsTarget): Promise<CloudWatchApi> {
  const cw = await import('@aws-sdk/client-cloudwatch');
  // The awsQuery protocol, which CloudWatch has always served and the local emulator understands
  // (it rejects the newer JSON protocol this SDK version defaults to).
  const { AwsQueryProtocol } = await import('@aws-sdk/core/protocols');
  const client = new cw.CloudWatchClient({
    ...((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof cw.CloudWatchClient>[0]>),
    protocol: AwsQueryProtocol,
  });
  return {
    async alarmsInAlarm(names) {
      const seen = new Map<string, string>();
      // DescribeAlarms takes at most 100 names per call.
      for (let i = 0; i < names.length; i += 100) {
        let token: string | undefined;
        do {
          const out = await client.send(new cw.DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), NextToken: token }));
          for (const a of out.MetricAlarms ?? []) if (a.AlarmName) seen.set(a.AlarmName, a.StateValue ?? '');
          for (const a of out.CompositeAlarms ?? []) if (a.AlarmName) seen.set(a.AlarmName, a.StateValue ?? '');
          token = out.NextToken;
        } while (token);
      }
      return {
        firing: names.filter((n) => seen.get(n) === 'ALARM'),
        missing: names.filter((n) => !seen.has(n)),
      };
    },
  };
}
