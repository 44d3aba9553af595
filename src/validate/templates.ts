/**
 * The real template side of `validate`: `renderEnvironment` and the templates' own invariants
 * (src/templates/invariants.ts), whose violations become `invariants` findings.
 */
import { renderEnvironment } from '../templates/index.ts';
import { checkInvariants } from '../templates/invariants.ts';
import type { Renderer } from './envs.ts';

export const templatesRenderer: Renderer = {
  render: (config) => renderEnvironment(config),
  invariants: (e) =>
    checkInvariants(e.rendered as Record<string, unknown>, e.config).map((v) => ({
      env: e.name,
      stack: v.stack.replace(/\.json$/, ''),
      resource: v.logicalId || '-',
      checker: 'invariants' as const,
      rule: v.rule,
      severity: 'error' as const,
      message: v.message,
    })),
};
