/**
 * Internal writes: create, update and delete a dataset; create a catalog (which starts the
 * poller). Only a dataset's owner or the platform role may change it; updates and deletes need
 * If-Match with the dataset's current ETag. Each change and its audit event commit together.
 */
import type pg from 'pg';
import { markFailed, markSent, publish, recordAudit, type OutboxRow } from '../shared/audit.ts';
import { awsJson, STEP_FUNCTIONS } from '../shared/aws-json.ts';
import { DATASET_COLUMNS, datasetEtag, describe, type DatasetRow } from '../shared/datasets.ts';
import { inTransaction, withClient } from '../shared/db.ts';
import { settings } from '../shared/env.ts';
import { apiHandler, badRequest, caller, datasetId, header, HttpError, json, parseBody, type Caller, type ProxyEvent, type ProxyResult } from '../shared/http.ts';
import { normalizeTimestamp } from '../shared/input.ts';
import { OWNER, PLATFORM } from '../shared/roles.ts';

function str(body: Record<string, unknown>, key: string, opts: { required: boolean; max: number }): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (opts.required) throw badRequest('invalid_body', `${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > opts.max) throw badRequest('invalid_body', `${key} must be a string of 1–${opts.max} characters`);
  return v;
}

function datasetFields(body: Record<string, unknown>, required: boolean) {
  const allowed = new Set(['name', 'description', 'descriptor', 'sla_minutes', 'last_refreshed_at']);
  for (const k of Object.keys(body)) if (!allowed.has(k)) throw badRequest('invalid_body', `unknown field ${k}`);
  const descriptor = body.descriptor;
  if (descriptor !== undefined && (descriptor === null || typeof descriptor !== 'object' || Array.isArray(descriptor))) throw badRequest('invalid_body', 'descriptor must be an object');
  const sla = body.sla_minutes;
  if (sla !== undefined && sla !== null && !(Number.isInteger(sla) && (sla as number) > 0 && (sla as number) <= 525_600)) throw badRequest('invalid_body', 'sla_minutes must be a positive integer');
  // Sent on as the UTC text PostgreSQL reads back as the same instant (see normalizeTimestamp).
  const raw = body.last_refreshed_at;
  const refreshed = raw === undefined || raw === null ? raw : typeof raw === 'string' ? normalizeTimestamp(raw) : undefined;
  if (raw !== undefined && raw !== null && refreshed === undefined) throw badRequest('invalid_body', 'last_refreshed_at must be an RFC 3339 timestamp with a time zone, e.g. 2024-05-01T12:00:00Z');
  return {
    name: str(body, 'name', { required, max: 256 }),
    description: body.description === undefined ? undefined : (str(body, 'description', { required: false, max: 4000 }) ?? ''),
    descriptor: descriptor as Record<string, unknown> | undefined,
    sla_minutes: sla as number | null | undefined,
    last_refreshed_at: refreshed as string | null | undefined,
  };
}

function requireWriter(who: Caller): void {
  if (!who.roles.includes(PLATFORM) && !who.roles.includes(OWNER)) throw new HttpError(403, 'forbidden', 'writes need the owner or platform role');
}

async function lockDataset(c: pg.PoolClient, who: Caller, id: string): Promise<DatasetRow> {
  const row = (await c.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM catalog_dataset WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, [who.tenantId, id])).rows[0];
  if (!row) throw new HttpError(404, 'not_found', 'dataset not found');
  if (!who.roles.includes(PLATFORM) && !(who.roles.includes(OWNER) && row.owner === who.sub)) throw new HttpError(403, 'forbidden', 'only the dataset owner or the platform role may change it');
  return row;
}

function checkIfMatch(event: ProxyEvent, row: DatasetRow, drr: boolean): void {
  const ifMatch = header(event, 'If-Match');
  if (!ifMatch) throw new HttpError(428, 'precondition_required', 'If-Match with the dataset ETag is required');
  const etag = datasetEtag(row, { drr, now: new Date() });
  if (ifMatch !== '*' && !ifMatch.split(',').map((s) => s.trim()).includes(etag)) throw new HttpError(412, 'precondition_failed', 'the dataset changed since it was read');
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

async function emit(rows: OutboxRow[]): Promise<void> {
  const s = settings();
  if (!s.auditAsync || !s.evidenceBusArn || rows.length === 0) return;
  // After commit: a publish failure leaves the row unsent for the relay, never fails the write.
  try {
    const { sent, failed } = await publish(s.evidenceBusArn, rows);
    await withClient(async (c) => {
      await markSent(c, sent);
      await markFailed(c, failed);
    });
  } catch (err) {
    console.error(JSON.stringify({ level: 'warn', message: 'audit publish deferred to relay', error: (err as Error).message }));
  }
}

async function createDataset(event: ProxyEvent, who: Caller): Promise<ProxyResult> {
  requireWriter(who);
  const f = datasetFields(parseBody(event), true);
  const s = settings(event);
  let audit: OutboxRow | undefined;
  try {
    const row = await inTransaction(async (c) => {
      const r = (
        await c.query<DatasetRow>(
          `INSERT INTO catalog_dataset (tenant_id, name, owner, description, descriptor, sla_minutes, last_refreshed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${DATASET_COLUMNS}`,
          [who.tenantId, f.name, who.sub, f.description ?? '', JSON.stringify(f.descriptor ?? {}), f.sla_minutes ?? null, f.last_refreshed_at ?? null],
        )
      ).rows[0]!;
      audit = await recordAudit(c, who.tenantId, 'CatalogDatasetCreated', { dataset_id: r.id, name: r.name, actor: who.sub, version: r.version });
      return r;
    });
    await emit(audit ? [audit] : []);
    const opts = { drr: s.drrIntegration, now: new Date() };
    return json(201, describe(row, opts), { ETag: datasetEtag(row, opts), Location: `/storage/v1/catalog/datasets/${row.id}` });
  } catch (err) {
    if (isUniqueViolation(err)) throw new HttpError(409, 'conflict', `a dataset named ${f.name} already exists`);
    throw err;
  }
}

async function updateDataset(event: ProxyEvent, who: Caller): Promise<ProxyResult> {
  requireWriter(who);
  const id = datasetId(event);
  const f = datasetFields(parseBody(event), false);
  const s = settings(event);
  let audit: OutboxRow | undefined;
  try {
    const row = await inTransaction(async (c) => {
      const current = await lockDataset(c, who, id);
      checkIfMatch(event, current, s.drrIntegration);
      const r = (
        await c.query<DatasetRow>(
          `UPDATE catalog_dataset SET
             name = COALESCE($3, name), description = COALESCE($4, description), descriptor = COALESCE($5::jsonb, descriptor),
             sla_minutes = CASE WHEN $6::boolean THEN $7::integer ELSE sla_minutes END,
             last_refreshed_at = CASE WHEN $8::boolean THEN $9::timestamptz ELSE last_refreshed_at END,
             version = version + 1, updated_at = now()
           WHERE tenant_id = $1 AND id = $2 RETURNING ${DATASET_COLUMNS}`,
          [who.tenantId, id, f.name ?? null, f.description ?? null, f.descriptor ? JSON.stringify(f.descriptor) : null, f.sla_minutes !== undefined, f.sla_minutes ?? null, f.last_refreshed_at !== undefined, f.last_refreshed_at ?? null],
        )
      ).rows[0]!;
      audit = await recordAudit(c, who.tenantId, 'CatalogDatasetUpdated', { dataset_id: id, actor: who.sub, version: r.version });
      return r;
    });
    await emit(audit ? [audit] : []);
    const opts = { drr: s.drrIntegration, now: new Date() };
    return json(200, describe(row, opts), { ETag: datasetEtag(row, opts) });
  } catch (err) {
    if (isUniqueViolation(err)) throw new HttpError(409, 'conflict', `a dataset named ${f.name} already exists`);
    throw err;
  }
}

async function deleteDataset(event: ProxyEvent, who: Caller): Promise<ProxyResult> {
  requireWriter(who);
  const id = datasetId(event);
  const s = settings(event);
  let audit: OutboxRow | undefined;
  await inTransaction(async (c) => {
    const current = await lockDataset(c, who, id);
    checkIfMatch(event, current, s.drrIntegration);
    await c.query('DELETE FROM catalog_dataset WHERE tenant_id = $1 AND id = $2', [who.tenantId, id]);
    audit = await recordAudit(c, who.tenantId, 'CatalogDatasetDeleted', { dataset_id: id, actor: who.sub, version: current.version });
  });
  await emit(audit ? [audit] : []);
  return { statusCode: 204, headers: {}, body: '' };
}

async function startPoller(input: Record<string, unknown>, name: string): Promise<string | undefined> {
  const arn = settings().stateMachineArn;
  if (!arn) return undefined;
  // A signed request, not the SDK client: the zip stays ≈10 KB and starts faster (aws-json.ts).
  const out = await awsJson(STEP_FUNCTIONS, 'StartExecution', { stateMachineArn: arn, name, input: JSON.stringify(input) });
  return typeof out.executionArn === 'string' ? out.executionArn : undefined;
}

async function createCatalog(event: ProxyEvent, who: Caller): Promise<ProxyResult> {
  requireWriter(who);
  const body = parseBody(event);
  for (const k of Object.keys(body)) if (k !== 'catalog_name') throw badRequest('invalid_body', `unknown field ${k}`);
  const name = str(body, 'catalog_name', { required: true, max: 128 })!;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw badRequest('invalid_body', 'catalog_name may contain letters, digits, _ . -');
  let audit: OutboxRow | undefined;
  const row = await inTransaction(async (c) => {
    const r = (await c.query<{ id: string }>('INSERT INTO catalog (tenant_id, catalog_name) VALUES ($1, $2) RETURNING id', [who.tenantId, name])).rows[0]!;
    audit = await recordAudit(c, who.tenantId, 'CatalogCreated', { local_catalog_id: Number(r.id), catalog_name: name, actor: who.sub });
    return r;
  });
  await emit(audit ? [audit] : []);
  // The seed's execution input. The bearer token stays out of execution history: the poller reads
  // it from TOKEN_SECRET_ARN instead (jwt_token is empty).
  const input = { catalog_name: name, local_catalog_id: Number(row.id), jwt_token: '', attempt_count: 0 };
  const executionArn = await startPoller(input, `catalog-${row.id}-${Date.now()}`);
  if (executionArn) await withClient((c) => c.query('UPDATE catalog SET execution_arn = $2 WHERE id = $1', [row.id, executionArn]));
  return json(202, { local_catalog_id: Number(row.id), catalog_name: name, status: 'PENDING', execution_arn: executionArn ?? null });
}

export const handler = apiHandler(async (event) => {
  const who = caller(event);
  const route = `${event.httpMethod} ${event.resource ?? event.path ?? ''}`;
  if (route === 'POST /storage/v1/catalog/datasets') return createDataset(event, who);
  if (route === 'PUT /storage/v1/catalog/datasets/{id}') return updateDataset(event, who);
  if (route === 'DELETE /storage/v1/catalog/datasets/{id}') return deleteDataset(event, who);
  if (route === 'POST /storage/v1/catalog/catalogs') return createCatalog(event, who);
  throw new HttpError(404, 'no_route', 'no such route');
});
