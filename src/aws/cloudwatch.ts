/** The CloudWatch part of the AWS interface: which of the gating alarms are firing. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface VersionMetrics {
  errors: number;
  invocations: number;
}

export interface CloudWatchApi {
  /**
   * Errors and invocations of one function version reached through an alias, summed over
   * [start, end): Lambda publishes these by FunctionName + Resource (`fn:alias`) + ExecutedVersion.
   */
  versionMetrics(functionName: string, alias: string, version: string, start: Date, end: Date): Promise<VersionMetrics>;
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
  const sum = async (metric: string, functionName: string, alias: string, version: string, start: Date, end: Date): Promise<number> => {
    const out = await client.send(
      new cw.GetMetricStatisticsCommand({
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [
          { Name: 'FunctionName', Value: functionName },
          { Name: 'Resource', Value: `${functionName}:${alias}` },
          { Name: 'ExecutedVersion', Value: version },
        ],
        StartTime: start,
        EndTime: end,
        Period: 60,
        Statistics: ['Sum'],
      }),
    );
    return (out.Datapoints ?? []).reduce((n, d) => n + (d.Sum ?? 0), 0);
  };
  return {
    async versionMetrics(functionName, alias, version, start, end) {
      const [errors, invocations] = await Promise.all([sum('Errors', functionName, alias, version, start, end), sum('Invocations', functionName, alias, version, start, end)]);
      return { errors, invocations };
    },
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
