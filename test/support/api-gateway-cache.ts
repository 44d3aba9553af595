/**
 * A stand-in for API Gateway's stage cache, configured from a rendered catalog-service template, in
 * front of the local gateway: neither the emulator nor `catalogctl local` has a response cache.
 * What it models, from API Gateway's documentation ("Cache settings for REST APIs"): a method whose
 * stage MethodSettings enable caching answers a GET from the cache while an entry is fresh
 * (CacheTtlInSeconds), and an entry is keyed on the method, its resource path and the values of the
 * method's Integration CacheKeyParameters (headers by name, case-insensitive; query strings; path
 * parameters) — a parameter not in that list does not split the cache. Every response of the
 * integration is stored, a 304 included. What it leaves out: the authorizer runs before the cache
 * in API Gateway (here the local gateway runs it on a miss only), cache-control invalidation and
 * capacity. A test that uses it asks only which caller gets which stored response.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';

export interface CachedMethod {
  httpMethod: string;
  /** The resource path, `{name}` for a path parameter. */
  path: string;
  /** `method.request.header.X`, `method.request.querystring.y`, `method.request.path.z`. */
  keys: string[];
  ttlSec: number;
}

type Template = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
const refOf = (v: unknown): string | undefined => (v && typeof v === 'object' && 'Ref' in v ? String((v as { Ref: unknown }).Ref) : undefined);

/** The cached methods of a rendered catalog-service: stage MethodSettings joined with each Method's keys. */
export function cachedMethods(template: Template): CachedMethod[] {
  const resources = template.Resources;
  const pathOf = (id: string | undefined): string => {
    const r = id ? resources[id] : undefined;
    if (!r || r.Type !== 'AWS::ApiGateway::Resource') return '';
    return `${pathOf(refOf(r.Properties.ParentId))}/${String(r.Properties.PathPart)}`;
  };
  const stage = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Stage');
  if (!stage || stage.Properties.CacheClusterEnabled !== true) return [];
  const settings = (stage.Properties.MethodSettings ?? []) as { HttpMethod: string; ResourcePath: string; CachingEnabled?: boolean; CacheTtlInSeconds?: number }[];
  const out: CachedMethod[] = [];
  for (const s of settings) {
    if (!s.CachingEnabled || s.ResourcePath === '/*') continue;
    // `/` then the resource path with each `/` written `~1` (the stage's method-setting path syntax).
    const path = s.ResourcePath.slice(1).replaceAll('~1', '/');
    const method = Object.values(resources).find((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.HttpMethod === s.HttpMethod && pathOf(refOf(r.Properties.ResourceId)) === path);
    if (!method) throw new Error(`no ${s.HttpMethod} method on ${path} for its cache setting`);
    const integration = method.Properties.Integration as { CacheKeyParameters?: string[] };
    out.push({ httpMethod: s.HttpMethod, path, keys: integration.CacheKeyParameters ?? [], ttlSec: s.CacheTtlInSeconds ?? 300 });
  }
  return out;
}

export interface ApiCache {
  url: string;
  /** Requests answered from the cache, and requests passed on. */
  hits: number;
  misses: number;
  stop(): Promise<void>;
}

interface Stored {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  until: number;
}

export async function startApiCache(upstream: string, methods: CachedMethod[]): Promise<ApiCache> {
  const up = new URL(upstream);
  const store = new Map<string, Stored>();
  const matchers = methods.map((m) => ({ m, re: new RegExp(`^${m.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`) }));
  const state = { hits: 0, misses: 0 };

  function keyFor(req: { method?: string; url?: string; headers: IncomingHttpHeaders }): { key: string; ttlSec: number } | undefined {
    const url = new URL(req.url ?? '/', 'http://x');
    for (const { m, re } of matchers) {
      if (req.method !== m.httpMethod) continue;
      const hit = re.exec(url.pathname);
      if (!hit) continue;
      const values = m.keys.map((k) => {
        const [, , where, name] = k.split('.');
        if (where === 'header') return req.headers[name!.toLowerCase()] ?? null;
        if (where === 'querystring') return url.searchParams.get(name!);
        if (where === 'path') return hit.groups?.[name!] ?? null;
        throw new Error(`cache key ${k}: not a header, query string or path parameter`);
      });
      return { key: JSON.stringify([m.httpMethod, m.path, values]), ttlSec: m.ttlSec };
    }
    return undefined;
  }

  const server: Server = createServer((req, res) => {
    const cached = keyFor(req);
    const entry = cached && store.get(cached.key);
    if (entry && entry.until > Date.now()) {
      state.hits++;
      res.writeHead(entry.status, entry.headers);
      res.end(entry.body);
      return;
    }
    state.misses++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        const body: Buffer[] = [];
        r.on('data', (c: Buffer) => body.push(c));
        r.on('end', () => {
          const stored = { status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(body), until: Date.now() + (cached?.ttlSec ?? 0) * 1000 };
          if (cached) store.set(cached.key, stored);
          res.writeHead(stored.status, stored.headers);
          res.end(stored.body);
        });
      });
      fwd.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      fwd.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    get misses() {
      return state.misses;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
