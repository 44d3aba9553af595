/**
 * Printers for the plan model: plain text (colour through a style, so the same text is tested with
 * the plain style) and JSON. Pure string building; the CLI writes the result.
 */
import type { PropertyChange, ResourcePlan, StackPlan } from './plan.ts';
import { planCounts } from './plan.ts';

export interface PlanStyle {
  add(s: string): string;
  remove(s: string): string;
  modify(s: string): string;
  warn(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const id = (s: string) => s;
export const plainPlanStyle: PlanStyle = { add: id, remove: id, modify: id, warn: id, dim: id, bold: id };

const MARK: Record<ResourcePlan['action'], string> = { add: '+', remove: '-', modify: '~', import: '←' };

function value(v: unknown, max = 160): string {
  if (v === undefined) return '(none)';
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function table(rows: string[][], indent: string): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `${indent}${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}`);
}

function propertyLines(p: PropertyChange, style: PlanStyle): string[] {
  const tags = [p.replacement === 'yes' ? style.warn('requires replacement') : p.replacement === 'maybe' ? style.warn('may require replacement') : '', p.causedBy ? `from parameter ${p.causedBy}` : '']
    .filter(Boolean)
    .join(', ');
  const head = `      ${p.name}${tags ? `  (${tags})` : ''}`;
  // A change set without property values (older API, or values resolved at deploy) names the property only.
  if (p.before === undefined && p.after === undefined) return [head];
  return [head, `        ${style.remove(`- ${value(p.before)}`)}`, `        ${style.add(`+ ${value(p.after)}`)}`];
}

function resourceLines(r: ResourcePlan, withProperties: boolean, style: PlanStyle): string[] {
  const paint = r.action === 'add' ? style.add : r.action === 'remove' ? style.remove : style.modify;
  const notes = [
    r.replacement === 'yes' ? style.warn('REPLACE') : r.replacement === 'maybe' ? style.warn('may replace') : '',
    ...r.security.map((k) => style.warn(k === 'iam' ? '[IAM]' : '[security group]')),
  ].filter(Boolean);
  const head = `  ${paint(`${MARK[r.action]} ${r.logicalId}`)}  ${style.dim(r.type)}  ${r.action}${notes.length ? `  ${notes.join(' ')}` : ''}`;
  return withProperties ? [head, ...r.properties.flatMap((p) => propertyLines(p, style))] : [head];
}

export function formatStackPlan(plan: StackPlan, style: PlanStyle = plainPlanStyle): string {
  switch (plan.kind) {
    case 'no-changes':
      return `${style.bold(plan.stack)}: ${style.add('no changes')}\n`;
    case 'blocked':
      return `${style.bold(plan.stack)}: ${style.warn(`cannot deploy (${plan.status})`)}\n  ${plan.advice}\n`;
    case 'create':
    case 'update': {
      const c = planCounts(plan);
      const summary =
        plan.kind === 'create'
          ? `new stack, ${c.add} resource${c.add === 1 ? '' : 's'} to create`
          : [c.add && `${c.add} to add`, c.modify && `${c.modify} to change`, c.remove && `${c.remove} to remove`, c.replace && style.warn(`${c.replace} replaced`)].filter(Boolean).join(', ');
      const params = plan.kind === 'update' ? plan.parameterChanges : [];
      const lines = [`${style.bold(plan.stack)}: ${summary || `${params.length} parameter(s) change`}`];
      for (const r of plan.resources) lines.push(...resourceLines(r, plan.kind === 'update', style));
      if (params.length) {
        lines.push('  parameters:');
        for (const p of params) lines.push(`    ${style.modify(p.key)}: ${value(p.before)} → ${value(p.after)}  ${style.dim(`(${p.origin})`)}`);
      }
      const s = plan.security;
      if (s.iamStatements.length || s.managedPolicies.length) {
        lines.push(`  ${style.warn('IAM changes:')}`);
        if (s.iamStatements.length) lines.push(...table(s.iamStatements, '    '));
        if (s.managedPolicies.length) lines.push(...table(s.managedPolicies, '    '));
      }
      if (s.securityGroups.length) lines.push(`  ${style.warn('Security group changes:')}`, ...table(s.securityGroups, '    '));
      for (const t of plan.tagChanges) lines.push(`  tag ${t.key}: ${value(t.before)} → ${value(t.after)}`);
      if (plan.capabilities.length) lines.push(`  ${style.dim(`acknowledges ${plan.capabilities.join(', ')}`)}`);
      if (plan.kind === 'update' && plan.source === 'template')
        lines.push(`  ${style.dim('(from the template: a stack before it changes first; its change set is made, and shown again if it does more, when deploy gets here)')}`);
      if (plan.broadening.length) lines.push(`  ${style.warn(`broadens access: ${plan.broadening.join(', ')}`)}`);
      return `${lines.join('\n')}\n`;
    }
  }
}

export function formatPlans(plans: StackPlan[], style: PlanStyle = plainPlanStyle): string {
  return plans.map((p) => formatStackPlan(p, style)).join('\n');
}
