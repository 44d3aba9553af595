/**
 * What CloudWatch Logs does with an embedded-metric-format log line, for tests: validate it against
 * the EMF specification and turn it into the metric data CloudWatch would store, which the caller
 * puts into the emulator with PutMetricData (the emulator has no EMF extraction; its
 * PutMetricData/GetMetricData stand in for it). CloudWatch drops an invalid record silently; this
 * throws, naming the rule, so a malformed line fails the test instead of reading as "no failures".
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum, type StandardUnit } from '@aws-sdk/client-cloudwatch';

const UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits',
  'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second',
  'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface EmfDatum {
  namespace: string;
  datum: MetricDatum;
}

/** The metric data one EMF log event yields (one datum per metric per dimension set). */
export function extractEmf(line: string): EmfDatum[] {
  let root: unknown;
  try {
    // The log event must be the JSON object and nothing else (no prefix, no trailing data).
    root = JSON.parse(line);
  } catch (err) {
    throw new Error(`EMF: the log event is not a JSON object alone: ${(err as Error).message}: ${line.slice(0, 120)}`);
  }
  if (!isObject(root)) throw new Error('EMF: the root is not an object');
  const meta = root._aws;
  if (!isObject(meta)) throw new Error('EMF: no _aws metadata object');
  if (typeof meta.Timestamp !== 'number' || !Number.isInteger(meta.Timestamp)) throw new Error('EMF: _aws.Timestamp must be an integer of epoch milliseconds');
  const age = Date.now() - meta.Timestamp;
  if (age > 14 * 24 * 3600_000 || age < -2 * 3600_000) throw new Error('EMF: _aws.Timestamp more than two weeks old or two hours ahead');
  if (!Array.isArray(meta.CloudWatchMetrics)) throw new Error('EMF: _aws.CloudWatchMetrics must be an array');
  const out: EmfDatum[] = [];
  for (const d of meta.CloudWatchMetrics) {
    if (!isObject(d)) throw new Error('EMF: a MetricDirective is not an object');
    if (typeof d.Namespace !== 'string' || !/^[a-zA-Z0-9._#:/-]{1,255}$/.test(d.Namespace)) throw new Error(`EMF: invalid Namespace ${JSON.stringify(d.Namespace)}`);
    if (!Array.isArray(d.Dimensions)) throw new Error('EMF: Dimensions must be an array of dimension sets');
    if (!Array.isArray(d.Metrics) || d.Metrics.length > 100) throw new Error('EMF: Metrics must be an array of at most 100 definitions');
    const sets = d.Dimensions.map((set: unknown) => {
      if (!Array.isArray(set) || set.length > 30) throw new Error('EMF: a dimension set must be an array of at most 30 keys');
      return set.map((k: unknown) => {
        if (typeof k !== 'string') throw new Error('EMF: a dimension key is not a string');
        const v = root[k];
        // The spec: every referenced dimension is a root member whose value is a string.
        if (typeof v !== 'string' || v.trim() === '' || v.length > 1024 || !/^[\x20-\x7e]+$/.test(v)) throw new Error(`EMF: dimension ${k} must be a non-empty ASCII string member of the root, got ${JSON.stringify(v)}`);
        return { Name: k, Value: v };
      });
    });
    for (const m of d.Metrics) {
      if (!isObject(m) || typeof m.Name !== 'string' || m.Name === '' || m.Name.length > 1024) throw new Error('EMF: a MetricDefinition needs a Name');
      if (m.Unit !== undefined && (typeof m.Unit !== 'string' || !UNITS.has(m.Unit))) throw new Error(`EMF: invalid Unit ${JSON.stringify(m.Unit)}`);
      const target = root[m.Name];
      const values = typeof target === 'number' ? [target] : Array.isArray(target) ? target : undefined;
      if (!values || values.length === 0 || values.length > 100 || values.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Error(`EMF: target member ${m.Name} must be a number or an array of 1–100 numbers`);
      for (const dims of sets) {
        out.push({
          namespace: d.Namespace,
          datum: {
            MetricName: m.Name,
            Dimensions: dims,
            Timestamp: new Date(meta.Timestamp),
            ...(values.length === 1 ? { Value: values[0] } : { Values: values }),
            ...(m.Unit ? { Unit: m.Unit as StandardUnit } : {}),
          },
        });
      }
    }
  }
  return out;
}

/** Extracts every line and puts the data into the emulator, by namespace; returns what was put. */
export async function putEmfLines(cw: CloudWatchClient, lines: string[]): Promise<EmfDatum[]> {
  const all = lines.flatMap(extractEmf);
  const byNs = new Map<string, MetricDatum[]>();
  for (const { namespace, datum } of all) byNs.set(namespace, [...(byNs.get(namespace) ?? []), datum]);
  // PutMetricData takes up to 1000 data per call.
  for (const [Namespace, data] of byNs) for (let i = 0; i < data.length; i += 1000) await cw.send(new PutMetricDataCommand({ Namespace, MetricData: data.slice(i, i + 1000) }));
  return all;
}
