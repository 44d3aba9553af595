/**
 * moto 5.2.1 has no FlushStageCache: `DELETE /restapis/{id}/stages/{stage}/cache/data` matches
 * none of its API Gateway routes and falls through to S3 (404 NoSuchBucket, which the SDK cannot
 * even parse). This loopback proxy stands in front of the emulator and answers that one request as
 * API Gateway's API reference describes it — 202 with an empty body when the stage exists, the
 * emulator's own NotFound answer for GetStage when it does not — and records it; every other
 * request goes to the emulator unchanged. So the real SDK sends the real request (from the AWS
 * interface in process, the built CLI, or the Step Functions stand-in's SDK tasks), and a test
 * sees each flush in order. `fail` makes flushes answer an API Gateway error instead.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface CacheFlush {
  restApiId: string;
  stageName: string;
}

export interface CacheFlushProxy {
  /** Point the SDK (or `--endpoint-url`, or the stand-in's `awsEndpoint`) here. */
  endpoint: string;
  /** Every flush API Gateway would have accepted, in order. */
  flushes: CacheFlush[];
  /** While set, a flush answers this error (an API Gateway REST-JSON error) and is not recorded. */
  fail?: { status: number; type: string; message: string };
  /** Flushes refused while `fail` was set. */
  refused: number;
  /** Awaited before a flush is answered: what the account looks like at the moment of the flush. */
  onFlush?: (flush: CacheFlush) => Promise<void>;
  close(): Promise<void>;
}

const FLUSH = /^\/restapis\/([^/]+)\/stages\/([^/]+)\/cache\/data\/?$/;

export async function startCacheFlushProxy(motoEndpoint: string): Promise<CacheFlushProxy> {
  const upstream = new URL(motoEndpoint);
  const forward = (req: IncomingMessage, res: ServerResponse, over?: { method: string; path: string }) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const up = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: over?.method ?? req.method, path: over?.path ?? req.url, headers: { ...req.headers, host: upstream.host } },
        (r) => {
          if (!over) {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
            r.on('end', () => resolve({ status: r.statusCode ?? 502, body: '' }));
            return;
          }
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 502, body }));
        },
      );
      up.on('error', reject);
      if (over) up.end();
      else req.pipe(up);
    });

  const proxy: CacheFlushProxy = {
    endpoint: '',
    flushes: [],
    refused: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const m = req.method === 'DELETE' ? FLUSH.exec(new URL(req.url ?? '/', 'http://x').pathname) : null;
    if (!m) {
      forward(req, res).catch(() => res.destroy());
      return;
    }
    req.resume();
    void (async () => {
      const [, restApiId, stageName] = m as unknown as [string, string, string];
      // The stage must exist, as API Gateway checks: ask the emulator (GetStage) with the same credentials.
      const stage = await forward(req, res, { method: 'GET', path: `/restapis/${restApiId}/stages/${stageName}` });
      if (stage.status !== 200) {
        res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'NotFoundException' });
        res.end(JSON.stringify({ message: `Invalid stage identifier specified` }));
        return;
      }
      if (proxy.fail) {
        proxy.refused++;
        res.writeHead(proxy.fail.status, { 'content-type': 'application/json', 'x-amzn-errortype': proxy.fail.type });
        res.end(JSON.stringify({ message: proxy.fail.message }));
        return;
      }
      const flush = { restApiId: decodeURIComponent(restApiId), stageName: decodeURIComponent(stageName) };
      await proxy.onFlush?.(flush);
      proxy.flushes.push(flush);
      res.writeHead(202, { 'content-length': '0' });
      res.end();
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
