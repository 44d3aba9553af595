/**
 * Suppressions are allowed only in a resource's Metadata, each with a written reason:
 *   checkov:  Metadata.checkov.skip: [{ id, comment }]
 *   cfn-lint: Metadata.cfn-lint.config.ignore_checks: [id], with the reason for each id in
 *             Metadata.cfn-lint.reasons: { id: reason } (cfn-lint itself ignores that key).
 * This module collects them (the docs list is generated from it) and reports any that break
 * the rule: no reason, or a suppression at template level where it would hide a whole file.
 */
import type { Finding, Suppression } from './report.ts';

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export function collectSuppressions(env: string, stack: string, template: Json): { suppressions: Suppression[]; findings: Finding[] } {
  const suppressions: Suppression[] = [];
  const findings: Finding[] = [];
  const add = (resource: string, rule: string, message: string): void => {
    findings.push({ env, stack, resource, checker: 'suppressions', rule, severity: 'error', message });
  };
  if (!isObj(template)) return { suppressions, findings };

  const top = isObj(template.Metadata) ? template.Metadata : {};
  for (const tool of ['cfn-lint', 'checkov'] as const) {
    if (top[tool] !== undefined) add('Metadata', 'SUPPRESSION_NOT_ON_RESOURCE', `template-level ${tool} settings hide findings for every resource; suppress on the resource instead`);
  }

  const resources = isObj(template.Resources) ? template.Resources : {};
  for (const [id, r] of Object.entries(resources)) {
    const meta = isObj(r) && isObj(r.Metadata) ? r.Metadata : undefined;
    if (!meta) continue;

    const checkov = isObj(meta.checkov) ? meta.checkov : undefined;
    for (const skip of asArray(checkov?.skip)) {
      const rule = isObj(skip) && typeof skip.id === 'string' ? skip.id : String(skip);
      const reason = isObj(skip) && typeof skip.comment === 'string' ? skip.comment.trim() : '';
      suppressions.push({ env, stack, resource: id, tool: 'checkov', rule, reason });
      if (!reason) add(id, 'SUPPRESSION_WITHOUT_REASON', `checkov skip ${rule} has no comment giving the reason`);
    }

    const lint = isObj(meta['cfn-lint']) ? meta['cfn-lint'] : undefined;
    const config = isObj(lint?.config) ? lint.config : undefined;
    const reasons = isObj(lint?.reasons) ? lint.reasons : {};
    for (const rule of asArray(config?.ignore_checks)) {
      const id2 = String(rule);
      const given = reasons[id2];
      const reason = typeof given === 'string' ? given.trim() : '';
      suppressions.push({ env, stack, resource: id, tool: 'cfn-lint', rule: id2, reason });
      if (!reason) add(id, 'SUPPRESSION_WITHOUT_REASON', `cfn-lint ignore_checks ${id2} has no reason in Metadata.cfn-lint.reasons`);
    }
  }
  return { suppressions, findings };
}

/** One row per distinct (stack, resource, tool, rule, reason), with the envs it applies to. */
export interface SuppressionRow {
  stack: string;
  resource: string;
  tool: string;
  rule: string;
  reason: string;
  envs: string[];
}

export function suppressionRows(all: readonly Suppression[]): SuppressionRow[] {
  const rows = new Map<string, SuppressionRow>();
  for (const s of all) {
    const key = JSON.stringify([s.stack, s.resource, s.tool, s.rule, s.reason]);
    const row = rows.get(key) ?? { stack: s.stack, resource: s.resource, tool: s.tool, rule: s.rule, reason: s.reason, envs: [] };
    if (!row.envs.includes(s.env)) row.envs.push(s.env);
    rows.set(key, row);
  }
  return [...rows.values()].sort(
    (a, b) => a.stack.localeCompare(b.stack) || a.resource.localeCompare(b.resource) || a.tool.localeCompare(b.tool) || a.rule.localeCompare(b.rule),
  );
}

/** The Markdown table docs/validate.md carries between its suppression markers. */
export function suppressionsMarkdown(all: readonly Suppression[], allEnvs: readonly string[]): string {
  const rows = suppressionRows(all);
  if (rows.length === 0) return '_No suppressions: every check passes as written._\n';
  const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
  const lines = ['| Stack | Resource | Tool | Check | Envs | Reason |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const envs = allEnvs.length > 0 && allEnvs.every((e) => r.envs.includes(e)) ? 'all' : r.envs.join(', ');
    lines.push(`| ${r.stack} | ${r.resource} | ${r.tool} | ${r.rule} | ${envs} | ${esc(r.reason)} |`);
  }
  return lines.join('\n') + '\n';
}
