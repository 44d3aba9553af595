/**
 * `validate` as a library: takes rendered environments (the objects `renderEnvironment` returns,
 * or mutated copies of them in tests) and runs every checker in one pass. The stack templates are
 * written to a private temp dir for the external tools; checkov (slowest, one process for all
 * files) and cfn-lint (one process per region) run in parallel while the in-process checkers work.
 */
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvConfig } from '../config/types.ts';
import { STACK_NAMES } from '../config/types.ts';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { InterruptedError } from '../errors.ts';
import { checkAsl } from './asl.ts';
import { runCfnLint, type TemplateFile } from './cfn-lint.ts';
import { runCheckov } from './checkov.ts';
import { buildReport, CHECKERS, type CheckerName, type CheckerRun, type Finding, type RenderedFiles, type Suppression, type ValidationReport } from './report.ts';
import { checkRules } from './rules.ts';
import { RELEASE } from '../templates/ids.ts';
import { alarmNamesOf, checkReleaseStateMachine } from './release-state-machine.ts';
import { checkStateMachine } from './state-machine.ts';
import { collectSuppressions } from './suppressions.ts';

export type { Finding, ValidationReport, CheckerName } from './report.ts';

export const STATE_MACHINE_FILE = 'state_machine.json';
export const RELEASE_STATE_MACHINE_FILE = 'release_state_machine.json';

export interface EnvInput {
  /** The env name findings are filed under; distinct per input. */
  name: string;
  config: EnvConfig;
  rendered: RenderedFiles;
}

export interface ValidateOptions {
  reporter?: Reporter;
  signal?: AbortSignal;
  /** Run only these checkers (default: all). */
  checkers?: readonly CheckerName[];
  /** Findings from loading env files that never got as far as rendering. */
  preFindings?: readonly Finding[];
  /** Envs that failed before rendering, listed in the report with their findings. */
  extraEnvNames?: readonly string[];
  /**
   * The templates' own invariants (src/templates/invariants.ts, adapted by ./invariants.ts);
   * required when the `invariants` checker runs. Passed in so this module stays free of builders.
   */
  invariants?: (env: EnvInput) => Finding[];
}

