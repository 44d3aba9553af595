/**
 * Scheduled: republishes audit events that never reached the Evidence Ledger (publish failed or
 * AUDIT_ASYNC was off). SKIP LOCKED lets overlapping runs share the backlog without doubles.
 */
import { markFailed, markSent, publish, type OutboxRow } from '../shared/audit.ts';
import { inTransaction } from '../shared/db.ts';
import { settings } from '../shared/env.ts';

const BATCH = 100;

/**
 * `{"drain": true}` (catalogctl db restore's reconciliation): batches until nothing is left unsent
 * or a batch sends nothing, instead of one batch per scheduled run; the answer adds what is left.
 */
export interface RelayEvent {
  drain?: boolean;
}

export async function handler(event: RelayEvent | null = {}): Promise<{ sent: number; failed: number; batches?: number; unsent?: number }> {
  if (!event?.drain) return relayBatch();
  let sent = 0;
  let failed = 0;
  let batches = 0;
  for (;;) {
    const r = await relayBatch();
    batches++;
    sent += r.sent;
    failed += r.failed;
    if (r.sent === 0 || r.sent + r.failed < BATCH) break;
  }
  const unsent = await inTransaction(async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM audit_outbox WHERE sent_at IS NULL')).rows[0]!.n));
  return { sent, failed, batches, unsent };
}

async function relayBatch(): Promise<{ sent: number; failed: number }> {
  const bus = settings().evidenceBusArn;
  if (!bus) throw new Error('EVIDENCE_BUS_ARN is not set');
  return inTransaction(async (c) => {
    const { rows } = await c.query<OutboxRow>(
      `SELECT id, event_id, tenant_id, detail_type, detail, created_at FROM audit_outbox
        WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [BATCH],
    );
    let sent = 0;
    let failed = 0;
    for (let i = 0; i < rows.length; i += 10) {
      const r = await publish(bus, rows.slice(i, i + 10));
      await markSent(c, r.sent);
      await markFailed(c, r.failed);
      sent += r.sent.length;
      failed += r.failed.length;
    }
    console.log(JSON.stringify({ level: 'info', message: 'audit relay', sent, failed }));
    return { sent, failed };
  });
}
