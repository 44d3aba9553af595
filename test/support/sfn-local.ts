/**
 * A stand-in for AWS Step Functions that runs definitions: the emulator's Step Functions stores
 * state machines but never executes them. A loopback HTTP server speaks Step Functions' JSON API
 * (awsJson1_0: StartExecution, DescribeExecution, GetExecutionHistory, StopExecution,
 * ListExecutions) and runs each execution with aws-local-stepfunctions in this process, its SDK
 * tasks calling the emulator through the real AWS SDK (./sdk-tasks.ts). The CLI reaches it through
 * AWS_ENDPOINT_URL_SFN, so an execution lives outside the CLI's process as it does in AWS, and
 * carries on when the CLI dies.
 *
 * What stands in for AWS: the interpreter (aws-local-stepfunctions 3.0.0), the history (written
 * from its state events the way Standard workflows record them: `<Type>StateEntered/Exited`, a Task's
 * Scheduled/Started/Succeeded, a Map's Started/Succeeded and iterations), `$$.State.EnteredTime`
 * (the interpreter has no per-state context: read as the wall time when a state reads it), and
 * metric math (./metric-math.ts). Everything a task does happens in the emulator.
 */
import '../../src/local/polyfill.ts';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { StateMachine } from 'aws-local-stepfunctions';
import { sdkTasks, type SdkCall } from './sdk-tasks.ts';

type Json = unknown;
type Def = { States: Record<string, Record<string, unknown>> };

interface HistoryEventJson {
  id: number;
  previousEventId: number;
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

export interface LocalExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEventJson[];
  done: Promise<void>;
  abort(error?: string, cause?: string): void;
}

export interface SfnLocal {
  endpoint: string;
  /** Registers a definition (placeholders already substituted) under an ARN. */
  register(stateMachineArn: string, definition: object): void;
  executions(): LocalExecution[];
  execution(arn: string): LocalExecution | undefined;
  /** Waits for every execution to end. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface SfnLocalOptions {
  /** The emulator the SDK tasks call. */
  awsEndpoint: string;
  region: string;
  before?: (call: SdkCall) => void | Promise<void>;
  after?: (call: SdkCall, output: Json) => void;
  /** Fixed Wait durations in ms (per state name) instead of the definition's seconds. */
  waitMs?: Record<string, number>;
  /** Fixed waits in ms before a Task's retries (per state name) instead of its Retry's intervals. */
  retryMs?: Record<string, number>;
  /** Binds each Task's resource to a handler instead of the emulator (a scripted world). */
  bind?: (resource: string) => (input: Json) => Promise<Json>;
}

const now = () => Date.now() / 1000;

/** Every state of a definition, nested ones included (Map and Parallel bodies). */
function allStates(def: Def): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  const visit = (states: Def['States']) => {
    for (const [name, s] of Object.entries(states)) {
      out.push([name, s]);
      for (const sub of [s.ItemProcessor, s.Iterator]) if (sub && typeof sub === 'object') visit((sub as Def).States);
      for (const b of (s.Branches as Def[] | undefined) ?? []) visit(b.States);
    }
  };
  visit(def.States);
  return out;
}

