/** The CloudWatch part of the AWS interface: the gating alarms' states, and metric sums for the per-version check. */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface AlarmStates {
  /** The state of each named alarm CloudWatch knows (metric or composite). */
  states: Record<string, AlarmStateValue>;
  /** Names CloudWatch does not know: deleted, misspelled, or in another account or region. */
  missing: string[];
}

/** One metric, identified exactly: CloudWatch matches every dimension, no more and no fewer. */
export interface MetricId {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
}

export interface CloudWatchApi {
  alarmStates(names: string[]): Promise<AlarmStates>;
  /** The Sum of each metric over [start, end), in the order given (0 where there is no data). */
  metricSums(metrics: MetricId[], start: Date, end: Date): Promise<number[]>;
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
    async alarmStates(names) {
      const states: Record<string, AlarmStateValue> = {};
      // DescribeAlarms takes at most 100 names per call, and returns composite alarms only when asked.
      for (let i = 0; i < names.length; i += 100) {
        let token: string | undefined;
        do {
          const out = await client.send(new cw.DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100), AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], NextToken: token }));
          for (const a of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) if (a.AlarmName && a.StateValue) states[a.AlarmName] = a.StateValue as AlarmStateValue;
          token = out.NextToken;
        } while (token);
      }
      return { states, missing: names.filter((n) => !(n in states)) };
    },
    async metricSums(metrics, start, end) {
      const sums = metrics.map(() => 0);
      // GetMetricData takes at most 500 queries per call.
      for (let i = 0; i < metrics.length; i += 500) {
        const batch = metrics.slice(i, i + 500);
        let token: string | undefined;
        do {
          const out = await client.send(
            new cw.GetMetricDataCommand({
              StartTime: start,
              EndTime: end,
              NextToken: token,
              MetricDataQueries: batch.map((m, j) => ({
                Id: `m${i + j}`,
                ReturnData: true,
                MetricStat: {
                  Metric: { Namespace: m.namespace, MetricName: m.metricName, Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })) },
                  Period: 60,
                  Stat: 'Sum',
                },
              })),
            }),
          );
          for (const r of out.MetricDataResults ?? []) {
            const k = Number(r.Id?.slice(1));
            if (Number.isInteger(k) && k < sums.length) sums[k]! += (r.Values ?? []).reduce((n, v) => n + v, 0);
          }
          token = out.NextToken;
        } while (token);
      }
      return sums;
    },
  };
}
