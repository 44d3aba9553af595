/**
 * Where audit events land locally: what the handlers publish to EventBridge is appended to
 * `<stateDir>/audit.jsonl` (one event a line, readable with `tail -f`) and kept in memory for
 * `GET /_local/audit`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AuditRecord {
  id: string;
  /** ISO time the sink received it. */
  receivedAt: string;
  eventBusName: string | null;
  source: string | null;
  detailType: string | null;
  resources: string[];
  /** `Detail` parsed as JSON when it is JSON, else the raw string. */
  detail: unknown;
}

export class AuditSink {
  private readonly records: AuditRecord[] = [];
  constructor(
    readonly file: string | undefined,
    private readonly limit = 50_000,
  ) {
    if (file) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }

  add(record: AuditRecord): void {
    this.records.push(record);
    if (this.records.length > this.limit) this.records.splice(0, this.records.length - this.limit);
    if (this.file) appendFileSync(this.file, JSON.stringify(record) + '\n', { mode: 0o600 });
  }

  /** Newest last; `contains` matches anywhere in the record's JSON (e.g. a dataset id). */
  list(filter: { contains?: string; sinceMs?: number } = {}): AuditRecord[] {
    return this.records.filter(
      (r) => (filter.sinceMs === undefined || Date.parse(r.receivedAt) >= filter.sinceMs) && (filter.contains === undefined || JSON.stringify(r).includes(filter.contains)),
    );
  }

  get size(): number {
    return this.records.length;
  }
}

/** Each request's authorizer outcome, for the auth-failure figure `verify` reports. */
export type Decision = 'allow' | 'unauthorized' | 'deny' | 'error';

export class DecisionLog {
  // Timestamps bucketed per second keep memory flat under a load test.
  private readonly buckets = new Map<number, Record<Decision, number>>();
  constructor(private readonly retainSeconds = 3600) {}

  record(decision: Decision, at = Date.now()): void {
    const sec = Math.floor(at / 1000);
    let b = this.buckets.get(sec);
    if (!b) {
      b = { allow: 0, unauthorized: 0, deny: 0, error: 0 };
      this.buckets.set(sec, b);
      const cutoff = sec - this.retainSeconds;
      for (const k of this.buckets.keys()) if (k < cutoff) this.buckets.delete(k);
    }
    b[decision]++;
  }

  summary(sinceMs = 0): { total: number; failures: number; counts: Record<Decision, number>; failureRatePercent: number } {
    const counts: Record<Decision, number> = { allow: 0, unauthorized: 0, deny: 0, error: 0 };
    const from = Math.floor(sinceMs / 1000);
    for (const [sec, b] of this.buckets) {
      if (sec < from) continue;
      for (const k of Object.keys(counts) as Decision[]) counts[k] += b[k];
    }
    const total = counts.allow + counts.unauthorized + counts.deny + counts.error;
    const failures = total - counts.allow;
    return { total, failures, counts, failureRatePercent: total === 0 ? 0 : (100 * failures) / total };
  }
}
