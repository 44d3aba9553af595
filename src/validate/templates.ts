/**
 * The real template side of `validate`: `renderEnvironment` from src/templates. The templates do
 * not yet export an invariants library (src/templates/invariants.ts); until they do, the
 * `invariants` checker has nothing to run and reports no findings.
 */
import { renderEnvironment } from '../templates/index.ts';
import type { Renderer } from './envs.ts';

export const templatesRenderer: Renderer = {
  render: (config) => renderEnvironment(config),
  invariants: () => [],
};