export async function startSfnLocal(opts: SfnLocalOptions): Promise<SfnLocal> {
  const machines = new Map<string, { def: Def; types: Map<string, string>; resources: Map<string, string>; handlers: Record<string, (i: Json) => Promise<Json>> }>();
  const executions = new Map<string, LocalExecution>();
  const bind = opts.bind ?? sdkTasks({ endpoint: opts.awsEndpoint, region: opts.region, before: opts.before, after: opts.after });

  function run(stateMachineArn: string, name: string, input: string): LocalExecution {
    const m = machines.get(stateMachineArn)!;
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const events: HistoryEventJson[] = [];
    const add = (type: string, details: Record<string, unknown> = {}) => events.push({ id: events.length + 1, previousEventId: events.length, timestamp: now(), type, ...details });
    const sm = new StateMachine(m.def as never, { validationOptions: { checkArn: true, checkPaths: true } });
    add('ExecutionStarted', { executionStartedEventDetails: { input, inputDetails: { truncated: false }, roleArn: 'arn:aws:iam::123456789012:role/release' } });
    const run = sm.run(JSON.parse(input) as never, {
      overrides: { taskResourceLocalHandlers: m.handlers as never, ...(opts.waitMs ? { waitTimeOverrides: opts.waitMs } : {}), ...(opts.retryMs ? { retryIntervalOverrides: opts.retryMs } : {}) },
      noThrowOnAbort: true,
      context: {
        Execution: { Id: executionArn, Name: name },
        StateMachine: { Id: stateMachineArn },
        // Read when a state reads it: the interpreter has no per-state context.
        State: {
          get EnteredTime() {
            return new Date().toISOString();
          },
        },
      },
    } as never) as unknown as { abort(): void; result: Promise<Json>; eventLogs: AsyncIterable<Record<string, unknown>> };
    const ex: LocalExecution = {
      executionArn,
      stateMachineArn,
      name,
      input,
      status: 'RUNNING',
      startDate: now(),
      events,
      done: Promise.resolve(),
      abort(error, cause) {
        if (ex.status !== 'RUNNING') return;
        Object.assign(ex, { status: 'ABORTED', stopDate: now(), ...(error ? { error } : {}), ...(cause ? { cause } : {}) });
        add('ExecutionAborted', { executionAbortedEventDetails: { error, cause } });
        run.abort();
      },
    };
    const history = (async () => {
      for await (const e of run.eventLogs) {
        if (ex.status === 'ABORTED') continue;
        const state = e.state as { name: string; type: string; input?: Json; output?: Json } | undefined;
        const type = state ? (m.types.get(state.name) ?? state.type) : undefined;
        switch (e.type) {
          case 'StateEntered':
            add(`${type}StateEntered`, { stateEnteredEventDetails: { name: state!.name, input: JSON.stringify(state!.input) } });
            if (type === 'Task') {
              add('TaskScheduled', { taskScheduledEventDetails: { resource: m.resources.get(state!.name), region: opts.region } });
              add('TaskStarted');
            }
            if (type === 'Map') add('MapStateStarted', { mapStateStartedEventDetails: { length: 0 } });
            break;
          case 'StateExited':
            if (type === 'Task') add('TaskSucceeded', { taskSucceededEventDetails: {} });
            if (type === 'Map') add('MapStateSucceeded');
            add(`${type}StateExited`, { stateExitedEventDetails: { name: state!.name, output: JSON.stringify(state!.output) } });
            break;
          case 'StateFailed':
            add(type === 'Task' ? 'TaskFailed' : `${type}StateFailed`, { taskFailedEventDetails: { error: e.Error, cause: String(e.Cause) } });
            break;
          case 'StateRetried':
            add('TaskScheduled');
            add('TaskStarted');
            break;
          case 'MapIterationStarted':
          case 'MapIterationSucceeded':
          case 'MapIterationFailed':
            add(e.type, { mapIterationStartedEventDetails: { index: e.index } });
            break;
        }
      }
    })();
    ex.done = run.result.then(
      (output) => {
        if (ex.status !== 'RUNNING') return;
        Object.assign(ex, { status: 'SUCCEEDED', stopDate: now(), output: JSON.stringify(output) });
      },
      (err: { name?: string; message?: string; cause?: { name?: string; message?: string } }) => {
        if (ex.status !== 'RUNNING') return;
        // A Fail state's error and cause travel on the cause (FailStateError: name = Error, message = Cause).
        const error = err?.cause?.name ?? err?.name ?? 'States.Runtime';
        const cause = err?.cause?.message ?? err?.message ?? String(err);
        Object.assign(ex, { status: 'FAILED', stopDate: now(), error, cause });
      },
    ).then(async () => {
      await history;
      if (ex.status === 'SUCCEEDED') add('ExecutionSucceeded', { executionSucceededEventDetails: { output: ex.output } });
      if (ex.status === 'FAILED') add('ExecutionFailed', { executionFailedEventDetails: { error: ex.error, cause: ex.cause } });
    });
    return ex;
  }

  const api: Record<string, (b: Record<string, unknown>) => Json> = {
    StartExecution(b) {
      const arn = String(b.stateMachineArn);
      if (!machines.has(arn)) throw Object.assign(new Error(`State Machine Does Not Exist: '${arn}'`), { code: 'StateMachineDoesNotExist' });
      const name = String(b.name ?? randomUUID());
      const input = String(b.input ?? '{}');
      const existing = [...executions.values()].find((e) => e.stateMachineArn === arn && e.name === name);
      if (existing) {
        // Same name and input while running: the running execution, as Step Functions answers.
        if (existing.status === 'RUNNING' && existing.input === input) return { executionArn: existing.executionArn, startDate: existing.startDate };
        throw Object.assign(new Error(`Execution Already Exists: '${existing.executionArn}'`), { code: 'ExecutionAlreadyExists' });
      }
      const ex = run(arn, name, input);
      executions.set(ex.executionArn, ex);
      return { executionArn: ex.executionArn, startDate: ex.startDate };
    },
    DescribeExecution(b) {
      const ex = find(b.executionArn);
      const { events: _e, done: _d, abort: _a, ...rest } = ex;
      return rest;
    },
    StopExecution(b) {
      const ex = find(b.executionArn);
      ex.abort(b.error as string | undefined, b.cause as string | undefined);
      return { stopDate: ex.stopDate ?? now() };
    },
    GetExecutionHistory(b) {
      const ex = find(b.executionArn);
      const all = b.reverseOrder ? [...ex.events].reverse() : [...ex.events];
      const start = b.nextToken ? Number(b.nextToken) : 0;
      const max = Number(b.maxResults) || 100;
      const page = all.slice(start, start + max);
      return { events: page, ...(start + max < all.length ? { nextToken: String(start + max) } : {}) };
    },
    ListExecutions(b) {
      const list = [...executions.values()].filter((e) => e.stateMachineArn === b.stateMachineArn && (!b.statusFilter || e.status === b.statusFilter));
      return { executions: list.map((e) => ({ executionArn: e.executionArn, stateMachineArn: e.stateMachineArn, name: e.name, status: e.status, startDate: e.startDate, ...(e.stopDate ? { stopDate: e.stopDate } : {}) })) };
    },
  };
  function find(arn: unknown): LocalExecution {
    const ex = executions.get(String(arn));
    if (!ex) throw Object.assign(new Error(`Execution Does Not Exist: '${String(arn)}'`), { code: 'ExecutionDoesNotExist' });
    return ex;
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').replace(/^AWSStepFunctions\./, '');
      const reply = (status: number, payload: Json) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(payload));
      };
      const handler = api[op];
      if (!handler) return reply(400, { __type: 'UnknownOperationException', message: `stand-in does not serve ${op}` });
      try {
        reply(200, handler(body ? (JSON.parse(body) as Record<string, unknown>) : {}));
      } catch (err) {
        const e = err as { code?: string; message?: string };
        reply(400, { __type: e.code ?? 'InternalFailure', message: e.message });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    endpoint,
    register(stateMachineArn, definition) {
      const def = JSON.parse(JSON.stringify(definition)) as Def;
      const types = new Map<string, string>();
      const resources = new Map<string, string>();
      const handlers: Record<string, (i: Json) => Promise<Json>> = {};
      for (const [name, s] of allStates(def)) {
        types.set(name, String(s.Type));
        if (s.Type !== 'Task') continue;
        resources.set(name, String(s.Resource));
        handlers[name] = bind(String(s.Resource));
      }
      machines.set(stateMachineArn, { def, types, resources, handlers });
    },
    executions: () => [...executions.values()],
    execution: (arn) => executions.get(arn),
    async settle() {
      await Promise.all([...executions.values()].map((e) => e.done));
    },
    async close() {
      for (const e of executions.values()) e.abort('States.Aborted', 'stand-in closed');
      await Promise.all([...executions.values()].map((e) => e.done.catch(() => undefined)));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
