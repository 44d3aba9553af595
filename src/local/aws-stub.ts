/**
 * The few AWS APIs the handlers call, served on a loopback port that AWS_ENDPOINT_URL points the
 * handlers' SDK clients at: EventBridge PutEvents lands in the local audit sink, Step Functions
 * StartExecution / DescribeExecution run the poller locally, Secrets Manager GetSecretValue serves
 * the poller's external API token. Anything else is refused by name, so a
 * handler calling an API this does not serve fails loudly instead of silently passing.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditSink } from './audit-sink.ts';
import type { LocalPoller } from './poller.ts';

export interface AwsStub {
  endpoint: string;
  close(): Promise<void>;
}

export interface StubDeps {
  audit: AuditSink;
  poller: () => LocalPoller | undefined;
  /** Secrets the handlers may read by ARN (the poller's external API token). */
  secrets: Record<string, () => Promise<string>>;
}

export async function startAwsStub(deps: StubDeps): Promise<AwsStub> {
  const server: Server = createServer((req, res) => {
    readBody(req)
      .then((body) => dispatch(req, body, deps))
      .then(
        ([status, payload]) => send(res, status, payload),
        (err: Error & { code?: string }) => send(res, 400, { __type: err.code ?? 'ValidationException', message: err.message }),
      );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function dispatch(req: IncomingMessage, body: Buffer, deps: StubDeps): Promise<[number, unknown]> {
  const target = String(req.headers['x-amz-target'] ?? '');
  const input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  switch (target) {
    case 'AWSEvents.PutEvents': {
      const entries = Array.isArray(input.Entries) ? (input.Entries as Record<string, unknown>[]) : [];
      const out = entries.map((e) => {
        const id = randomUUID();
        let detail: unknown = e.Detail;
        try {
          detail = typeof e.Detail === 'string' ? JSON.parse(e.Detail) : e.Detail;
        } catch {
          // Kept as the raw string.
        }
        deps.audit.add({
          id,
          receivedAt: new Date().toISOString(),
          eventBusName: (e.EventBusName as string) ?? null,
          source: (e.Source as string) ?? null,
          detailType: (e.DetailType as string) ?? null,
          resources: Array.isArray(e.Resources) ? (e.Resources as string[]) : [],
          detail,
        });
        return { EventId: id };
      });
      return [200, { FailedEntryCount: 0, Entries: out }];
    }
    case 'AWSStepFunctions.StartExecution': {
      const poller = deps.poller();
      if (!poller) return [400, { __type: 'StateMachineDoesNotExist', message: 'the local poller is not running' }];
      const execInput = typeof input.input === 'string' ? (JSON.parse(input.input) as unknown) : {};
      const rec = await poller.start(execInput, typeof input.name === 'string' ? input.name : undefined);
      return [200, { executionArn: rec.executionArn, startDate: Date.parse(rec.startDate) / 1000 }];
    }
    case 'AWSStepFunctions.DescribeExecution': {
      const rec = deps.poller()?.describe(String(input.executionArn));
      if (!rec) return [400, { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${String(input.executionArn)}'` }];
      return [
        200,
        {
          executionArn: rec.executionArn,
          name: rec.name,
          status: rec.status === 'ABORTED' ? 'ABORTED' : rec.status,
          startDate: Date.parse(rec.startDate) / 1000,
          ...(rec.stopDate ? { stopDate: Date.parse(rec.stopDate) / 1000 } : {}),
          input: JSON.stringify(rec.input),
          ...(rec.output !== undefined ? { output: JSON.stringify(rec.output) } : {}),
          ...(rec.error ? { error: rec.error, cause: rec.cause } : {}),
        },
      ];
    }
    case 'secretsmanager.GetSecretValue': {
      const get = deps.secrets[String(input.SecretId)];
      if (!get) return [400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }];
      return [200, { ARN: String(input.SecretId), Name: String(input.SecretId).split(':').pop(), SecretString: await get(), VersionId: 'local', VersionStages: ['AWSCURRENT'] }];
    }
    default:
      return [400, { __type: 'UnknownOperationException', message: `catalogctl local does not serve ${target || req.method + ' ' + req.url}` }];
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1_048_576) req.destroy(new Error('request body over 1 MB'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
