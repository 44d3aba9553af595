/**
 * Printers for the validation report: plain text (one finding a line, grouped by env and stack,
 * then a summary line with counts per checker) and JSON (the report object as is).
 */
import { CHECKERS, isFailing, type ValidationReport } from './report.ts';

export interface Style {
  bad(s: string): string;
  good(s: string): string;
  dim(s: string): string;
}

export const plainStyle: Style = { bad: (s) => s, good: (s) => s, dim: (s) => s };

/** `<env>/<stack> <LogicalId> <rule> <message>`; informational findings carry `(info)`. */
export function formatFindingLine(f: ValidationReport['findings'][number]): string {
  return `${f.env}/${f.stack} ${f.resource} ${f.rule} ${f.message}${isFailing(f) ? '' : ' (info)'}`;
}

export function formatText(report: ValidationReport, style: Style = plainStyle): string {
  const out: string[] = [];
  let group = '';
  for (const f of report.findings) {
    const g = `${f.env}/${f.stack}`;
    if (g !== group && out.length > 0) out.push('');
    group = g;
    const line = formatFindingLine(f);
    out.push(isFailing(f) ? line : style.dim(line));
  }
  if (out.length > 0) out.push('');
  out.push(formatSummary(report, style));
  return out.join('\n') + '\n';
}

export function formatSummary(report: ValidationReport, style: Style = plainStyle): string {
  const failing = report.findings.filter(isFailing).length;
  const counts = CHECKERS.map((c) => `${c} ${report.checkers[c].findings}`).join(', ');
  const seconds = (report.durationMs / 1000).toFixed(1);
  const envs = `${report.envs.length} env${report.envs.length === 1 ? '' : 's'} (${report.envs.join(', ')})`;
  const verdict = report.ok ? style.good(`clean`) : style.bad(`${failing} finding${failing === 1 ? '' : 's'}`);
  const info = report.findings.length - failing;
  return `validate: ${envs}, ${report.files.length} templates: ${verdict} [${counts}]${info > 0 ? `, ${info} info` : ''}, ${report.suppressions.length} suppressions, ${seconds}s`;
}

export function formatJson(report: ValidationReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
