/**
 * cfn-lint over the rendered stack templates: one process per AWS region (each env is linted
 * against its own region's resource specs), `-f json`, parsed into findings.
 */
import type { Finding, Severity } from './report.ts';
import { findTool, runProcess, tail, ToolError } from './tools.ts';

export interface TemplateFile {
  env: string;
  stack: string;
  /** Absolute path of the template written for the tools. */
  path: string;
  region: string;
}

interface CfnLintMatch {
  Filename: string;
  Level: string;
  Message: string;
  Location?: { Path?: unknown[] };
  Rule?: { Id?: string };
}

/** Turn cfn-lint's JSON output into findings; files not in `files` are a tool error. */
export function parseCfnLintOutput(stdout: string, files: readonly TemplateFile[]): Finding[] {
  let matches: CfnLintMatch[];
  try {
    const parsed: unknown = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
    if (!Array.isArray(parsed)) throw new Error('not an array');
    matches = parsed as CfnLintMatch[];
  } catch (e) {
    throw new ToolError(`cfn-lint printed output that is not its JSON format (${(e as Error).message}): ${tail(stdout, 3)}`);
  }
  const byPath = new Map(files.map((f) => [f.path, f]));
  return matches.map((m) => {
    const file = byPath.get(m.Filename);
    if (!file) throw new ToolError(`cfn-lint reported a file it was not given: ${m.Filename}`);
    return {
      env: file.env,
      stack: file.stack,
      resource: resourceOf(m.Location?.Path ?? []),
      checker: 'cfn-lint',
      rule: m.Rule?.Id ?? 'unknown',
      severity: severityOf(m.Level),
      message: m.Message.replace(/\s+/g, ' ').trim(),
    } satisfies Finding;
  });
}

function resourceOf(path: readonly unknown[]): string {
  const [section, name] = path;
  if (section === 'Resources' && typeof name === 'string') return name;
  if (typeof section === 'string' && typeof name === 'string') return `${section}.${name}`;
  return typeof section === 'string' ? section : '-';
}

function severityOf(level: string): Severity {
  if (level === 'Error') return 'error';
  if (level === 'Warning') return 'warning';
  return 'info';
}

/**
 * Lint every file. cfn-lint's exit code is a bit set (2 error, 4 warning, 8 informational);
 * bit 1 means it could not run, which is a tool error rather than a finding.
 */
export async function runCfnLint(files: readonly TemplateFile[], opts: { signal?: AbortSignal } = {}): Promise<Finding[]> {
  if (files.length === 0) return [];
  const bin = await findTool('cfn-lint');
  const byRegion = new Map<string, TemplateFile[]>();
  for (const f of files) byRegion.set(f.region, [...(byRegion.get(f.region) ?? []), f]);
  const runs = [...byRegion].map(async ([region, group]) => {
    const args = ['-f', 'json', '--regions', region, '--', ...group.map((f) => f.path)];
    const r = await runProcess(bin, args, { signal: opts.signal });
    if ((r.code & 1) !== 0 || r.code > 15) {
      throw new ToolError(`cfn-lint failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
    }
    return parseCfnLintOutput(r.stdout, group);
  });
  return (await Promise.all(runs)).flat();
}