export async function validateRendered(given: readonly EnvInput[], opts: ValidateOptions = {}): Promise<ValidationReport> {
  const started = performance.now();
  // Builders may return cloudform objects that serialise through toJSON(); check what the tools see.
  const envs = given.map((e) => ({ ...e, rendered: plainFiles(e.rendered) }));
  const reporter = opts.reporter ?? silentReporter;
  const enabled = new Set<CheckerName>(opts.checkers ?? CHECKERS);
  const names = new Set<string>();
  for (const e of envs) {
    if (names.has(e.name)) throw new Error(`validateRendered: env name ${e.name} given twice`);
    names.add(e.name);
  }

  const runs: CheckerRun[] = [];
  if (opts.preFindings) runs.push({ checker: 'config', findings: [...opts.preFindings], durationMs: 0 });
  const suppressions: Suppression[] = [];
  const root = await realpath(await mkdtemp(join(tmpdir(), 'catalogctl-validate-')));
  // Stops the tools when the caller aborts or an in-process checker throws.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  opts.signal?.addEventListener('abort', onAbort);
  let settled: Promise<PromiseSettledResult<void>[]> = Promise.resolve([]);
  try {
    const files = await writeTemplates(root, envs);
    reporter.report({ level: 'step', topic: 'validate', message: `checking ${envs.length} env(s), ${files.length} stack templates`, data: { root } });

    // External tools first, so they run while the in-process checkers work. They take seconds
    // (cfn-lint tens of them on a busy machine): a progress event names the ones still running.
    const external: Promise<void>[] = [];
    const running = new Running(reporter);
    if (enabled.has('checkov')) external.push(timed('checkov', running, async () => runCheckov(root, files, { signal: stop.signal }), runs));
    if (enabled.has('cfn-lint')) external.push(timed('cfn-lint', running, async () => ({ findings: await runCfnLint(files, { signal: stop.signal }) }), runs));
    if (files.length > 0) running.show();
    // Keep every rejection observed; the first one is rethrown below.
    settled = Promise.allSettled(external);

    const inProcess: [CheckerName, (e: EnvInput) => Finding[]][] = [
      ['config', () => []],
      [
        'invariants',
        (e) => {
          if (!opts.invariants) throw new Error('validateRendered: the invariants checker needs opts.invariants');
          return opts.invariants(e);
        },
      ],
      ['rules', (e) => stackEntries(e).flatMap(([stack, t]) => checkRules(e.name, stack, t))],
      [
        'suppressions',
        (e) =>
          stackEntries(e).flatMap(([stack, t]) => {
            const c = collectSuppressions(e.name, stack, t);
            suppressions.push(...c.suppressions);
            return c.findings;
          }),
      ],
      [
        'asl',
        (e) => {
          const target = { region: e.config.account.region, account: e.config.account.id };
          const release = hasReleaseStateMachine(e) ? checkAsl(e.name, e.rendered[RELEASE_STATE_MACHINE_FILE], target, 'release_state_machine') : [];
          return [...checkAsl(e.name, e.rendered[STATE_MACHINE_FILE], target), ...release];
        },
      ],
      [
        'state-machine',
        (e) => [
          ...checkStateMachine(e.name, e.rendered[STATE_MACHINE_FILE], e.rendered['catalog-service.json']),
          ...(hasReleaseStateMachine(e) ? checkReleaseStateMachine(e.name, e.rendered[RELEASE_STATE_MACHINE_FILE], e.rendered['catalog-service.json'], e.config, alarmNamesOf(e.rendered['catalog-observability.json'])) : []),
        ],
      ],
    ];
    for (const [checker, fn] of inProcess) {
      // Suppressions are always collected: the report lists them even when their checker is off.
      if (!enabled.has(checker) && checker !== 'suppressions') continue;
      const t0 = performance.now();
      const findings: Finding[] = [];
      for (const e of envs) findings.push(...fn(e));
      if (enabled.has(checker)) runs.push({ checker, findings, durationMs: performance.now() - t0 });
    }

    for (const r of await settled) {
      if (r.status === 'rejected') throw opts.signal?.aborted ? new InterruptedError('validate: interrupted') : r.reason;
    }
    const envNames = [...(opts.extraEnvNames ?? []), ...envs.map((e) => e.name)];
    return buildReport({
      envs: envNames,
      files: files.map((f) => `${f.env}/${f.stack}.json`),
      runs,
      suppressions,
      durationMs: performance.now() - started,
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    await settled;
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Whether the env deploys a release state machine: its file or its resource in catalog-service.
 * Either without the other is a finding of the cross-check; neither (templates from before it)
 * leaves nothing to check.
 */
function hasReleaseStateMachine(e: EnvInput): boolean {
  const svc = e.rendered['catalog-service.json'] as { Resources?: Record<string, unknown> } | undefined;
  return e.rendered[RELEASE_STATE_MACHINE_FILE] !== undefined || svc?.Resources?.[RELEASE.ReleaseStateMachine] !== undefined;
}

/** The rendered files as plain JSON values: the bytes render writes, parsed back. */
export function plainFiles(rendered: RenderedFiles): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [file, value] of Object.entries(rendered)) out[file] = JSON.parse(canonicalJson(value)) as object;
  return out;
}

function stackEntries(e: EnvInput): [string, object][] {
  return STACK_NAMES.flatMap((s) => {
    const t = e.rendered[`${s}.json`];
    return t === undefined ? [] : [[s, t] as [string, object]];
  });
}

async function writeTemplates(root: string, envs: readonly EnvInput[]): Promise<TemplateFile[]> {
  const files: TemplateFile[] = [];
  for (const e of envs) {
    if (!/^[A-Za-z0-9._-]+$/.test(e.name)) throw new Error(`env name ${JSON.stringify(e.name)} is not usable as a directory name`);
    const dir = join(root, e.name);
    await mkdir(dir);
    for (const [stack, template] of stackEntries(e)) {
      const path = join(dir, `${stack}.json`);
      await writeFile(path, canonicalJson(template));
      files.push({ env: e.name, stack, path, region: e.config.account.region });
    }
  }
  return files;
}

/** The external checkers still running, shown as one progress event counting from their start. */
class Running {
  private readonly names = new Set<CheckerName>();
  private readonly startedAt = Date.now();
  constructor(readonly reporter: Reporter) {}
  add(checker: CheckerName): void {
    this.names.add(checker);
  }
  done(checker: CheckerName): void {
    this.names.delete(checker);
    this.show();
  }
  show(): void {
    if (this.names.size === 0) return;
    const checkers = [...this.names];
    this.reporter.report({ level: 'progress', topic: 'validate', message: `running ${checkers.join(', ')}`, data: { checkers, startedAt: this.startedAt } });
  }
}

async function timed(
  checker: CheckerName,
  running: Running,
  fn: () => Promise<{ findings: Finding[]; version?: string }>,
  runs: CheckerRun[],
): Promise<void> {
  running.add(checker);
  const t0 = performance.now();
  const r = await fn();
  const durationMs = performance.now() - t0;
  running.reporter.report({
    level: 'info',
    topic: 'validate',
    message: `${checker}: ${r.findings.length} finding(s) in ${(durationMs / 1000).toFixed(1)}s`,
    data: { checker, findings: r.findings.length, durationMs },
  });
  runs.push({ checker, findings: r.findings, durationMs, ...(r.version === undefined ? {} : { version: r.version }) });
  running.done(checker);
}
