/**
 * `catalogctl verify`: the seed's deployment verification against a running Catalog API, as a
 * library call so `release` can use it as a gate before each traffic step.
 *
 * - health: GET /storage/v1/catalog/datasets?limit=1, N times → every answer 200, p99 < 100 ms;
 * - synthetic: create a synthetic dataset (or take --dataset), describe it, check the descriptor,
 *   check its audit event was emitted (local: the audit sink; AWS: the event on the audit bus, seen
 *   by the caller's `auditEmitted`, e.g. ./audit-logs.ts), delete it;
 * - db-smoke: SELECT COUNT(*) FROM catalog_dataset, p95 < 100 ms (skipped without a database);
 * - auth-failures: share of this run's own requests the authorizer refused ≤ 1 %.
 */
import { randomUUID } from 'node:crypto';
import type { Reporter } from '../reporter.ts';
import { silentReporter } from '../reporter.ts';
import { ms, percentile, type CheckResult, type VerifyReport } from './report.ts';

export * from './report.ts';

export const HEALTH_PATH = '/storage/v1/catalog/datasets?limit=1';
export const DATASET_PATH = '/storage/v1/catalog/datasets';

export interface Thresholds {
  healthP99Ms: number;
  dbP95Ms: number;
  authFailurePercent: number;
}
export const DEFAULT_THRESHOLDS: Thresholds = { healthP99Ms: 100, dbP95Ms: 100, authFailurePercent: 1 };

export interface AuditCheck {
  emitted: boolean;
  detail: string;
}

export interface VerifyOptions {
  baseUrl: string;
  /** Bearer token for the API; without one every API call is an auth failure. */
  token?: string;
  /** Health probe requests (after one warm-up request that is not counted). */
  requests?: number;
  /** Runs of the DB smoke query. */
  dbRuns?: number;
  databaseUrl?: string;
  /** An existing dataset to describe instead of creating a synthetic one (needs no write role). */
  datasetId?: string;
  thresholds?: Partial<Thresholds>;
  /** `auto` asks the target for `/_local/info` when it is on loopback. */
  mode?: 'auto' | 'local' | 'aws';
  /**
   * How an AWS target's audit emission is seen: whether an audit event naming the dataset reached
   * the audit bus since `since` (any time when absent). Without it the audit part fails, saying how
   * to give one.
   */
  auditEmitted?: (datasetId: string, since: Date | undefined) => Promise<AuditCheck>;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  reporter?: Reporter;
}

interface Probe {
  status: number;
  ms: number;
  headers: Headers;
  body: string;
}

export async function verify(opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const t0 = performance.now();
  const th = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const reporter = opts.reporter ?? silentReporter;
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;
  const own = { total: 0, failures: 0, statuses: new Map<string, number>() };

  const request = async (path: string, init: RequestInit = {}): Promise<Probe> => {
    const headers = new Headers(init.headers);
    if (opts.token) headers.set('authorization', `Bearer ${opts.token}`);
    const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    const s = performance.now();
    const res = await fetch(base + path, { ...init, headers, signal });
    const body = await res.text();
    const elapsed = performance.now() - s;
    if (!path.startsWith('/_local/')) {
      own.total++;
      const refused = authorizerRefusal(res.status, res.headers, body);
      if (refused) {
        own.failures++;
        own.statuses.set(refused, (own.statuses.get(refused) ?? 0) + 1);
      }
    }
    return { status: res.status, ms: elapsed, headers: res.headers, body };
  };

  const local = await detectLocal(base, opts.mode ?? 'auto', timeoutMs);
  const mode = local ? 'local' : 'aws';
  const databaseUrl = opts.databaseUrl || local?.databaseUrl || undefined;
  const checks: CheckResult[] = [];

  reporter.report({ level: 'step', topic: 'verify', message: `health probe × ${opts.requests ?? 50}` });
  const health = await healthCheck(request, opts.requests ?? 50, th.healthP99Ms);
  checks.push(health.result);

  reporter.report({ level: 'step', topic: 'verify', message: 'synthetic describe' });
  checks.push(
    await syntheticCheck(request, {
      datasetId: opts.datasetId,
      local: local !== undefined,
      base,
      auditEmitted: opts.auditEmitted,
      timeoutMs,
    }),
  );

  reporter.report({ level: 'step', topic: 'verify', message: 'database smoke query' });
  checks.push(await dbSmokeCheck(databaseUrl, opts.dbRuns ?? 20, th.dbP95Ms));

  reporter.report({ level: 'step', topic: 'verify', message: 'auth failures' });
  checks.push(authCheck(own, th.authFailurePercent));

  return {
    ok: checks.every((c) => c.status !== 'fail'),
    target: base,
    mode,
    startedAt: new Date(started).toISOString(),
    durationMs: Math.round(performance.now() - t0),
    checks,
  };
}

