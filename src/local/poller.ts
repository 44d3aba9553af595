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
  onEvent?: (e: { executionArn: string; status: ExecutionStatus; state?: string }) => void;
}

export class LocalPoller {
  private readonly executions = new Map<string, ExecutionRecord & { abort?: () => void; done?: Promise<void> }>();
  private readonly taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  private readonly definition: Record<string, unknown>;
  private readonly waitStates: string[] = [];
  private readonly retryStates: string[] = [];

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
      const handler = opts.handlers[fn];
      this.taskHandlers[name] = async (input) => handler(input, lambdaContext(fn, 60_000));
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
    };
    const overrides: Record<string, unknown> = { taskResourceLocalHandlers: this.taskHandlers };
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
      this.opts.onEvent?.({ executionArn, status });
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
      (err: { name?: string; message?: string; cause?: unknown }) =>
        finish('FAILED', { error: err?.name ?? 'Error', cause: typeof err?.cause === 'string' ? err.cause : (err?.message ?? String(err)) }),
    ).then(() => logs);
    return publicView(record);
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
  return { ...rest, states: [...rest.states] };
}
