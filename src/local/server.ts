/**
 * `catalogctl local`: the Catalog API on 127.0.0.1 as API Gateway would serve it: the real handlers,
 * behind the real authorizer with a local signing key, on PostgreSQL (DATABASE_URL or a throwaway
 * cluster, migrated and seeded), audit events in a local sink, and catalog creation running the
 * poller's state machine locally.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { UserInputError } from '../errors.ts';
import type { ReportEvent, Reporter } from '../reporter.ts';
import { AuditSink, DecisionLog, type Decision } from './audit-sink.ts';
import { startAwsStub, type AwsStub } from './aws-stub.ts';
import {
  authorizerContext,
  fromProxyResult,
  jsonResponse,
  lambdaContext,
  matchRoute,
  methodArn,
  policyAllows,
  readRequestBody,
  requestTooLarge,
  toProxyEvent,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type AuthorizerHandler,
  type AuthorizerResult,
  type ProxyHandler,
  type TaskHandler,
} from './gateway.ts';
import { jwks, loadOrCreateKey, mintToken, LOCAL_AUDIENCE, LOCAL_ISSUER, DEFAULT_STATE_DIR, type LocalKey } from './keys.ts';
import { LocalPoller, LOCAL_STATE_MACHINE_ARN, type PollerEvent } from './poller.ts';
import { startThrowawayCluster, type ThrowawayCluster } from './postgres.ts';

/** The functions `local` runs, with the signatures API Gateway, Step Functions and a release give them. */
export interface HandlerSet {
  'list-datasets': ProxyHandler;
  'get-dataset': ProxyHandler;
  'write-dataset': ProxyHandler;
  authorizer: AuthorizerHandler;
  'check-catalog-status': TaskHandler;
  'update-catalog-db': TaskHandler;
  migrate: TaskHandler;
}

export interface LocalOptions {
  /** 0 picks a free port. Always bound to 127.0.0.1. */
  port: number;
  databaseUrl?: string;
  /** Base URL of the external catalog API the poller checks. */
  externalApi?: string;
  /** Bearer token the poller sends to the external API; a token minted with the local key otherwise. */
  externalApiToken?: string;
  /** Make sure at least this many datasets exist (0: seed nothing). */
  seed?: number;
  stateDir?: string;
  /** The env whose app settings, stage variables and state machine are used. */
  app?: {
    readPageLimit: number;
    cacheTtlSec: number;
    drrIntegration: boolean;
    auditAsync: boolean;
    dbMaxConn: number;
  };
  stageVariables?: Record<string, string>;
  /** Each function's timeout in ms, as the env sets it: the context a handler gets says so. */
  functionTimeoutsMs?: Partial<Record<string, number>>;
  /** The env's `logging.successLogSampleRate` (LOG_SUCCESS_SAMPLE_RATE); every success logged when absent. */
  successLogSampleRate?: number;
  /** The poller's ASL definition (with placeholders); no poller without it. */
  stateMachine?: object;
  /** Override every Wait state with this many ms; the definition's own timing otherwise. */
  pollWaitMs?: number;
  /** How long an authorizer's policy is reused for the same token (API Gateway's result TTL). */
  authorizerCacheSeconds?: number;
  /** Loads the handlers after the environment they read is in place. */
  loadHandlers: () => Promise<HandlerSet>;
  /** Inserts datasets until `count` exist; schema knowledge lives with the caller. */
  seedDatasets?: (databaseUrl: string, count: number, reporter: Reporter) => Promise<number>;
  reporter: Reporter;
  onAccess?: (entry: AccessLogEntry) => void;
}

export interface AccessLogEntry {
  requestId: string;
  ip: string;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
  tenantId: string | null;
  decision: Decision | null;
}

export interface LocalServer {
  url: string;
  port: number;
  databaseUrl: string;
  /** True when `databaseUrl` belongs to a cluster this server started. */
  ownsDatabase: boolean;
  auditFile: string;
  audit: AuditSink;
  decisions: DecisionLog;
  poller: LocalPoller | undefined;
  cluster: ThrowawayCluster | undefined;
  /** The external catalog API CheckCatalogStatus calls (the handlers' EXTERNAL_API_BASE_URL). */
  externalApi: string;
  stop(): Promise<void>;
}

