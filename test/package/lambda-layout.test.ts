/**
 * The packaged zips run as Lambda lays them out: each zip in its own /var/task, the pg layer in
 * /opt, NODE_PATH as the Node.js runtime sets it, index.handler loaded with require() in a fresh
 * Node process; every DB function invoked against a real PostgreSQL.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { loadEnv } from '../../src/config/load.ts';
import { FUNCTION_NAMES } from '../../src/config/types.ts';
import { packageArtifacts, type ArtifactManifest } from '../../src/package/index.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { lambdaBaseEnv, layOut, startContainer, type LambdaLayout } from '../support/lambda.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { createTestDatabase, type TestDatabase } from '../support/pg.ts';

type DbFunction = 'migrate' | 'list-datasets' | 'get-dataset' | 'write-dataset' | 'update-catalog-db' | 'audit-relay';
const API = '/storage/v1/catalog';
const caller = { principalId: 'user-1', tenantId: 'tenant-a', roles: 'platform' };

describe('packaged zips in the Lambda layout', function () {
  this.timeout(180_000);
  let root: string;
  let manifest: ArtifactManifest;
  let layout: LambdaLayout;
  let db: TestDatabase;
  let region: string;

  before(async () => {
    const config = await loadEnv('dev');
    region = config.account.region;
    root = await mkdtemp(join(tmpdir(), 'catalogctl-lambda-'));
    manifest = await packageArtifacts({ config, rootDir: resolve('.'), outDir: join(root, 'build'), reporter: new RecordingReporter() });
    layout = layOut(manifest, join(root, 'fs'));
    db = await createTestDatabase('lambda_layout');
  });
  after(async () => {
    await db?.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('resolves pg from the layer through NODE_PATH, where import() would not', () => {
    const env = lambdaBaseEnv(layout, 'migrate', manifest.runtime, region);
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(require.resolve("pg"))'], { cwd: layout.taskRoot('migrate'), env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, join(layout.opt, 'nodejs/node_modules/pg/index.js'));
    // Why the bundles must require(): ESM resolution ignores NODE_PATH.
    const esm = spawnSync(process.execPath, ['-e', 'import("pg").then(() => process.exit(0), (e) => { console.error(e.code); process.exit(7) })'], { cwd: layout.taskRoot('migrate'), env, encoding: 'utf8' });
    assert.equal(esm.status, 7);
    assert.match(esm.stderr, /ERR_MODULE_NOT_FOUND/);
  });

  it('loads index.handler of every function with nothing but the zip, the layer and the runtime', async () => {
    for (const fn of FUNCTION_NAMES) {
      const c = await startContainer(layout, fn, lambdaBaseEnv(layout, fn, manifest.runtime, region));
      await c.stop();
    }
  });

  it('invokes every DB function against PostgreSQL', async () => {
    const moto = await getMoto();
    const eb = new EventBridgeClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    const busArn = (await eb.send(new CreateEventBusCommand({ Name: `layout-${randomUUID()}` }))).EventBusArn!;
    const env = (fn: string) => ({
      ...lambdaBaseEnv(layout, fn, manifest.runtime, moto.region),
      DATABASE_URL: db.url,
      AUDIT_ASYNC: 'false',
      EVIDENCE_BUS_ARN: busArn,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    });
    const run = async (fn: DbFunction, event: unknown) => {
      const c = await startContainer(layout, fn, env(fn));
      try {
        const r = await c.invoke(event);
        assert.ok(r.ok, `${fn}: ${JSON.stringify(r)}\n${c.logs()}`);
        return r.result as Record<string, unknown>;
      } finally {
        await c.stop();
      }
    };
    const migrated = await run('migrate', {});
    assert.ok((migrated.applied as number[]).length > 0);
    const created = await run('write-dataset', { httpMethod: 'POST', resource: `${API}/datasets`, body: JSON.stringify({ name: 'orders' }), requestContext: { requestId: 'r1', authorizer: caller } });
    assert.equal(created.statusCode, 201, JSON.stringify(created));
    const id = (JSON.parse(created.body as string) as { id: string }).id;
    const listed = await run('list-datasets', { httpMethod: 'GET', resource: `${API}/datasets`, requestContext: { requestId: 'r2', authorizer: caller } });
    assert.equal(listed.statusCode, 200);
    assert.deepEqual((JSON.parse(listed.body as string) as { items: { id: string }[] }).items.map((i) => i.id), [id]);
    const got = await run('get-dataset', { httpMethod: 'GET', resource: `${API}/datasets/{id}`, pathParameters: { id }, requestContext: { requestId: 'r3', authorizer: caller } });
    assert.equal(got.statusCode, 200);
    const catalog = await run('write-dataset', { httpMethod: 'POST', resource: `${API}/catalogs`, body: JSON.stringify({ catalog_name: 'kb1' }), requestContext: { requestId: 'r4', authorizer: caller } });
    assert.equal(catalog.statusCode, 202, JSON.stringify(catalog));
    const localId = (JSON.parse(catalog.body as string) as { local_catalog_id: number }).local_catalog_id;
    const updated = await run('update-catalog-db', { local_catalog_id: localId, catalog_name: 'kb1', kb_name: 'kb-1', data_source_name: 'ds-1' });
    assert.equal(updated.updated, true);
    // AUDIT_ASYNC=false left both audit events unsent: the relay publishes them.
    const relayed = await run('audit-relay', {});
    assert.deepEqual(relayed, { sent: 2, failed: 0 });
  });
});
