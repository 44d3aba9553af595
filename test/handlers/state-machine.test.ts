/**
 * The rendered state_machine.json, executed locally (aws-local-stepfunctions) with the two real
 * poller handlers against PostgreSQL and a loopback HTTP server standing in for the external API.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { handler as checkStatus } from '../../src/handlers/check-catalog-status/index.ts';
import { handler as updateDb } from '../../src/handlers/update-catalog-db/index.ts';
import { buildStateMachine } from '../../src/templates/index.ts';
import { handlerEnv, type HandlerEnv } from './env.ts';

const CHECK_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:catalog-dev-check-catalog-status';
const UPDATE_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:catalog-dev-update-catalog-db';

function machine(config: EnvConfig): StateMachine {
  // What CloudFormation's Fn::Sub does with the placeholders at deploy time.
  const text = JSON.stringify(buildStateMachine(config)).replaceAll('${CheckCatalogStatusFunctionArn}', CHECK_ARN).replaceAll('${UpdateCatalogDbFunctionArn}', UPDATE_ARN);
  return new StateMachine(JSON.parse(text));
}

describe('status poller state machine (local execution, real handlers)', function () {
  this.timeout(60_000);
  let env: HandlerEnv;
  let server: Server;
  let respond: (n: number) => { status: number; body?: unknown };
  let calls = 0;
  let config: EnvConfig;
  const checks: unknown[] = [];

  before(async () => {
    env = await handlerEnv('statemachine');
    server = createServer((_req, res) => {
      const r = respond(++calls);
      res.writeHead(r.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(r.body ?? {}));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    process.env.EXTERNAL_API_BASE_URL = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    delete process.env.TOKEN_SECRET_ARN;
    const dev = await loadEnv('dev');
    config = { ...dev, poller: { ...dev.poller, maxAttempts: 4 } };
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await env.close();
  });

  async function run(catalogId: number) {
    calls = 0;
    checks.length = 0;
    await env.query("INSERT INTO catalog (id, catalog_name) OVERRIDING SYSTEM VALUE VALUES ($1, 'test_catalog')", [catalogId]);
    const execution = machine(config).run(
      { catalog_name: 'test_catalog', local_catalog_id: catalogId, jwt_token: 'your_jwt_token_here', attempt_count: 0 },
      {
        overrides: {
          taskResourceLocalHandlers: {
            CheckCatalogStatus: async (input: unknown) => {
              checks.push(input);
              return (await checkStatus(input as never)) as never;
            },
            UpdateCatalogInDB: async (input: unknown) => (await updateDb(input as never)) as never,
          },
          waitTimeOverrides: { Wait: 0 },
          retryIntervalOverrides: { CheckCatalogStatus: 0, UpdateCatalogInDB: 0 },
        },
      },
    );
    return execution.result;
  }

  it('ready after N checks → the row is updated and the execution succeeds', async () => {
    respond = (n) => ({ status: 200, body: n < 3 ? { kb_name: 'PENDING', data_source_name: 'PENDING' } : { kb_name: 'kb_42', data_source_name: 'ds_42' } });
    const out = (await run(1)) as Record<string, unknown>;
    assert.equal(calls, 3);
    assert.deepEqual(out, { success: true, updated: true, rows_updated: 1, catalog_id: 1, catalog_name: 'test_catalog', kb_name: 'kb_42', data_source_name: 'ds_42' });
    const rows = await env.query('SELECT kb_name, data_source_name, status FROM catalog WHERE id = 1');
    assert.deepEqual(rows, [{ kb_name: 'kb_42', data_source_name: 'ds_42', status: 'READY' }]);
    // The loop carries the seed's execution input forward, counting attempts.
    assert.deepEqual((checks as { attempt_count: number }[]).map((c) => c.attempt_count), [0, 1, 2]);
  });

  it('never ready → CatalogPollTimeout after maxAttempts checks, row untouched', async () => {
    respond = () => ({ status: 200, body: { kb_name: 'PENDING', data_source_name: 'PENDING' } });
    await assert.rejects(run(2), (err: Error) => {
      // The Fail state's error name travels on the cause (FailStateError: name = Error, message = Cause).
      const cause = err.cause as Error & { name: string };
      assert.equal(err.name, 'ExecutionError');
      assert.equal(cause.name, 'CatalogPollTimeout');
      assert.match(cause.message, /not ready after 4 checks/);
      return true;
    });
    assert.equal(calls, config.poller.maxAttempts);
    const rows = await env.query('SELECT kb_name FROM catalog WHERE id = 2');
    assert.deepEqual(rows, [{ kb_name: null }]);
  });

  it('transient 5xx → retried (inside the handler, then by the state machine) until it succeeds', async () => {
    // Three 503s exhaust the handler's own tries; the Task's Retry on ExternalApiError runs it again.
    respond = (n) => (n <= 3 ? { status: 503 } : { status: 200, body: { kb_name: 'kb_7', data_source_name: 'ds_7' } });
    const out = (await run(3)) as Record<string, unknown>;
    assert.equal(out.rows_updated, 1);
    assert.equal(calls, 4);
    assert.equal(checks.length, 2, 'the CheckCatalogStatus task ran twice');
  });
});
