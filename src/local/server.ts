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
import type { Reporter } from '../reporter.ts';
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
import { jwks, loadOrCreateKey, mintToken, LOCAL_AUDIENCE, LOCAL_ISSUER, DEFAULT_STATE_DIR } from './keys.ts';
import { LocalPoller, LOCAL_STATE_MACHINE_ARN } from './poller.ts';
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
  stop(): Promise<void>;
}

export async function startLocal(opts: LocalOptions): Promise<LocalServer> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const reporter = opts.reporter;
  const key = await loadOrCreateKey(stateDir);
  const auditFile = join(stateDir, 'audit.jsonl');
  const audit = new AuditSink(auditFile);
  const decisions = new DecisionLog();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };

  try {
    let cluster: ThrowawayCluster | undefined;
    let databaseUrl = opts.databaseUrl;
    if (!databaseUrl) {
      reporter.report({ level: 'step', topic: 'local', message: 'starting a throwaway PostgreSQL cluster' });
      cluster = await startThrowawayCluster();
      cleanups.push(() => cluster!.stop());
      databaseUrl = await createDatabase(cluster.adminUrl, 'catalog');
      reporter.report({ level: 'ok', topic: 'local', message: `PostgreSQL on 127.0.0.1:${cluster.port}`, data: { databaseUrl } });
    }

    let poller: LocalPoller | undefined;
    // The poller reads its external API token from a secret (TOKEN_SECRET_ARN), never from the
    // execution input; locally that secret is served by the stub.
    const tokenSecret = async (): Promise<string> =>
      JSON.stringify({ token: opts.externalApiToken ?? (await mintToken(key, { tenant: 'local', roles: ['poller'], ttlSeconds: 900, subject: 'local:poller' })) });
    const stub: AwsStub = await startAwsStub({ audit, poller: () => poller, secrets: { [LOCAL_TOKEN_SECRET_ARN]: tokenSecret } });
    cleanups.push(() => stub.close());

    let handlers: HandlerSet | undefined;
    const authCache = new Map<string, { result: AuthorizerResult; until: number }>();
    const cacheMs = (opts.authorizerCacheSeconds ?? 300) * 1000;
    const stageVariables = opts.stageVariables ?? {};
    const info = () => ({
      api: url,
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      // Only a password-less URL (the throwaway cluster) is shared, so `verify` can find it.
      databaseUrl: cluster ? databaseUrl : null,
      auditFile,
      stateMachineArn: poller ? LOCAL_STATE_MACHINE_ARN : null,
    });

    const server: Server = createServer((req, res) => {
      const started = performance.now();
      handle(req, res).catch((err: Error) => {
        reporter.report({ level: 'warn', topic: 'local', message: `request failed: ${err.message}` });
        if (!res.headersSent) write(res, jsonResponse(502, { message: 'Internal server error' }));
        else res.destroy();
      });

      async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const read = await readRequestBody(req);
        if (read.kind === 'too-large') return write(res, requestTooLarge());
        const body = read.body;
        if (url.pathname.startsWith('/_local/')) return write(res, localEndpoint(req.method ?? 'GET', url));
        if (!handlers) return write(res, jsonResponse(503, { message: 'catalogctl local is starting' }));
        const method = req.method ?? 'GET';
        const m = matchRoute(method, url.pathname);
        // API Gateway answers unknown resources and methods like this, before any authorizer.
        if (m.kind !== 'match') return write(res, jsonResponse(403, { message: 'Missing Authentication Token' }));
        const arn = methodArn(method, m.match.route.resource.replace(/\{[^}]+\}/g, (p) => m.match.pathParameters?.[p.slice(1, -1)] ?? p));
        const auth = await authorize(req.headers.authorization, method, arn);
        decisions.record(auth.decision);
        if (auth.kind === 'reject') {
          write(res, auth.response);
          return logAccess(auth.decision, null);
        }
        const event = toProxyEvent(req, url, m.match, body, auth.context, stageVariables);
        let result: unknown;
        try {
          result = await handlers[m.match.route.fn](event, lambdaContext(m.match.route.fn));
        } catch (err) {
          reporter.report({ level: 'warn', topic: 'local', message: `${m.match.route.fn} threw: ${(err as Error).message}` });
          result = undefined;
        }
        const out = fromProxyResult(result);
        out.headers['x-amzn-requestid'] = event.requestContext.requestId;
        write(res, out);
        const tenant = auth.context.tenantId ?? auth.context.tenant_id;
        logAccess(auth.decision, tenant === undefined ? null : String(tenant), event.requestContext.requestId);

        function logAccess(decision: Decision, tenantId: string | null, requestId = ''): void {
          opts.onAccess?.({
            requestId,
            ip: req.socket.remoteAddress ?? '',
            method,
            path: url.pathname,
            status: res.statusCode,
            latencyMs: Math.round((performance.now() - started) * 100) / 100,
            tenantId,
            decision,
          });
        }
      }
    });

    type AuthOutcome =
      | { kind: 'allow'; decision: Decision; context: Record<string, string | number | boolean> }
      | { kind: 'reject'; decision: Decision; response: ReturnType<typeof jsonResponse> };

    async function authorize(header: string | undefined, method: string, arn: string): Promise<AuthOutcome> {
      if (!header || !header.trim()) return { kind: 'reject', decision: 'unauthorized', response: jsonResponse(401, { message: 'Unauthorized' }) };
      const now = Date.now();
      let result = authCache.get(header);
      if (!result || result.until <= now) {
        authCache.delete(header);
        try {
          const r = await handlers!.authorizer({ type: 'TOKEN', authorizationToken: header, methodArn: arn }, lambdaContext('authorizer'));
          result = { result: r, until: now + cacheMs };
          if (cacheMs > 0) {
            if (authCache.size > 10_000) authCache.clear();
            authCache.set(header, result);
          }
        } catch (err) {
          if ((err as Error)?.message === 'Unauthorized') return { kind: 'reject', decision: 'unauthorized', response: jsonResponse(401, { message: 'Unauthorized' }) };
          reporter.report({ level: 'warn', topic: 'local', message: `authorizer failed: ${(err as Error)?.message}` });
          return { kind: 'reject', decision: 'error', response: jsonResponse(500, { message: null }) };
        }
      }
      if (!policyAllows(result.result.policyDocument, 'execute-api:Invoke', arn)) {
        return { kind: 'reject', decision: 'deny', response: jsonResponse(403, { Message: 'User is not authorized to access this resource with an explicit deny' }) };
      }
      return { kind: 'allow', decision: 'allow', context: authorizerContext(result.result) };
    }

    function localEndpoint(method: string, url: URL): ReturnType<typeof jsonResponse> {
      if (method !== 'GET') return jsonResponse(405, { message: 'GET only' });
      const since = url.searchParams.get('since');
      const sinceMs = since === null ? undefined : Number.isFinite(Number(since)) ? Number(since) : Date.parse(since);
      switch (url.pathname) {
        case '/_local/jwks.json':
          return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=300' }, body: Buffer.from(JSON.stringify(jwks(key))) };
        case '/_local/info':
          return jsonResponse(200, info());
        case '/_local/audit':
          return jsonResponse(200, { events: audit.list({ contains: url.searchParams.get('contains') ?? undefined, sinceMs }) });
        case '/_local/authorizer/decisions':
          return jsonResponse(200, decisions.summary(sinceMs ?? 0));
        case '/_local/executions':
          return jsonResponse(200, { executions: poller?.list() ?? [] });
        default:
          return jsonResponse(404, { message: `no local endpoint ${url.pathname}` });
      }
    }

    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? Object.assign(new Error(`port ${opts.port} on 127.0.0.1 is in use: pick another with --port`), { code: err.code }) : err),
      );
      server.listen(opts.port, '127.0.0.1', () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;

    // Everything the handlers read from their environment, as catalog-service sets it in AWS.
    const env = handlerEnvironment({ databaseUrl, url, awsEndpoint: stub.endpoint, externalApi: opts.externalApi, app: opts.app });
    const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    cleanups.unshift(async () => {
      for (const [k, v] of Object.entries(previous)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    handlers = undefined;
    const loaded = await opts.loadHandlers();
    reporter.report({ level: 'step', topic: 'local', message: 'running migrations' });
    await loaded.migrate({}, lambdaContext('migrate', 300_000));
    if (opts.seed && opts.seedDatasets) {
      reporter.report({ level: 'step', topic: 'local', message: `seeding ${opts.seed} datasets` });
      const n = await opts.seedDatasets(databaseUrl, opts.seed, reporter);
      reporter.report({ level: 'ok', topic: 'local', message: `${n} datasets in catalog_dataset` });
    }
    if (opts.stateMachine) {
      poller = new LocalPoller({
        definition: opts.stateMachine,
        handlers: loaded,
        ...(opts.pollWaitMs !== undefined ? { waitMs: opts.pollWaitMs, retryMs: opts.pollWaitMs } : {}),
        onEvent: (e) => reporter.report({ level: 'info', topic: 'poller', message: `${e.executionArn.split(':').pop()} ${e.state ?? e.status}`, data: e }),
      });
      const p = poller;
      cleanups.push(() => p.stopAll());
    }
    handlers = loaded;
    reporter.report({ level: 'ok', topic: 'local', message: `Catalog API on ${url}`, data: info() });

    return {
      url,
      port,
      databaseUrl,
      ownsDatabase: cluster !== undefined,
      auditFile,
      audit,
      decisions,
      poller,
      cluster,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export const LOCAL_TOKEN_SECRET_ARN = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:catalog-poller-token-local`;

export function handlerEnvironment(o: { databaseUrl: string; url: string; awsEndpoint: string; externalApi?: string; app?: LocalOptions['app'] }): Record<string, string> {
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
    EXTERNAL_API_BASE_URL: o.externalApi ?? 'http://127.0.0.1:9/',
    TOKEN_SECRET_ARN: LOCAL_TOKEN_SECRET_ARN,
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