/** Where nothing listens (the discard port): without an external API, a poll fails at once and says so. */
export const NO_EXTERNAL_API = 'http://127.0.0.1:9/';

function externalApiOf(opts: Pick<LocalOptions, 'externalApi'>): string {
  return opts.externalApi ?? NO_EXTERNAL_API;
}

/**
 * Starts everything in order — database, AWS stub, HTTP listener, the handlers' environment,
 * handlers (migrated, seeded), poller — and, if any step fails, stops what already started.
 */
export async function startLocal(opts: LocalOptions): Promise<LocalServer> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const reporter = opts.reporter;
  const key = await loadOrCreateKey(stateDir);
  const auditFile = join(stateDir, 'audit.jsonl');
  const audit = new AuditSink(auditFile);
  const decisions = new DecisionLog();
  const cleanups = new Cleanups();
  try {
    const served: Served = { handlers: undefined, poller: undefined, info: () => ({}) };
    const server = createServer(
      requestListener({ served, key, audit, decisions, reporter, stageVariables: opts.stageVariables ?? {}, functionTimeoutsMs: opts.functionTimeoutsMs, onAccess: opts.onAccess }, new CachedAuthorizer(served, reporter, opts.authorizerCacheSeconds ?? 300, opts.functionTimeoutsMs?.authorizer)),
    );
    // The port first: a busy one fails before a database is started for nothing.
    const { port, url } = await listen(server, opts.port, cleanups);
    const { databaseUrl, cluster } = await provideDatabase(opts.databaseUrl, reporter, cleanups);
    served.info = () => ({
      api: url,
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      // Only a password-less URL (the throwaway cluster) is shared, so `verify` can find it.
      databaseUrl: cluster ? databaseUrl : null,
      auditFile,
      stateMachineArn: served.poller ? LOCAL_STATE_MACHINE_ARN : null,
      externalApi: externalApiOf(opts),
    });
    const stub = await startStub(opts, key, audit, served, cleanups);
    // Everything the handlers read from their environment, as catalog-service sets it in AWS.
    setEnvironment(handlerEnvironment({ databaseUrl, url, awsEndpoint: stub.endpoint, externalApi: opts.externalApi, app: opts.app, successLogSampleRate: opts.successLogSampleRate }), cleanups);
    const handlers = await prepareHandlers(opts, databaseUrl, reporter);
    served.poller = startPoller(opts, handlers, reporter, cleanups);
    served.handlers = handlers;
    reporter.report({ level: 'ok', topic: 'local', message: `Catalog API on ${url}`, data: served.info() });
    return { url, port, databaseUrl, ownsDatabase: cluster !== undefined, auditFile, audit, decisions, poller: served.poller, cluster, externalApi: externalApiOf(opts), stop: () => cleanups.run() };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}

/** Undo steps, run last-first; each runs once and a failing one does not stop the others. */
class Cleanups {
  private readonly steps: (() => Promise<void>)[] = [];
  push(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  /** For a step that must run after everything pushed so far (restoring process.env). */
  pushFirst(step: () => Promise<void>): void {
    this.steps.unshift(step);
  }
  async run(): Promise<void> {
    for (const fn of this.steps.splice(0).reverse()) await fn().catch(() => undefined);
  }
}

/** What the request listener serves; filled in as start-up proceeds. */
interface Served {
  handlers: HandlerSet | undefined;
  poller: LocalPoller | undefined;
  info(): Record<string, unknown>;
}

/** `--database-url` as given, or a throwaway cluster with a `catalog` database. */
async function provideDatabase(given: string | undefined, reporter: Reporter, cleanups: Cleanups): Promise<{ databaseUrl: string; cluster?: ThrowawayCluster }> {
  if (given) return { databaseUrl: given };
  reporter.report({ level: 'progress', topic: 'local', message: 'starting a throwaway PostgreSQL cluster' });
  const cluster = await startThrowawayCluster();
  cleanups.push(() => cluster.stop());
  const databaseUrl = await createDatabase(cluster.adminUrl, 'catalog');
  reporter.report({ level: 'ok', topic: 'local', message: `PostgreSQL on 127.0.0.1:${cluster.port}`, data: { databaseUrl } });
  return { databaseUrl, cluster };
}

/** The loopback AWS endpoint the handlers' SDK clients call. */
async function startStub(opts: LocalOptions, key: LocalKey, audit: AuditSink, served: Served, cleanups: Cleanups): Promise<AwsStub> {
  // The poller reads its external API token from a secret (TOKEN_SECRET_ARN), never from the
  // execution input; locally that secret is served by the stub.
  const tokenSecret = async (): Promise<string> =>
    JSON.stringify({ token: opts.externalApiToken ?? (await mintToken(key, { tenant: 'local', roles: ['poller'], ttlSeconds: 900, subject: 'local:poller' })) });
  const stub = await startAwsStub({ audit, poller: () => served.poller, secrets: { [LOCAL_TOKEN_SECRET_ARN]: tokenSecret } });
  cleanups.push(() => stub.close());
  return stub;
}

async function listen(server: Server, port: number, cleanups: Cleanups): Promise<{ port: number; url: string }> {
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new UserInputError(`--port ${port}: 127.0.0.1:${port} is in use (another catalogctl local?); stop it, or pick another port with --port (0 picks a free one)`));
      else if (err.code === 'EACCES') reject(new UserInputError(`--port ${port}: not allowed to listen on 127.0.0.1:${port} (ports below 1024 need privileges); pick another with --port`));
      else reject(err);
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, url: `http://127.0.0.1:${bound}` };
}