interface LocalInfo {
  databaseUrl: string | null;
}

async function detectLocal(base: string, mode: 'auto' | 'local' | 'aws', timeoutMs: number): Promise<LocalInfo | undefined> {
  if (mode === 'aws') return undefined;
  const host = new URL(base).hostname;
  if (mode === 'auto' && !['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) return undefined;
  try {
    const res = await fetch(`${base}/_local/info`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) return (await res.json()) as LocalInfo;
  } catch {
    // Not a local server (or not up): treated as a deployed API.
  }
  if (mode === 'local') return { databaseUrl: null };
  return undefined;
}

type Request = (path: string, init?: RequestInit) => Promise<Probe>;

async function healthCheck(request: Request, n: number, p99Ms: number): Promise<{ result: CheckResult }> {
  const threshold = `200, p99 < ${p99Ms} ms`;
  const latencies: number[] = [];
  const bad = new Map<number, number>();
  let firstBad: Probe | undefined;
  let errors = 0;
  let lastError = '';
  // One warm-up request first: a cold start is not what the probe measures.
  for (let i = 0; i <= n; i++) {
    let p: Probe;
    try {
      p = await request(HEALTH_PATH);
    } catch (err) {
      errors++;
      lastError = errorText(err);
      if (i === 0) continue;
      latencies.push(Infinity);
      continue;
    }
    if (i === 0) continue;
    latencies.push(p.ms);
    if (p.status !== 200) {
      bad.set(p.status, (bad.get(p.status) ?? 0) + 1);
      firstBad ??= p;
    }
  }
  const okCount = latencies.length - [...bad.values()].reduce((a, b) => a + b, 0) - latencies.filter((l) => l === Infinity).length;
  const p99 = percentile(latencies.filter(Number.isFinite), 99);
  const figure = `p99 ${ms(p99)}, ${okCount}/${n} × 200`;
  if (errors > 0 && okCount === 0) return { result: { name: 'health', status: 'fail', figure, threshold, detail: `no answer: ${lastError}` } };
  if (bad.size > 0 || errors > 0) {
    const statuses = [...bad.entries()].map(([s, c]) => `${c} × ${s}`).join(', ');
    return {
      result: {
        name: 'health',
        status: 'fail',
        figure,
        threshold,
        value: p99,
        detail: [statuses && `got ${statuses}${firstBad ? `: ${snippet(firstBad.body)}` : ''}`, errors ? `${errors} request(s) failed: ${lastError}` : ''].filter(Boolean).join('; '),
      },
    };
  }
  const pass = p99 < p99Ms;
  return { result: { name: 'health', status: pass ? 'pass' : 'fail', figure, threshold, value: p99, ...(pass ? {} : { detail: `p99 ${ms(p99)} is not under ${p99Ms} ms` }) } };
}

async function syntheticCheck(
  request: Request,
  o: { datasetId?: string; local: boolean; base: string; auditEmitted?: VerifyOptions['auditEmitted']; timeoutMs: number },
): Promise<CheckResult> {
  const threshold = 'descriptor valid, audit event emitted';
  const fail = (figure: string, detail: string): CheckResult => ({ name: 'synthetic', status: 'fail', figure, threshold, detail });
  const since = new Date(Date.now() - 1000);
  let id = o.datasetId;
  let expectName: string | undefined;
  let cleanup = '';
  try {
    if (!id) {
      // Audit events come from writes: create a synthetic dataset, describe it, then remove it.
      expectName = `verify-synthetic-${randomUUID()}`;
      const created = await request(DATASET_PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: expectName, description: 'catalogctl verify synthetic check; deleted right after', descriptor: { synthetic: true } }),
      });
      if (created.status !== 201 && created.status !== 200) {
        return fail(`create → ${created.status}`, `create a synthetic dataset: ${created.status} ${snippet(created.body)}${created.status === 403 ? ' (the token needs the owner or platform role, or pass --dataset <id>)' : ''}`);
      }
      id = idOf(created.body);
      if (!id) return fail('create gave no id', `create a synthetic dataset: no id in ${snippet(created.body)}`);
    }
    let p: Probe;
    try {
      p = await request(`${DATASET_PATH}/${encodeURIComponent(id)}`);
    } catch (err) {
      return fail('no answer', `describe ${id}: ${errorText(err)}`);
    }
    if (p.status !== 200) return fail(`describe → ${p.status}`, `describe ${id}: ${p.status} ${snippet(p.body)}`);
    const problems = descriptorProblems(p, id, expectName);
    if (problems.length) return fail('descriptor invalid', `dataset ${id}: ${problems.join('; ')}`);
    let audit: AuditCheck;
    try {
      // An existing dataset (--dataset) was not written by this run: any event naming it will do.
      const auditSince = o.datasetId ? undefined : since;
      audit = o.local
        ? await localAudit(o.base, id, auditSince, o.timeoutMs)
        : o.auditEmitted
          ? await o.auditEmitted(id, auditSince)
          : { emitted: false, detail: "cannot see the audit bus: give --env (its catalog-service stack's AuditLogGroupName output) or --audit-log-group" };
    } catch (err) {
      audit = { emitted: false, detail: `audit lookup failed: ${errorText(err)}` };
    }
    if (!o.datasetId) {
      const del = await request(`${DATASET_PATH}/${encodeURIComponent(id)}`, { method: 'DELETE', headers: { 'if-match': p.headers.get('etag') ?? '*' } }).catch((err: unknown) => ({ status: 0, body: errorText(err) }) as Probe);
      if (del.status >= 300 || del.status === 0) cleanup = `; synthetic dataset ${id} not deleted: ${del.status} ${snippet(del.body)}`;
    }
    const figure = `describe ${ms(p.ms)}, audit ${audit.emitted ? 'emitted' : 'missing'}`;
    return audit.emitted
      ? { name: 'synthetic', status: 'pass', figure, threshold, value: p.ms, detail: audit.detail + cleanup }
      : fail(figure, audit.detail + cleanup);
  } catch (err) {
    return fail('no answer', `${errorText(err)}${cleanup}`);
  }
}

