/**
 * Audit events: written to audit_outbox inside the caller's transaction (so a committed change
 * always has its event), then published to the Evidence Ledger bus when AUDIT_ASYNC is on. What
 * fails to publish stays unsent and the audit-relay function republishes it.
 */
import type pg from 'pg';
import { awsJson, EVENTBRIDGE } from './aws-json.ts';

export const AUDIT_SOURCE = 'catalog.service';

export interface OutboxRow {
  id: string;
  event_id: string;
  tenant_id: string;
  detail_type: string;
  detail: Record<string, unknown>;
  created_at: Date;
}

export async function recordAudit(c: pg.PoolClient, tenantId: string, detailType: string, detail: Record<string, unknown>): Promise<OutboxRow> {
  const { rows } = await c.query<OutboxRow>(
    `INSERT INTO audit_outbox (tenant_id, detail_type, detail) VALUES ($1, $2, $3)
     RETURNING id, event_id, tenant_id, detail_type, detail, created_at`,
    [tenantId, detailType, JSON.stringify(detail)],
  );
  return rows[0]!;
}

/** Publishes up to 10 events; returns the outbox ids that were accepted. */
export async function publish(busArn: string, rows: OutboxRow[]): Promise<{ sent: string[]; failed: { id: string; error: string }[] }> {
  if (rows.length === 0) return { sent: [], failed: [] };
  // A signed PutEvents request, not the SDK client: ≈40 ms less on a cold start (aws-json.ts).
  const out = (await awsJson(EVENTBRIDGE, 'PutEvents', {
    Entries: rows.map((r) => ({
      EventBusName: busArn,
      Source: AUDIT_SOURCE,
      DetailType: r.detail_type,
      // The JSON protocol's timestamps are epoch seconds.
      Time: new Date(r.created_at).getTime() / 1000,
      Detail: JSON.stringify({ event_id: r.event_id, tenant_id: r.tenant_id, ...r.detail }),
    })),
  })) as { Entries?: { ErrorCode?: string; ErrorMessage?: string }[] };
  const sent: string[] = [];
  const failed: { id: string; error: string }[] = [];
  rows.forEach((r, i) => {
    const e = out.Entries?.[i];
    if (e && !e.ErrorCode) sent.push(r.id);
    else failed.push({ id: r.id, error: e?.ErrorCode ?? 'no result' });
  });
  return { sent, failed };
}

export async function markSent(c: pg.PoolClient | pg.Pool, ids: string[]): Promise<void> {
  if (ids.length) await c.query('UPDATE audit_outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])', [ids]);
}

export async function markFailed(c: pg.PoolClient | pg.Pool, failed: { id: string; error: string }[]): Promise<void> {
  for (const f of failed) await c.query('UPDATE audit_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1', [f.id, f.error.slice(0, 500)]);
}
