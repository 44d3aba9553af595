/**
 * checkov with the CloudFormation framework, run once over the whole temp directory: its start-up
 * (~4 s) dwarfs the per-file work, so one invocation for every env and stack is the fast path.
 */
import type { Finding } from './report.ts';
import type { TemplateFile } from './cfn-lint.ts';
import { findTool, runProcess, tail, ToolError } from './tools.ts';

interface CheckovCheck {
  check_id: string;
  check_name: string;
  file_abs_path: string;
  resource: string;
}

interface CheckovReport {
  check_type?: string;
  results?: { failed_checks?: CheckovCheck[]; parsing_errors?: string[] };
  summary?: { checkov_version?: string };
}

export interface CheckovResult {
  findings: Finding[];
  version?: string;
}

/** Parse `checkov -o json`: one report object, a list of them (several frameworks), or a bare summary. */
export function parseCheckovOutput(stdout: string, files: readonly TemplateFile[]): CheckovResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (e) {
    throw new ToolError(`checkov printed output that is not its JSON format (${(e as Error).message}): ${tail(stdout, 3)}`);
  }
  const reports = (Array.isArray(parsed) ? parsed : [parsed]) as CheckovReport[];
  const byPath = new Map(files.map((f) => [f.path, f]));
  const fileFor = (path: string): TemplateFile => {
    const file = byPath.get(path);
    if (!file) throw new ToolError(`checkov reported a file it was not given: ${path}`);
    return file;
  };
  const findings: Finding[] = [];
  let version: string | undefined;
  for (const report of reports) {
    version ??= report.summary?.checkov_version;
    if (report.check_type !== undefined && report.check_type !== 'cloudformation') continue;
    for (const c of report.results?.failed_checks ?? []) {
      const file = fileFor(c.file_abs_path);
      findings.push({
        env: file.env,
        stack: file.stack,
        // `AWS::RDS::DBInstance.Database` → `Database`
        resource: c.resource.slice(c.resource.lastIndexOf('.') + 1) || '-',
        checker: 'checkov',
        rule: c.check_id,
        severity: 'error',
        message: c.check_name,
      });
    }
    for (const path of report.results?.parsing_errors ?? []) {
      const file = fileFor(path);
      findings.push({ env: file.env, stack: file.stack, resource: '-', checker: 'checkov', rule: 'PARSING_ERROR', severity: 'error', message: 'checkov could not parse the template' });
    }
  }
  return version === undefined ? { findings } : { findings, version };
}

/** Scan every template under `root` (which must hold exactly `files`). Exit 1 means failed checks. */
export async function runCheckov(root: string, files: readonly TemplateFile[], opts: { signal?: AbortSignal } = {}): Promise<CheckovResult> {
  if (files.length === 0) return { findings: [] };
  const bin = await findTool('checkov');
  const args = ['--framework', 'cloudformation', '-o', 'json', '--quiet', '--compact', '--skip-download', '-d', root];
  // Offline: no guideline download or platform mapping; only warnings on stderr.
  const env = { ...process.env, BC_SKIP_MAPPING: 'TRUE', LOG_LEVEL: 'WARNING' };
  const r = await runProcess(bin, args, { env, signal: opts.signal });
  if (r.code !== 0 && r.code !== 1) throw new ToolError(`checkov failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
  return parseCheckovOutput(r.stdout, files);
}
