/**
 * Step Functions' AWS SDK integrations (`arn:aws:states:::aws-sdk:<service>:<action>`) bound to
 * the real AWS SDK v3 against the emulator, for running a definition locally with
 * aws-local-stepfunctions. What Step Functions does around the call is done here as its guide
 * documents it ("Learning to use AWS service SDK integrations"):
 * - parameters are PascalCase even where the API is camelCase (API Gateway): converted back;
 * - a failure becomes the error `<Service>.<ErrorName>`, with the `Exception` suffix always present;
 * - the result is plain JSON (timestamps as ISO strings, no response metadata).
 * GetMetricData's expressions are evaluated by ./metric-math.ts (the emulator evaluates none).
 */
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import * as apigw from '@aws-sdk/client-api-gateway';
import * as cw from '@aws-sdk/client-cloudwatch';
import * as lambda from '@aws-sdk/client-lambda';
import * as s3 from '@aws-sdk/client-s3';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import { evaluate, type Series } from './metric-math.ts';
import { TEST_CREDENTIALS } from './moto.ts';

type Json = unknown;
type Sendable = { send(command: unknown): Promise<unknown> };
export type SdkCall = { service: string; action: string; input: Record<string, unknown> };

const SERVICE_NAMES: Record<string, string> = { lambda: 'Lambda', apigateway: 'ApiGateway', cloudwatch: 'CloudWatch', s3: 'S3' };

const recase = (v: Json, f: (k: string) => string): Json =>
  Array.isArray(v) ? v.map((x) => recase(x, f)) : v && typeof v === 'object' && !(v instanceof Date) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [f(k), recase(x, f)])) : v;
const lowerFirst = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);
const upperFirst = (k: string) => k.charAt(0).toUpperCase() + k.slice(1);
const plain = (v: Json): Json => {
  const { $metadata: _m, ...rest } = v as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest));
};

export interface SdkTaskOptions {
  endpoint: string;
  region: string;
  /** Called before each call; a throw fails the task as the service would. */
  before?: (call: SdkCall) => void | Promise<void>;
  /** Called after each call succeeded. */
  after?: (call: SdkCall, output: Json) => void;
}

/** A task handler per SDK resource, for aws-local-stepfunctions' taskResourceLocalHandlers. */
export function sdkTasks(opts: SdkTaskOptions): (resource: string) => (input: Json) => Promise<Json> {
  const cfg = { endpoint: opts.endpoint, region: opts.region, credentials: TEST_CREDENTIALS };
  const clients: Record<string, { client: Sendable; mod: Record<string, unknown> }> = {
    lambda: { client: new lambda.LambdaClient(cfg), mod: lambda },
    apigateway: { client: new APIGatewayClient(cfg), mod: apigw },
    // The emulator speaks CloudWatch's query protocol only (src/aws/cloudwatch.ts).
    cloudwatch: { client: new cw.CloudWatchClient({ ...cfg, protocol: AwsQueryProtocol }), mod: cw },
    s3: { client: new s3.S3Client({ ...cfg, forcePathStyle: true }), mod: s3 },
  };
  return (resource) => {
    const m = /^arn:aws:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
    if (!m) throw new Error(`no SDK integration for ${resource}`);
    const [, service, action] = m as unknown as [string, string, string];
    const target = clients[service];
    if (!target) throw new Error(`sdk-tasks: service ${service} is not bound`);
    const Command = target.mod[`${upperFirst(action)}Command`] as (new (input: unknown) => unknown) | undefined;
    if (!Command) throw new Error(`sdk-tasks: ${service} has no ${action}`);
    return async (input) => {
      const call: SdkCall = { service, action, input: input as Record<string, unknown> };
      try {
        await opts.before?.(call);
        let out: Json;
        if (service === 'cloudwatch' && action === 'getMetricData') out = await getMetricData(target.client, call.input);
        else {
          const params = service === 'apigateway' ? recase(input, lowerFirst) : input;
          out = plain(await target.client.send(new Command(params)));
          if (service === 'apigateway') out = recase(out, upperFirst);
        }
        opts.after?.(call, out);
        return out;
      } catch (err) {
        throw stepFunctionsError(service, err);
      }
    };
  };
}

/** `<Service>.<Name>Exception`, with the message as the cause, as Step Functions reports SDK errors. */
function stepFunctionsError(service: string, err: unknown): Error {
  const e = err as { name?: string; message?: string };
  if (e?.name?.includes('.')) return err as Error;
  const name = e?.name && e.name !== 'Error' ? e.name : 'Unknown';
  const error = new Error(e?.message ?? String(err));
  error.name = `${SERVICE_NAMES[service] ?? service}.${name.endsWith('Exception') ? name : `${name}Exception`}`;
  return error;
}

type Query = { Id: string; ReturnData?: boolean; Label?: string; Expression?: string; MetricStat?: unknown };

/** MetricStat queries from the emulator, then the expressions in dependency order. */
async function getMetricData(client: Sendable, input: Record<string, unknown>): Promise<Json> {
  const queries = input.MetricDataQueries as Query[];
  const stats = queries.filter((q) => q.MetricStat);
  const series: Record<string, Series> = {};
  if (stats.length) {
    const out = (await client.send(
      new cw.GetMetricDataCommand({
        StartTime: new Date(String(input.StartTime)),
        EndTime: new Date(String(input.EndTime)),
        ScanBy: input.ScanBy as 'TimestampDescending',
        MetricDataQueries: stats.map((q) => ({ ...(q as cw.MetricDataQuery), ReturnData: true })),
      }),
    )) as cw.GetMetricDataOutput;
    for (const r of out.MetricDataResults ?? []) series[r.Id!] = new Map((r.Timestamps ?? []).map((t, i) => [t.getTime(), r.Values![i]!]));
    for (const q of stats) series[q.Id] ??= new Map();
  }
  const pending = queries.filter((q) => q.Expression !== undefined);
  while (pending.length) {
    const i = pending.findIndex((q) => (q.Expression!.match(/[a-z_][A-Za-z0-9_]*/g) ?? []).every((id) => id in series || !queries.some((o) => o.Id === id)));
    if (i < 0) throw new Error(`metric math stand-in: circular expressions ${pending.map((q) => q.Id).join(', ')}`);
    const q = pending.splice(i, 1)[0]!;
    const v = evaluate(q.Expression!, series);
    if (!(v instanceof Map)) throw new Error(`metric math stand-in: ${q.Id} does not give a time series`);
    series[q.Id] = v;
  }
  const descending = input.ScanBy !== 'TimestampAscending';
  return {
    MetricDataResults: queries
      .filter((q) => q.ReturnData !== false)
      .map((q) => {
        const points = [...series[q.Id]!.entries()].sort((a, b) => (descending ? b[0] - a[0] : a[0] - b[0]));
        return { Id: q.Id, Label: q.Label ?? q.Id, StatusCode: 'Complete', Timestamps: points.map(([t]) => new Date(t).toISOString()), Values: points.map(([, v]) => v) };
      }),
    Messages: [],
  };
}
