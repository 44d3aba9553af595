/**
 * The validation report: a flat list of findings, each naming the env, the file (stack), the
 * resource and the rule, plus per-checker counts. Printers (./print.ts) are separate from the model
 * so `--json` and the text output always agree.
 */

/** Every checker `validate` runs, in the order the summary line lists them. */
export const CHECKERS = ['config', 'invariants', 'rules', 'suppressions', 'cfn-lint', 'checkov', 'asl', 'state-machine'] as const;
export type CheckerName = (typeof CHECKERS)[number];

/** `info` is listed but does not fail the run (cfn-lint informational matches). */
export type Severity = 'error' | 'warning' | 'info';

/** The six rendered files, as `renderEnvironment` returns them (file name → JSON object). */
export type RenderedFiles = Readonly<Record<string, object>>;

/** A rendered file's name without `.json`: a stack name, or `state_machine`; `env` for the env file. */
export type FileLabel = string;

export interface Finding {
  env: string;
  /** Stack name (`catalog-service`), `state_machine`, or `env` for env-file findings. */
  stack: FileLabel;
  /** Logical id, state name, or config key; `-` when the finding is about the whole file. */
  resource: string;
  checker: CheckerName;
  /** The rule id as the checker names it: `E3012`, `CKV_AWS_16`, `MISSING_TRANSITION_TARGET`, … */
  rule: string;
  severity: Severity;
  message: string;
}

/** A check the templates opt out of, declared in a resource's Metadata. */
export interface Suppression {
  env: string;
  stack: FileLabel;
  resource: string;
  tool: 'cfn-lint' | 'checkov';
  rule: string;
  /** Empty when the template gives none; the `suppressions` checker reports that. */
  reason: string;
}

export interface CheckerSummary {
  /** Failing findings (errors and warnings). */
  findings: number;
  /** Informational findings, listed but not failing. */
  info: number;
  /** Wall time from the checker's start to its end, in ms (checkers overlap). */
  durationMs: number;
  /** Tool version, for the external tools. */
  version?: string;
}

export interface ValidationReport {
  ok: boolean;
  envs: string[];
  /** Files handed to the checkers, `<env>/<file>`. */
  files: string[];
  durationMs: number;
  checkers: Record<CheckerName, CheckerSummary>;
  /** Sorted by env, stack, resource, rule. */
  findings: Finding[];
  suppressions: Suppression[];
}

export function isFailing(f: Finding): boolean {
  return f.severity !== 'info';
}

const collator = new Intl.Collator('en', { numeric: true });

export function compareFindings(a: Finding, b: Finding): number {
  return (
    collator.compare(a.env, b.env) ||
    fileOrder(a.stack) - fileOrder(b.stack) ||
    collator.compare(a.stack, b.stack) ||
    collator.compare(a.resource, b.resource) ||
    collator.compare(a.rule, b.rule) ||
    collator.compare(a.message, b.message)
  );
}

// Findings follow deploy order: env file, the five stacks, then the state machine.
const FILE_ORDER = ['env', 'catalog-network', 'catalog-storage', 'catalog-secrets', 'catalog-service', 'catalog-observability', 'state_machine'];
function fileOrder(stack: string): number {
  const i = FILE_ORDER.indexOf(stack);
  return i === -1 ? FILE_ORDER.length : i;
}

export interface CheckerRun {
  checker: CheckerName;
  findings: Finding[];
  durationMs: number;
  version?: string;
}

export function buildReport(input: {
  envs: string[];
  files: string[];
  runs: CheckerRun[];
  suppressions: Suppression[];
  durationMs: number;
}): ValidationReport {
  const checkers = {} as Record<CheckerName, CheckerSummary>;
  for (const name of CHECKERS) checkers[name] = { findings: 0, info: 0, durationMs: 0 };
  const findings: Finding[] = [];
  for (const run of input.runs) {
    const s = checkers[run.checker];
    s.durationMs = Math.max(s.durationMs, Math.round(run.durationMs));
    if (run.version !== undefined) s.version = run.version;
    for (const f of run.findings) {
      if (isFailing(f)) s.findings++;
      else s.info++;
      findings.push(f);
    }
  }
  findings.sort(compareFindings);
  return {
    ok: findings.every((f) => !isFailing(f)),
    envs: input.envs,
    files: input.files,
    durationMs: Math.round(input.durationMs),
    checkers,
    findings,
    suppressions: [...input.suppressions].sort(
      (a, b) =>
        collator.compare(a.env, b.env) ||
        fileOrder(a.stack) - fileOrder(b.stack) ||
        collator.compare(a.resource, b.resource) ||
        collator.compare(a.tool, b.tool) ||
        collator.compare(a.rule, b.rule),
    ),
  };
}

/** `envs/prod.yaml:14:7 api.cacheSizeGb: must be one of …` → resource `api.cacheSizeGb`. */
export function configFinding(env: string, message: string): Finding {
  const key = message.match(/^\S+?:\d+:\d+ ([^\s:]+): /)?.[1] ?? message.match(/^([A-Za-z0-9_.[\]-]+): /)?.[1] ?? '-';
  return { env, stack: 'env', resource: key, checker: 'config', rule: 'ENV_SCHEMA', severity: 'error', message };
}
