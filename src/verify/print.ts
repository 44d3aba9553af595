/** Printers for the verification report: an aligned table, or the report as JSON. */
import { type VerifyReport } from './report.ts';

export interface Style {
  bad(s: string): string;
  good(s: string): string;
  dim(s: string): string;
}

export const plainStyle: Style = { bad: (s) => s, good: (s) => s, dim: (s) => s };

export function formatTable(report: VerifyReport, style: Style = plainStyle): string {
  const header = ['check', 'figure', 'threshold', 'result'];
  const rows = report.checks.map((c) => [c.name, c.figure, c.threshold, c.status]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[], colour?: (s: string) => string): string =>
    cells.map((c, i) => (i === cells.length - 1 && colour ? colour(c) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const [i, c] of report.checks.entries()) {
    out.push(line(rows[i]!, c.status === 'fail' ? style.bad : c.status === 'pass' ? style.good : style.dim));
  }
  for (const c of report.checks) if (c.detail && c.status !== 'pass') out.push(style.dim(`${c.name}: ${c.detail}`));
  const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  out.push(
    failed.length === 0
      ? style.good(`verify ${report.target} (${report.mode}): all checks passed in ${(report.durationMs / 1000).toFixed(1)} s`)
      : style.bad(`verify ${report.target} (${report.mode}): failed ${failed.join(', ')}`),
  );
  return out.join('\n') + '\n';
}

export function formatJson(report: VerifyReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
