/**
 * Runs the rendered `state_machine.json` in-process with aws-local-stepfunctions when a catalog is
 * created: its two Task states call the real poller handlers, which call the external API the user
 * points `catalogctl local` at. Executions are kept for `GET /_local/executions`.
 */
import './polyfill.ts';
import { randomUUID } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION, lambdaContext, type TaskHandler } from './gateway.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionRecord {
  executionArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: string;
  stopDate?: string;
  input: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
  /** State names in the order they were entered. */
  states: string[];
  /**
   * Every Task attempt that threw, retried ones included: the state, the error's name and message
   * (CheckCatalogStatus's names the URL it called and why it failed). Not in AWS's
   * DescribeExecution; there, the function's logs hold the same.
   */
  failures: StepFailure[];
}

export interface StepFailure {
  state: string;
  at: string;
  error: string;
  message: string;
}

export interface PollerEvent {
  executionArn: string;
  status: ExecutionStatus;
  state?: string;
  /** Set when a Task attempt threw. */
  failure?: StepFailure;
  /** A FAILED execution's error and cause, and the last Task attempt that threw before it ended. */
  error?: string;
  cause?: string;
  lastFailure?: StepFailure;
}

export const LOCAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:catalog-status-poller-local`;

/** The placeholders catalog-service substitutes, mapped to the functions that serve them. */
const TASK_PLACEHOLDERS = {
  '${CheckCatalogStatusFunctionArn}': 'check-catalog-status',
  '${UpdateCatalogDbFunctionArn}': 'update-catalog-db',
} as const;

export interface PollerOptions {
  /** The ASL definition with its placeholders, as `buildStateMachine` returns it. */
  definition: object;
  handlers: { 'check-catalog-status': TaskHandler; 'update-catalog-db': TaskHandler };
  /** Replace every Wait state's duration with this many ms (the env's interval otherwise). */
  waitMs?: number;
  /** Replace retry back-off intervals with this many ms. */
  retryMs?: number;
  onEvent?: (e: PollerEvent) => void;
  /** Each function's timeout in ms (the env's), for the context its handler gets; 60 s otherwise. */
  functionTimeoutsMs?: Partial<Record<string, number>>;
}

export class LocalPoller {
  private readonly executions = new Map<string, ExecutionRecord & { abort?: () => void; done?: Promise<void> }>();
  private readonly taskHandlers: Record<string, TaskHandler> = {};
  private readonly definition: Record<string, unknown>;
  private readonly waitStates: string[] = [];
  private readonly retryStates: string[] = [];
  private readonly functionOf: Record<string, string> = {};

  constructor(private readonly opts: PollerOptions) {
    // Task resources become well-formed Lambda ARNs; each Task state is served by its handler.
    const def = JSON.parse(JSON.stringify(opts.definition)) as { States: Record<string, Record<string, unknown>> };
    for (const [name, state] of Object.entries(def.States ?? {})) {
      if (state.Type === 'Wait') this.waitStates.push(name);
      if (Array.isArray(state.Retry)) this.retryStates.push(name);
      if (state.Type !== 'Task' || typeof state.Resource !== 'string') continue;
      const fn = TASK_PLACEHOLDERS[state.Resource as keyof typeof TASK_PLACEHOLDERS];
      if (!fn) throw new Error(`state_machine.json: Task ${name} names ${state.Resource}, which no local function serves`);
      state.Resource = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${fn}`;
      this.taskHandlers[name] = opts.handlers[fn];
      this.functionOf[name] = fn;
    }
    this.definition = def;
  }

  async start(input: unknown, name: string = randomUUID()): Promise<ExecutionRecord> {
    const { StateMachine } = await import('aws-local-stepfunctions');
    const executionArn = `${LOCAL_STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.executions.has(executionArn)) throw Object.assign(new Error(`Execution Already Exists: '${executionArn}'`), { code: 'ExecutionAlreadyExists' });
    const sm = new StateMachine(this.definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
    const record: ExecutionRecord & { abort?: () => void; done?: Promise<void> } = {
      executionArn,
      name,
      status: 'RUNNING',
      startDate: new Date().toISOString(),
      input,
      states: [],
      failures: [],
    };
    const overrides: Record<string, unknown> = { taskResourceLocalHandlers: this.recordingHandlers(record) };
    if (this.opts.waitMs !== undefined) overrides.waitTimeOverrides = Object.fromEntries(this.waitStates.map((s) => [s, this.opts.waitMs!]));
    if (this.opts.retryMs !== undefined) overrides.retryIntervalOverrides = Object.fromEntries(this.retryStates.map((s) => [s, this.opts.retryMs!]));
    const execution = sm.run(input as never, {
      overrides: overrides as never,
      noThrowOnAbort: true,
    } as never) as unknown as { abort(): void; result: Promise<unknown>; eventLogs?: AsyncIterable<{ type: string; state?: { name: string } }> };
    record.abort = () => execution.abort();
    this.executions.set(executionArn, record);
    const finish = (status: ExecutionStatus, extra: Partial<ExecutionRecord>): void => {
      if (record.status !== 'RUNNING') return;
      Object.assign(record, { status, stopDate: new Date().toISOString(), ...extra });
      const lastFailure = record.failures.at(-1);
      this.opts.onEvent?.({ executionArn, status, ...(record.error ? { error: record.error, cause: record.cause } : {}), ...(status === 'FAILED' && lastFailure ? { lastFailure } : {}) });
    };
    const logs = (async () => {
      if (!execution.eventLogs) return;
      for await (const ev of execution.eventLogs) {
        if (ev.type === 'StateEntered' && ev.state) {
          record.states.push(ev.state.name);
          this.opts.onEvent?.({ executionArn, status: 'RUNNING', state: ev.state.name });
        }
      }
    })().catch(() => undefined);
    record.done = execution.result.then(
      (output) => finish('SUCCEEDED', { output }),
      (err: { name?: string; message?: string; cause?: unknown }) => {
        // The library wraps what failed (a Fail state's Error and Cause, or a task's error) in an
        // ExecutionError; DescribeExecution reports the inner one, as Step Functions does.
        const inner = (typeof err?.cause === 'object' && err.cause !== null ? err.cause : err) as { name?: string; message?: string };
        finish('FAILED', { error: inner?.name ?? 'Error', cause: typeof err?.cause === 'string' ? err.cause : (inner?.message ?? String(err)) });
      },
    ).then(() => logs);
    return publicView(record);
  }

  /** The Task handlers for one execution: each attempt that throws is recorded and reported, then rethrown for Retry/Catch. */
  private recordingHandlers(record: ExecutionRecord): Record<string, (input: unknown) => Promise<unknown>> {
    return Object.fromEntries(
      Object.entries(this.taskHandlers).map(([state, handler]) => [
        state,
        async (input: unknown) => {
          try {
            return await handler(input, lambdaContext(this.functionOf[state]!, this.opts.functionTimeoutsMs?.[this.functionOf[state]!] ?? 60_000));
          } catch (err) {
            const e = err as { name?: string; message?: string };
            const failure: StepFailure = { state, at: new Date().toISOString(), error: e?.name ?? 'Error', message: e?.message ?? String(err) };
            record.failures.push(failure);
            this.opts.onEvent?.({ executionArn: record.executionArn, status: record.status, state, failure });
            throw err;
          }
        },
      ]),
    );
  }

  describe(executionArn: string): ExecutionRecord | undefined {
    const r = this.executions.get(executionArn);
    return r && publicView(r);
  }

  list(): ExecutionRecord[] {
    return [...this.executions.values()].map(publicView);
  }

  /** Abort whatever still runs, and wait until it has stopped. */
  async stopAll(): Promise<void> {
    const running = [...this.executions.values()].filter((r) => r.status === 'RUNNING');
    for (const r of running) {
      // Marked first, so the aborted run's null result is not taken for a success.
      r.status = 'ABORTED';
      r.abort?.();
      r.stopDate = new Date().toISOString();
    }
    await Promise.all(running.map((r) => r.done));
  }
}

function publicView(r: ExecutionRecord & { abort?: unknown; done?: unknown }): ExecutionRecord {
  const { abort: _a, done: _d, ...rest } = r;
  return { ...rest, states: [...rest.states], failures: [...rest.failures] };
}
