/**
 * The database credentials cannot be read: Secrets Manager throttling, failing or not answering is
 * a 503 with Retry-After (the client retries; not a bug for the 5xx alarm to page on), while a
 * secret that does not exist or may not be read is a 500 (a misconfiguration). A stand-in
 * Secrets Manager on loopback answers each way; nothing reaches a database.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { clearSecretCache } from '../../src/handlers/shared/secrets.ts';

describe('database credentials that cannot be read', function () {
  this.timeout(30_000);
  let server: Server;
  let answer: { status: number; type: string } = { status: 500, type: 'InternalServiceError' };
  let calls = 0;
  const saved: Record<string, string | undefined> = {};
  const env = { DATABASE_URL: undefined, DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-app-AbCdEf', DB_HOST: '127.0.0.1', DB_PORT: '1', DB_NAME: 'catalog', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL: '' };

  before(async () => {
    server = createServer((req, res) => {
      calls++;
      req.resume();
      res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: `com.amazonaws.secretsmanager#${answer.type}`, message: 'stand-in' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await resetPool();
    clearSecretCache();
    await new Promise((r) => server.close(r));
  });
  beforeEach(async () => {
    await resetPool();
    clearSecretCache();
    calls = 0;
  });

  const list = () =>
    listDatasets({ httpMethod: 'GET', requestContext: { requestId: 'r-1', authorizer: { tenantId: 'tenant-a', principalId: 'u-1', roles: 'reader' } } } as never, { getRemainingTimeInMillis: () => 10_000 } as never) as Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;

  for (const [status, type] of [
    [500, 'InternalServiceError'],
    [400, 'ThrottlingException'],
  ] as const) {
    it(`${status} ${type} from Secrets Manager: 503 with Retry-After, after the client's own retries`, async () => {
      answer = { status, type };
      const res = await list();
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['Retry-After'], '5');
      assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'database_unavailable');
      assert.ok(calls >= 2, `retried before giving up (${calls} calls)`);
      assert.doesNotMatch(res.body, /stand-in|secretsmanager|arn:/);
    });
  }

  for (const type of ['ResourceNotFoundException', 'AccessDeniedException']) {
    it(`400 ${type}: a misconfiguration, 500 without detail`, async () => {
      answer = { status: 400, type };
      const res = await list();
      assert.equal(res.statusCode, 500, res.body);
      assert.equal(calls, 1, 'not retried');
      assert.doesNotMatch(res.body, /stand-in|secretsmanager|arn:/);
    });
  }
});
