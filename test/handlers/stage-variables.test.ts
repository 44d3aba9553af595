/**
 * Stage variables are the toggle (issue 14): the DRR flag is set on the emulator's API stage with
 * the same call release and rollback use (UpdateStage through src/aws), the proxy event is built
 * from the stage's variables as API Gateway builds it, and describe changes behaviour with no
 * redeploy and no change to the function's environment. `catalogctl local` passes the env file's
 * stage variables in its events the same way.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIGatewayClient, CreateDeploymentCommand, CreateRestApiCommand, CreateStageCommand, GetResourcesCommand, PutIntegrationCommand, PutMethodCommand } from '@aws-sdk/client-api-gateway';
import { createApiGatewayApi, type ApiGatewayApi } from '../../src/aws/apigateway.ts';
import { handler as authorizer } from '../../src/handlers/authorizer/index.ts';
import { handler as getDataset } from '../../src/handlers/get-dataset/index.ts';
import { handler as listDatasets } from '../../src/handlers/list-datasets/index.ts';
import { handler as migrate } from '../../src/handlers/migrate/index.ts';
import { handler as writeDataset } from '../../src/handlers/write-dataset/index.ts';
import { flag } from '../../src/handlers/shared/env.ts';
import { resetPool } from '../../src/handlers/shared/db.ts';
import { clearCursorKeys } from '../../src/handlers/shared/cursor.ts';
import type { ProxyEvent } from '../../src/handlers/shared/http.ts';
import { loadOrCreateKey, mintToken } from '../../src/local/keys.ts';
import { startLocal, type HandlerSet } from '../../src/local/server.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';
import { captureLogs, handlerEnv, type HandlerEnv } from './env.ts';

const BASE = '/storage/v1/catalog';

describe('stage variables toggle the handlers without a deploy', function () {
  this.timeout(60_000);
  let env: HandlerEnv;
  let api: ApiGatewayApi;
  let restApiId = '';
  const stageName = 'prod';
  let datasetId = '';
  let logs: ReturnType<typeof captureLogs>;

  /** The proxy event API Gateway sends for GET /datasets/{id} on the stage as it is now. */
  async function describeOnStage(extra: Partial<ProxyEvent> = {}) {
    const stage = await api.getStage(restApiId, stageName);
    const event: ProxyEvent = {
      httpMethod: 'GET',
      resource: `${BASE}/datasets/{id}`,
      pathParameters: { id: datasetId },
      stageVariables: Object.keys(stage.variables).length ? stage.variables : null,
      requestContext: { requestId: 'sv', authorizer: { principalId: 'alice', tenantId: 'tenant-a', roles: 'owner' } },
      ...extra,
    };
    return { event, result: await getDataset(event) };
  }

  before(async () => {
    logs = captureLogs();
    const moto = await getMoto();
    await moto.reset();
    env = await handlerEnv('stage_vars');
    process.env.DRR_INTEGRATION = 'true'; // the function's env says on; the stage decides
    const apigw = new APIGatewayClient({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS });
    restApiId = (await apigw.send(new CreateRestApiCommand({ name: 'catalog' }))).id!;
    const root = (await apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
    await apigw.send(new PutMethodCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
    await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', type: 'MOCK' }));
    const dep = await apigw.send(new CreateDeploymentCommand({ restApiId }));
    await apigw.send(new CreateStageCommand({ restApiId, stageName, deploymentId: dep.id!, variables: { DRR_INTEGRATION: 'true', FEATURE_FRESHNESS_V2: 'false' } }));
    api = await createApiGatewayApi({ region: moto.region, endpoint: moto.endpoint });
    const created = await writeDataset({
      httpMethod: 'POST',
      resource: `${BASE}/datasets`,
      body: JSON.stringify({ name: 'toggled', sla_minutes: 60, last_refreshed_at: new Date().toISOString() }),
      requestContext: { requestId: 'sv', authorizer: { principalId: 'alice', tenantId: 'tenant-a', roles: 'owner' } },
    });
    assert.equal(created.statusCode, 201, created.body);
    datasetId = (JSON.parse(created.body) as { id: string }).id;
  });
  after(async () => {
    logs.restore();
    await env.close();
  });

  it('DRR_INTEGRATION flipped at the stage turns freshness off and on; ETags follow; env unchanged', async () => {
    const on = await describeOnStage();
    assert.equal(on.result.statusCode, 200, on.result.body);
    assert.equal((JSON.parse(on.result.body) as { freshness?: { status: string } }).freshness?.status, 'fresh');

    assert.deepEqual(await api.setStageVariables(restApiId, stageName, { DRR_INTEGRATION: 'false', FEATURE_FRESHNESS_V2: 'false' }), ['DRR_INTEGRATION']);
    const off = await describeOnStage();
    assert.equal(off.event.stageVariables?.DRR_INTEGRATION, 'false');
    assert.equal(off.result.statusCode, 200);
    assert.equal((JSON.parse(off.result.body) as { freshness?: unknown }).freshness, undefined, 'no freshness with the stage flag off');
    assert.notEqual(off.result.headers.ETag, on.result.headers.ETag, 'a cache holding the other representation is revalidated');
    assert.equal(process.env.DRR_INTEGRATION, 'true');

    // A write judged under the same stage: If-Match with the ETag describe gave under this flag.
    const put = await writeDataset({ ...off.event, httpMethod: 'PUT', headers: { 'If-Match': off.result.headers.ETag! }, body: JSON.stringify({ description: 'under drr off' }) });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal((JSON.parse(put.body) as { freshness?: unknown }).freshness, undefined);

    await api.setStageVariables(restApiId, stageName, { DRR_INTEGRATION: 'true', FEATURE_FRESHNESS_V2: 'false' });
    const back = await describeOnStage();
    assert.ok((JSON.parse(back.result.body) as { freshness?: unknown }).freshness, 'freshness back');
  });

  it('without stage variables, or with one that is not a boolean, the function env decides', async () => {
    await api.setStageVariables(restApiId, stageName, {});
    const none = await describeOnStage();
    assert.equal(none.event.stageVariables, null, 'API Gateway sends null when the stage has no variables');
    assert.ok((JSON.parse(none.result.body) as { freshness?: unknown }).freshness);
    await api.setStageVariables(restApiId, stageName, { DRR_INTEGRATION: 'maybe' });
    assert.ok((JSON.parse((await describeOnStage()).result.body) as { freshness?: unknown }).freshness);
    process.env.DRR_INTEGRATION = 'false';
    try {
      assert.equal((JSON.parse((await describeOnStage()).result.body) as { freshness?: unknown }).freshness, undefined);
      assert.equal(flag({ stageVariables: { FEATURE_FRESHNESS_V2: 'TRUE' } }, 'FEATURE_FRESHNESS_V2', false), true, 'any flag in the stage variables');
      assert.equal(flag({ stageVariables: { FEATURE_FRESHNESS_V2: '0' } }, 'FEATURE_FRESHNESS_V2', true), false);
      assert.equal(flag(undefined, 'FEATURE_FRESHNESS_V2', true), true);
    } finally {
      process.env.DRR_INTEGRATION = 'true';
    }
  });

  it('catalogctl local puts the env file\'s stage variables in its events', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-sv-'));
    await resetPool();
    clearCursorKeys();
    const handlers = { 'list-datasets': listDatasets, 'get-dataset': getDataset, 'write-dataset': writeDataset, authorizer, migrate } as unknown as HandlerSet;
    // The env's app settings say DRR on; its stage variables say off: the stage wins, as in AWS.
    const local = await startLocal({ port: 0, databaseUrl: env.db.url, stateDir, loadHandlers: async () => handlers, reporter: new RecordingReporter(), app: { readPageLimit: 500, cacheTtlSec: 60, drrIntegration: true, auditAsync: false, dbMaxConn: 2 }, stageVariables: { DRR_INTEGRATION: 'false' } });
    try {
      const token = await mintToken(await loadOrCreateKey(stateDir), { tenant: 'tenant-a', roles: ['reader'], ttlSeconds: 60 });
      const res = await fetch(`${local.url}${BASE}/datasets/${datasetId}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { name: string; freshness?: unknown };
      assert.equal(body.name, 'toggled');
      assert.equal(body.freshness, undefined);
    } finally {
      await local.stop();
      await resetPool();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
