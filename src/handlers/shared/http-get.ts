/**
 * A GET over node:http(s) with the part of fetch()'s shape the handlers use. The global fetch()
 * loads undici on first use: 50–70 ms of CPU on a cold start (bench/cold-start.ts, "first fetch()"),
 * against ≈5 ms for node:http, which the process has loaded already. Redirects are not followed
 * (as `redirect: 'manual'`); bodies over 1 MiB are refused. Failures look like fetch()'s: the
 * signal's reason when aborted, otherwise TypeError('fetch failed') with the socket error as cause.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

const MAX_BODY = 1024 * 1024;

export interface SmallResponse {
  status: number;
  ok: boolean;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export function httpGet(url: string | URL, opts: { headers?: Record<string, string> | Iterable<[string, string]>; signal?: AbortSignal } = {}): Promise<SmallResponse> {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Symbol.iterator in Object(opts.headers) ? (opts.headers as Iterable<[string, string]>) : Object.entries(opts.headers ?? {})) headers[k] = v;
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', headers, signal: opts.signal }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error(`GET ${u.origin}${u.pathname}: body over ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: async () => body, json: async () => JSON.parse(body) as unknown });
      });
    });
    req.on('error', (err) => reject(err.name === 'AbortError' && opts.signal?.reason instanceof Error ? opts.signal.reason : new TypeError('fetch failed', { cause: err })));
    req.end();
  });
}
