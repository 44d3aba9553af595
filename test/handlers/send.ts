/**
 * One HTTP request to a local gateway (or anything in front of it), the whole response read: what
 * the API tests send. `token` becomes `Authorization: Bearer …`; a body gets its length and, unless
 * given, a JSON content type.
 */
import { request } from 'node:http';

export interface Req {
  method: string;
  path: string;
  token?: string | null;
  headers?: Record<string, string>;
  body?: string | Buffer;
}
export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function send(base: string, r: Req): Promise<Res> {
  const u = new URL(base);
  const headers: Record<string, string | number> = { ...(r.headers ?? {}) };
  if (r.token !== undefined && r.token !== null) headers.authorization = `Bearer ${r.token}`;
  if (r.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = Buffer.byteLength(r.body);
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: r.method, path: r.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (r.body !== undefined) req.end(r.body);
    else req.end();
  });
}