/** Set the handlers' variables in this process, and put the previous values back on stop. */
function setEnvironment(env: Record<string, string>, cleanups: Cleanups): void {
  const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  cleanups.pushFirst(async () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/** Load the handlers (after their environment is set), run the migrations, seed. */
async function prepareHandlers(opts: LocalOptions, databaseUrl: string, reporter: Reporter): Promise<HandlerSet> {
  const loaded = await opts.loadHandlers();
  reporter.report({ level: 'progress', topic: 'local', message: 'running migrations' });
  await loaded.migrate({}, lambdaContext('migrate', opts.functionTimeoutsMs?.migrate ?? 300_000));
  if (opts.seed && opts.seedDatasets) {
    reporter.report({ level: 'progress', topic: 'local', message: `seeding ${opts.seed} datasets` });
    const n = await opts.seedDatasets(databaseUrl, opts.seed, reporter);
    reporter.report({ level: 'ok', topic: 'local', message: `${n} datasets in catalog_dataset` });
  }
  return loaded;
}

function startPoller(opts: LocalOptions, handlers: HandlerSet, reporter: Reporter, cleanups: Cleanups): LocalPoller | undefined {
  if (!opts.stateMachine) return undefined;
  const poller = new LocalPoller({
    definition: opts.stateMachine,
    handlers,
    functionTimeoutsMs: opts.functionTimeoutsMs,
    ...(opts.pollWaitMs !== undefined ? { waitMs: opts.pollWaitMs, retryMs: opts.pollWaitMs } : {}),
    onEvent: (e) => reporter.report(pollerEvent(e, externalApiOf(opts))),
  });
  cleanups.push(() => poller.stopAll());
  return poller;
}

/** One line per poller event; a failed step names what it called and the error, a failed run its last failed step. */
function pollerEvent(e: PollerEvent, externalApi: string): ReportEvent {
  const name = e.executionArn.split(':').pop();
  const data = { ...e, externalApi };
  if (e.failure) return { level: 'warn', topic: 'poller', message: `${name} ${e.failure.state} failed: ${e.failure.error}: ${e.failure.message}`, data };
  if (e.status === 'FAILED') {
    const last = e.lastFailure ? `; last failed step ${e.lastFailure.state}: ${e.lastFailure.error}: ${e.lastFailure.message}` : '';
    return { level: 'warn', topic: 'poller', message: `${name} FAILED (${e.error ?? 'error'}: ${e.cause ?? 'no cause'})${last}`, data };
  }
  return { level: 'info', topic: 'poller', message: `${name} ${e.state ?? e.status}`, data };
}

interface GatewayDeps {
  served: Served;
  key: LocalKey;
  audit: AuditSink;
  decisions: DecisionLog;
  reporter: Reporter;
  stageVariables: Record<string, string>;
  functionTimeoutsMs?: Partial<Record<string, number>>;
  onAccess?: (entry: AccessLogEntry) => void;
}

type LocalResponse = ReturnType<typeof jsonResponse>;

/** What API Gateway does with a request, in its order: route, authorizer, proxy event, handler, response. */
function requestListener(deps: GatewayDeps, authorizer: CachedAuthorizer): (req: IncomingMessage, res: ServerResponse) => void {
  const { served, decisions, reporter } = deps;
  async function handle(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const read = await readRequestBody(req);
    if (read.kind === 'too-large') return write(res, requestTooLarge());
    const body = read.body;
    if (url.pathname.startsWith('/_local/')) return write(res, localEndpoint(deps, req.method ?? 'GET', url));
    const handlers = served.handlers;
    if (!handlers) return write(res, jsonResponse(503, { message: 'catalogctl local is starting' }));
    const method = req.method ?? 'GET';
    const logAccess = (decision: Decision, tenantId: string | null, requestId = ''): void =>
      deps.onAccess?.({
        requestId,
        ip: req.socket.remoteAddress ?? '',
        method,
        path: url.pathname,
        status: res.statusCode,
        latencyMs: Math.round((performance.now() - started) * 100) / 100,
        tenantId,
        decision,
      });
    const m = matchRoute(method, url.pathname);
    // API Gateway answers unknown resources and methods like this, before any authorizer.
    if (m.kind !== 'match') return write(res, jsonResponse(403, { message: 'Missing Authentication Token' }));
    const arn = methodArn(method, m.match.route.resource.replace(/\{[^}]+\}/g, (p) => m.match.pathParameters?.[p.slice(1, -1)] ?? p));
    const auth = await authorizer.authorize(req.headers.authorization, arn);
    decisions.record(auth.decision);
    if (auth.kind === 'reject') {
      write(res, auth.response);
      return logAccess(auth.decision, null);
    }
    const event = toProxyEvent(req, url, m.match, body, auth.context, deps.stageVariables);
    let result: unknown;
    try {
      result = await handlers[m.match.route.fn](event, lambdaContext(m.match.route.fn, deps.functionTimeoutsMs?.[m.match.route.fn]));
    } catch (err) {
      reporter.report({ level: 'warn', topic: 'local', message: `${m.match.route.fn} threw: ${(err as Error).message}` });
      result = undefined;
    }
    const out = fromProxyResult(result);
    out.headers['x-amzn-requestid'] = event.requestContext.requestId;
    write(res, out);
    const tenant = auth.context.tenantId ?? auth.context.tenant_id;
    logAccess(auth.decision, tenant === undefined ? null : String(tenant), event.requestContext.requestId);
  }
  return (req, res) => {
    handle(req, res, performance.now()).catch((err: Error) => {
      reporter.report({ level: 'warn', topic: 'local', message: `request failed: ${err.message}` });
      if (!res.headersSent) write(res, jsonResponse(502, { message: 'Internal server error' }));
      else res.destroy();
    });
  };
}

type AuthOutcome =
  | { kind: 'allow'; decision: Decision; context: Record<string, string | number | boolean> }
  | { kind: 'reject'; decision: Decision; response: LocalResponse };

/** The TOKEN authorizer with API Gateway's result cache: a policy is reused for the same token for the TTL. */
class CachedAuthorizer {
  private readonly cache = new Map<string, { result: AuthorizerResult; until: number }>();
  private readonly cacheMs: number;
  constructor(
    private readonly served: Served,
    private readonly reporter: Reporter,
    cacheSeconds: number,
    private readonly timeoutMs?: number,
  ) {
    this.cacheMs = cacheSeconds * 1000;
  }

  async authorize(header: string | undefined, arn: string): Promise<AuthOutcome> {
    if (!header || !header.trim()) return { kind: 'reject', decision: 'unauthorized', response: jsonResponse(401, { message: 'Unauthorized' }) };
    const now = Date.now();
    let result = this.cache.get(header);
    if (!result || result.until <= now) {
      this.cache.delete(header);
      try {
        const r = await this.served.handlers!.authorizer({ type: 'TOKEN', authorizationToken: header, methodArn: arn }, lambdaContext('authorizer', this.timeoutMs));
        result = { result: r, until: now + this.cacheMs };
        if (this.cacheMs > 0) {
          if (this.cache.size > 10_000) this.cache.clear();
          this.cache.set(header, result);
        }
      } catch (err) {
        if ((err as Error)?.message === 'Unauthorized') return { kind: 'reject', decision: 'unauthorized', response: jsonResponse(401, { message: 'Unauthorized' }) };
        this.reporter.report({ level: 'warn', topic: 'local', message: `authorizer failed: ${(err as Error)?.message}` });
        return { kind: 'reject', decision: 'error', response: jsonResponse(500, { message: null }) };
      }
    }
    if (!policyAllows(result.result.policyDocument, 'execute-api:Invoke', arn)) {
      return { kind: 'reject', decision: 'deny', response: jsonResponse(403, { Message: 'User is not authorized to access this resource with an explicit deny' }) };
    }
    return { kind: 'allow', decision: 'allow', context: authorizerContext(result.result) };
  }
}

/** `GET /_local/*`: the JWKS, server info, the audit sink, authorizer decisions, poller executions. */
function localEndpoint(deps: GatewayDeps, method: string, url: URL): LocalResponse {
  if (method !== 'GET') return jsonResponse(405, { message: 'GET only' });
  const since = url.searchParams.get('since');
  const sinceMs = since === null ? undefined : Number.isFinite(Number(since)) ? Number(since) : Date.parse(since);
  switch (url.pathname) {
    case '/_local/jwks.json':
      return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=300' }, body: Buffer.from(JSON.stringify(jwks(deps.key))) };
    case '/_local/info':
      return jsonResponse(200, deps.served.info());
    case '/_local/audit':
      return jsonResponse(200, { events: deps.audit.list({ contains: url.searchParams.get('contains') ?? undefined, sinceMs }) });
    case '/_local/authorizer/decisions':
      return jsonResponse(200, deps.decisions.summary(sinceMs ?? 0));
    case '/_local/executions':
      return jsonResponse(200, { executions: deps.served.poller?.list() ?? [] });
    default:
      return jsonResponse(404, { message: `no local endpoint ${url.pathname}` });
  }
}

export const LOCAL_TOKEN_SECRET_ARN = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:catalog-poller-token-local`;

export function handlerEnvironment(o: { databaseUrl: string; url: string; awsEndpoint: string; externalApi?: string; app?: LocalOptions['app']; successLogSampleRate?: number }): Record<string, string> {
  const app = o.app ?? { readPageLimit: 500, cacheTtlSec: 60, drrIntegration: true, auditAsync: true, dbMaxConn: 10 };
  return {
    DATABASE_URL: o.databaseUrl,
    JWT_JWKS_URI: `${o.url}/_local/jwks.json`,
    JWT_ISSUER: LOCAL_ISSUER,
    JWT_AUDIENCE: LOCAL_AUDIENCE,
    READ_PAGE_LIMIT: String(app.readPageLimit),
    CACHE_TTL_SEC: String(app.cacheTtlSec),
    DRR_INTEGRATION: String(app.drrIntegration),
    AUDIT_ASYNC: String(app.auditAsync),
    DB_MAX_CONN: String(app.dbMaxConn),
    EVIDENCE_BUS_ARN: `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:event-bus/evidence-ledger`,
    STATE_MACHINE_ARN: LOCAL_STATE_MACHINE_ARN,
    EXTERNAL_API_BASE_URL: externalApiOf(o),
    TOKEN_SECRET_ARN: LOCAL_TOKEN_SECRET_ARN,
    ...(o.successLogSampleRate !== undefined ? { LOG_SUCCESS_SAMPLE_RATE: String(o.successLogSampleRate) } : {}),
    // Loopback PostgreSQL has no TLS; the handlers only read this when DATABASE_URL is unset.
    DB_SSL: 'false',
    AWS_ENDPOINT_URL: o.awsEndpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // The local stub checks no signatures; these only satisfy the SDK's credential chain.
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  };
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${pgIdent(name)}`);
  } finally {
    await client.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

function pgIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

function write(res: ServerResponse, out: { status: number; headers: Record<string, string | string[]>; body: Buffer }): void {
  res.writeHead(out.status, { ...out.headers, 'content-length': out.body.length });
  res.end(out.body);
}
