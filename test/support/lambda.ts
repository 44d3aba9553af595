/**
 * The packaged zips as Lambda lays them out, and containers that run them.
 * - `layOut`: each function's zip unpacked into its own `<root>/<fn>/var/task`, the pg layer into a
 *   shared `<root>/opt`, and an empty `<root>/var/runtime` (the runtime's own modules are not there:
 *   a zip that needs one fails here).
 * - `startContainer`: a fresh Node process with the environment Lambda gives a function (NODE_PATH
 *   as the Node.js runtime sets it, LAMBDA_TASK_ROOT, the function's variables), loading
 *   `index.handler` with require(); `invoke` runs one event in it (warm after the first).
 * - `templateEnvironment`: a function's variables from a rendered catalog-service template, with
 *   Ref/GetAtt resolved from a map the test gives, and Lambda paths mapped into the layout.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ArtifactManifest } from '../../src/package/index.ts';

const RUNNER = resolve('test/support/lambda-runner.cjs');

export interface LambdaLayout {
  root: string;
  opt: string;
  runtimeDir: string;
  taskRoot(fn: string): string;
  /** NODE_PATH as the Node.js runtime sets it, with /opt, /var/runtime and /var/task mapped here. */
  nodePath(fn: string): string;
}

export function layOut(manifest: ArtifactManifest, root: string): LambdaLayout {
  const opt = join(root, 'opt');
  const runtimeDir = join(root, 'var/runtime');
  mkdirSync(runtimeDir, { recursive: true });
  execFileSync('unzip', ['-q', '-o', manifest.layers.pg.zipPath, '-d', opt]);
  for (const [fn, a] of Object.entries(manifest.functions)) {
    const task = join(root, fn, 'var/task');
    mkdirSync(task, { recursive: true });
    execFileSync('unzip', ['-q', '-o', a.zipPath, '-d', task]);
  }
  const major = manifest.runtime.replace(/^nodejs(\d+)\.x$/, '$1');
  const taskRoot = (fn: string) => join(root, fn, 'var/task');
  return {
    root,
    opt,
    runtimeDir,
    taskRoot,
    nodePath: (fn) => [`${opt}/nodejs/node${major}/node_modules`, `${opt}/nodejs/node_modules`, `${runtimeDir}/node_modules`, runtimeDir, taskRoot(fn)].join(':'),
  };
}

export type InvokeResult = { ok: true; result: unknown; ms: number } | { ok: false; error: { name?: string; code?: string; message?: string }; ms: number };

export interface Container {
  fn: string;
  /** Time to require index.js, measured inside the process. */
  initMs: number;
  invoke(event: unknown): Promise<InvokeResult>;
  /** What the function wrote to stdout and stderr so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Environment Lambda sets for every function, beside the function's own variables. */
export function lambdaBaseEnv(layout: LambdaLayout, fn: string, runtime: string, region: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    NODE_PATH: layout.nodePath(fn),
    LAMBDA_TASK_ROOT: layout.taskRoot(fn),
    LAMBDA_RUNTIME_DIR: layout.runtimeDir,
    AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: fn,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
  };
}

export async function startContainer(layout: LambdaLayout, fn: string, env: Record<string, string>): Promise<Container> {
  const child: ChildProcess = spawn(process.execPath, [RUNNER], { cwd: layout.taskRoot(fn), env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const lines = createInterface({ input: child.stdio[3] as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  lines.on('line', (l) => (waiting.length ? waiting.shift()!(l) : queued.push(l)));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const next = (): Promise<string> =>
    new Promise((res, rej) => {
      if (queued.length) return res(queued.shift()!);
      waiting.push(res);
      void exited.then((code) => rej(new Error(`${fn} container exited (${code}) with no answer; logs:\n${logs}`)));
    });
  const init = JSON.parse(await next()) as { init: boolean; ms?: number; error?: { code?: string; message?: string } };
  if (!init.init) throw new Error(`${fn}: the runtime could not load index.handler: ${init.error?.code ?? ''} ${init.error?.message ?? ''}\n${logs}`);
  return {
    fn,
    initMs: init.ms ?? 0,
    async invoke(event) {
      child.stdin!.write(`${JSON.stringify(event)}\n`);
      return JSON.parse(await next()) as InvokeResult;
    },
    logs: () => logs,
    async stop() {
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

type Intrinsic = { Ref?: string; 'Fn::GetAtt'?: [string, string] };

/**
 * A function's Environment.Variables from a rendered catalog-service template. `refs` maps a Ref's
 * name, or `Resource.Attribute` for a GetAtt, to its local value; anything unmapped is an error
 * naming it. Paths under /var/runtime, /var/task and /opt are mapped into the layout.
 */
export function templateEnvironment(templatePath: string, logicalId: string, refs: Record<string, string>, layout: LambdaLayout, fn: string): Record<string, string> {
  const t = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, { Properties?: { Environment?: { Variables?: Record<string, string | Intrinsic> } } }> };
  const vars = t.Resources[logicalId]?.Properties?.Environment?.Variables;
  if (!vars) throw new Error(`${templatePath}: ${logicalId} has no Environment.Variables`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    let value: string | undefined;
    if (typeof v === 'string') value = v;
    else if (v.Ref) value = refs[v.Ref];
    else if (v['Fn::GetAtt']) value = refs[v['Fn::GetAtt'].join('.')];
    if (value === undefined) throw new Error(`${templatePath}: ${logicalId} ${k} = ${JSON.stringify(v)} has no local value; map it in the test`);
    out[k] = value
      .replace(/^\/var\/runtime(?=\/|$)/, layout.runtimeDir)
      .replace(/^\/var\/task(?=\/|$)/, layout.taskRoot(fn))
      .replace(/^\/opt(?=\/|$)/, layout.opt);
  }
  return out;
}
