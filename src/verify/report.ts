/**
 * The verification report: one row per check with the measured figure, the threshold it is held
 * to and the outcome. Printers (./print.ts) render it; `release` reads `ok` and the failing names.
 */

/** The seed's four deployment verification checks, in the order they run and print. */
export const CHECK_NAMES = ['health', 'synthetic', 'db-smoke', 'auth-failures'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export type CheckStatus = 'pass' | 'fail' | 'skipped';

export interface CheckResult {
  name: CheckName;
  status: CheckStatus;
  /** What was measured, human-readable: `p99 12.4 ms (50/50 × 200)`. */
  figure: string;
  /** What it is held to: `200, p99 < 100 ms`. */
  threshold: string;
  /** The measured number the threshold applies to, when there is one (ms or percent). */
  value?: number;
  /** Why it failed or was skipped, one line. */
  detail?: string;
}

export interface VerifyReport {
  ok: boolean;
  target: string;
  /** `local` (a `catalogctl local` server) or `aws` (an API Gateway stage). */
  mode: 'local' | 'aws';
  startedAt: string;
  durationMs: number;
  checks: CheckResult[];
}

export function failingChecks(report: VerifyReport): CheckName[] {
  return report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
}

/** Nearest-rank percentile of `values` (0 < p ≤ 100); NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function ms(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a';
}
