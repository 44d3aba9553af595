/**
 * Audit emission against AWS, without the database: the catalog audit bus (the one whose rule
 * forwards to the Evidence Ledger) has a second rule delivering every catalog event to a CloudWatch
 * Logs group (catalog-service's `AuditLogGroupName` output). An event naming the dataset in that
 * group proves the handler's PutEvents reached the bus the ledger is fed from.
 */
import type { LogsApi } from '../aws/logs.ts';
import { AUDIT_SOURCE } from '../handlers/shared/audit.ts';
import type { AuditCheck } from './index.ts';

export interface AuditLogOptions {
  /** How long to wait for the event: EventBridge delivers to CloudWatch Logs within seconds. */
  waitMs?: number;
  pollMs?: number;
  /** How far back to look for an existing dataset's events (no `since`). */
  lookbackMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function auditFromLogs(logs: LogsApi, logGroupName: string, o: AuditLogOptions = {}): (datasetId: string, since: Date | undefined) => Promise<AuditCheck> {
  const waitMs = o.waitMs ?? 20_000;
  const pollMs = o.pollMs ?? 1_000;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (datasetId, since) => {
    const start = since ?? new Date(Date.now() - (o.lookbackMs ?? 24 * 3600_000));
    // The filter narrows the read; each event is still checked here (ids are UUIDs, quoted as JSON strings).
    const filterPattern = `{ $.detail.dataset_id = ${JSON.stringify(datasetId)} }`;
    const deadline = Date.now() + waitMs;
    let seen = 0;
    for (;;) {
      const events = await logs.filterEvents(logGroupName, { start, filterPattern, limit: 1000 });
      seen = events.length;
      const ours = events.flatMap((e) => {
        const ev = parseEvent(e.message);
        return ev && ev.source === AUDIT_SOURCE && ev.detail?.dataset_id === datasetId ? [ev['detail-type'] ?? '?'] : [];
      });
      if (ours.length) return { emitted: true, detail: `${ours.length} event(s) on the audit bus (${logGroupName}): ${ours.join(', ')}` };
      if (Date.now() >= deadline) {
        return { emitted: false, detail: `no audit event for ${datasetId} reached the audit bus within ${Math.round(waitMs / 1000)} s (log group ${logGroupName}${seen ? `, ${seen} other event(s) matched the filter` : ''})` };
      }
      await sleep(pollMs);
    }
  };
}

interface BusEvent {
  source?: string;
  'detail-type'?: string;
  detail?: { dataset_id?: unknown };
}

function parseEvent(message: string): BusEvent | undefined {
  try {
    const v = JSON.parse(message) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as BusEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** For a stack without the audit log group: the audit part fails saying why, instead of guessing. */
export function auditUnavailable(reason: string): (datasetId: string, since: Date | undefined) => Promise<AuditCheck> {
  return async () => ({ emitted: false, detail: reason });
}