function idOf(body: string): string | undefined {
  try {
    const doc = JSON.parse(body) as Record<string, unknown>;
    const d = (typeof doc.dataset === 'object' && doc.dataset ? doc.dataset : doc) as Record<string, unknown>;
    const id = d.id ?? d.dataset_id;
    return id === undefined || id === null ? undefined : String(id);
  } catch {
    return undefined;
  }
}

/** What a descriptor must hold: its own id, its name, an ETag for caching, and a known freshness status. */
export function descriptorProblems(p: { headers: Headers; body: string }, id: string, expectName?: string): string[] {
  const problems: string[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(p.body) as Record<string, unknown>;
  } catch {
    return ['body is not JSON'];
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return ['body is not a JSON object'];
  const d = (typeof doc.dataset === 'object' && doc.dataset ? doc.dataset : doc) as Record<string, unknown>;
  const got = d.id ?? d.dataset_id;
  if (String(got) !== id) problems.push(`id is ${JSON.stringify(got)}, expected ${JSON.stringify(id)}`);
  if (typeof d.name !== 'string' || d.name === '') problems.push('name missing');
  else if (expectName !== undefined && d.name !== expectName) problems.push(`name is ${JSON.stringify(d.name)}, expected ${JSON.stringify(expectName)}`);
  const fresh = d.freshness as { status?: unknown } | undefined;
  if (fresh !== undefined && !['fresh', 'stale', 'unknown'].includes(String(fresh?.status))) problems.push(`freshness.status is ${JSON.stringify(fresh?.status)}`);
  if (!p.headers.get('etag')) problems.push('no ETag header');
  return problems;
}

async function localAudit(base: string, id: string, since: Date | undefined, timeoutMs: number): Promise<AuditCheck> {
  // Emission is asynchronous; give it a moment.
  const deadline = Date.now() + Math.min(timeoutMs, 3000);
  for (;;) {
    const res = await fetch(`${base}/_local/audit?contains=${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(timeoutMs) });
    const { events } = (await res.json()) as { events: { receivedAt: string; detailType: string | null }[] };
    const recent = since ? events.filter((e) => Date.parse(e.receivedAt) >= since.getTime()) : events;
    if (recent.length > 0) return { emitted: true, detail: `${recent.length} event(s): ${recent.map((e) => e.detailType).join(', ')}` };
    if (Date.now() >= deadline) {
      return {
        emitted: false,
        detail: events.length
          ? `no audit event for ${id} since the check began (${events.length} older one(s) in the sink)`
          : `no audit event for ${id} in the local sink`,
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const SMOKE_QUERY = 'SELECT COUNT(*) FROM catalog_dataset';

async function dbSmokeCheck(databaseUrl: string | undefined, runs: number, p95Ms: number): Promise<CheckResult> {
  const threshold = `p95 < ${p95Ms} ms`;
  if (!databaseUrl) return { name: 'db-smoke', status: 'skipped', figure: 'not run', threshold, detail: 'no database to query: pass --database-url' };
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000, statement_timeout: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const times: number[] = [];
    let count = '';
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      const r = await client.query<{ count: string }>(SMOKE_QUERY);
      times.push(performance.now() - s);
      count = r.rows[0]?.count ?? '';
    }
    const p95 = percentile(times, 95);
    const pass = p95 < p95Ms;
    return { name: 'db-smoke', status: pass ? 'pass' : 'fail', figure: `p95 ${ms(p95)} (${count} rows)`, threshold, value: p95, ...(pass ? {} : { detail: `p95 ${ms(p95)} is not under ${p95Ms} ms` }) };
  } catch (err) {
    return { name: 'db-smoke', status: 'fail', figure: 'query failed', threshold, detail: `${SMOKE_QUERY}: ${errorText(err)}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Whether an answer is the authorizer refusing the request, and how: API Gateway's 401 (the
 * authorizer threw Unauthorized, or no token), its ACCESS_DENIED 403 (a policy that denies), its
 * AUTHORIZER_FAILURE / AUTHORIZER_CONFIGURATION_ERROR 500s. A handler's own 403 (a role that may not
 * write) is an answer about permissions, not an auth failure.
 */
export function authorizerRefusal(status: number, headers: Headers, body: string): string | undefined {
  const type = headers.get('x-amzn-errortype') ?? '';
  if (status === 401) return '401';
  if (status === 403 && (type.startsWith('AccessDeniedException') || /explicit deny/i.test(body))) return '403 deny';
  if (status >= 500 && /^Authorizer/i.test(type)) return `${status} authorizer failure`;
  return undefined;
}

/** Only this run's own requests count, so traffic before or beside it (a token-less curl) cannot fail it. */
function authCheck(own: { total: number; failures: number; statuses: Map<string, number> }, threshold: number): CheckResult {
  const limit = `≤ ${threshold} %`;
  if (own.total === 0) return { name: 'auth-failures', status: 'skipped', figure: "no requests (verify's own)", threshold: limit, detail: 'nothing reached the API to measure' };
  const rate = (100 * own.failures) / own.total;
  const pass = rate <= threshold;
  const figure = `${rate.toFixed(2)} % (${own.failures}/${own.total}, verify's own requests)`;
  const how = [...own.statuses.entries()].map(([k, n]) => `${n} × ${k}`).join(', ');
  return { name: 'auth-failures', status: pass ? 'pass' : 'fail', figure, threshold: limit, value: rate, ...(pass ? {} : { detail: `${own.failures} of this run's ${own.total} requests refused by the authorizer (${how})` }) };
}

function snippet(body: string): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > 160 ? one.slice(0, 157) + '…' : one;
}

function errorText(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string }; code?: string };
  return [e?.message, e?.cause?.code ?? e?.code].filter(Boolean).join(' ') || String(err);
}
