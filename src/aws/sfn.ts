/**
 * The Step Functions part of the AWS interface: start, watch and stop executions of the release
 * state machine. AWS_ENDPOINT_URL_SFN (the SDK's service-specific endpoint variable) takes
 * precedence over --endpoint-url / AWS_ENDPOINT_URL for this client only, as it would for the SDK
 * itself, so Step Functions can live somewhere other than the rest of an emulated account.
 */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface ExecutionDescription {
  executionArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  error?: string;
  cause?: string;
  output?: string;
}

/** One event of an execution's history, as GetExecutionHistory returns it (the fields catalogctl reads). */
export interface HistoryEvent {
  id: number;
  timestamp: Date;
  type: string;
  /** State entered (with its input) or exited (with its output), as JSON text. */
  state?: { name: string; input?: string; output?: string };
  /** How the execution ended, for the Execution* events. */
  end?: { error?: string; cause?: string; output?: string };
  /** The execution's input, on ExecutionStarted. */
  started?: { input?: string };
}

export interface SfnApi {
  /** Idempotent for the same name and input (Step Functions returns the running execution). */
  startExecution(stateMachineArn: string, name: string, input: string): Promise<{ executionArn: string; startDate: Date }>;
  /** undefined when there is no such execution. */
  describeExecution(executionArn: string): Promise<ExecutionDescription | undefined>;
  /** Events with an id above `afterId`, oldest first (read newest first, stopping at `afterId`). */
  eventsAfter(executionArn: string, afterId: number): Promise<HistoryEvent[]>;
  /** The newest `max` events, newest first. */
  latestEvents(executionArn: string, max: number): Promise<HistoryEvent[]>;
  stopExecution(executionArn: string, error: string, cause: string): Promise<void>;
  runningExecutions(stateMachineArn: string): Promise<{ executionArn: string; name: string; startDate: Date }[]>;
}

export async function createSfnApi(target: AwsTarget): Promise<SfnApi> {
  const s = await import('@aws-sdk/client-sfn');
  const config = await sdkClientConfig(target);
  const own = process.env.AWS_ENDPOINT_URL_SFN;
  const client = new s.SFNClient({ ...(config as NonNullable<ConstructorParameters<typeof s.SFNClient>[0]>), ...(own ? { endpoint: own } : {}) });
  const toEvent = (e: import('@aws-sdk/client-sfn').HistoryEvent): HistoryEvent => {
    const entered = e.stateEnteredEventDetails;
    const exited = e.stateExitedEventDetails;
    const ended = e.executionFailedEventDetails ?? e.executionAbortedEventDetails ?? e.executionTimedOutEventDetails;
    return {
      id: Number(e.id ?? 0),
      timestamp: e.timestamp ?? new Date(0),
      type: e.type ?? 'Unknown',
      ...(entered?.name ? { state: { name: entered.name, input: entered.input } } : exited?.name ? { state: { name: exited.name, output: exited.output } } : {}),
      ...(ended ? { end: { error: ended.error, cause: ended.cause } } : e.executionSucceededEventDetails ? { end: { output: e.executionSucceededEventDetails.output } } : {}),
      ...(e.executionStartedEventDetails ? { started: { input: e.executionStartedEventDetails.input } } : {}),
    };
  };
  return {
    async startExecution(stateMachineArn, name, input) {
      const out = await client.send(new s.StartExecutionCommand({ stateMachineArn, name, input }));
      if (!out.executionArn) throw new Error(`StartExecution on ${stateMachineArn} returned no executionArn`);
      return { executionArn: out.executionArn, startDate: out.startDate ?? new Date() };
    },
    async describeExecution(executionArn) {
      try {
        const d = await client.send(new s.DescribeExecutionCommand({ executionArn }));
        return {
          executionArn,
          name: d.name ?? '',
          status: (d.status ?? 'RUNNING') as ExecutionStatus,
          startDate: d.startDate ?? new Date(0),
          ...(d.stopDate ? { stopDate: d.stopDate } : {}),
          ...(d.error ? { error: d.error } : {}),
          ...(d.cause ? { cause: d.cause } : {}),
          ...(d.output ? { output: d.output } : {}),
        };
      } catch (err) {
        if ((err as { name?: string }).name === 'ExecutionDoesNotExist') return undefined;
        throw err;
      }
    },
    async eventsAfter(executionArn, afterId) {
      const fresh: HistoryEvent[] = [];
      let nextToken: string | undefined;
      // Newest first, so a long history is not read from its start at every poll.
      outer: do {
        const out = await client.send(new s.GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, nextToken, includeExecutionData: true }));
        for (const e of out.events ?? []) {
          const ev = toEvent(e);
          if (ev.id <= afterId) break outer;
          fresh.push(ev);
        }
        nextToken = out.nextToken;
      } while (nextToken);
      return fresh.reverse();
    },
    async latestEvents(executionArn, max) {
      const out = await client.send(new s.GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: max, includeExecutionData: true }));
      return (out.events ?? []).map(toEvent);
    },
    async stopExecution(executionArn, error, cause) {
      await client.send(new s.StopExecutionCommand({ executionArn, error, cause }));
    },
    async runningExecutions(stateMachineArn) {
      const found: { executionArn: string; name: string; startDate: Date }[] = [];
      let nextToken: string | undefined;
      do {
        const out = await client.send(new s.ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING', nextToken }));
        for (const e of out.executions ?? []) if (e.executionArn) found.push({ executionArn: e.executionArn, name: e.name ?? '', startDate: e.startDate ?? new Date(0) });
        nextToken = out.nextToken;
      } while (nextToken);
      return found;
    },
  };
}

/** The ARN an execution of `stateMachineArn` named `name` has (Step Functions derives it so). */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}
