/**
 * Load on `catalogctl local` over loopback: the server runs in its own process (the built CLI,
 * dist/catalogctl.mjs, with a throwaway PostgreSQL seeded to 1M datasets). For each route, side by side:
 *
 *   service ms    p50 of one request at a time (no queueing: what a request costs end to end)
 *   CPU ms/req    the server process's CPU time (user + system, /proc) divided by the requests
 *   req/s, p50, p99 under N concurrent connections (autocannon, whole milliseconds)
 *
 * With N connections on one event loop, latency ≈ N × the per-request time: that is queueing, not
 * the cost of a request. Baseline: GET /_local/info on the same server (no authorizer, no database).
 * The server runs with prod's env file (`--env prod`), so success logs are sampled at prod's 1 %
 * (logging.successLogSampleRate → LOG_SUCCESS_SAMPLE_RATE) as the handlers log in AWS.
 *
 *   node --import tsx bench/load.ts [--datasets 1000000] [--seconds 10] [--connections 10]
 *   [--handlers-module <file>]   (default: the handlers in src/handlers)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    'handlers-module': { type: 'string' },
  },
});
const datasets = Number(values.datasets);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const CLI = resolve('dist/catalogctl.mjs'); // `npm run bench` builds it first
const stateDir = mkdtempSync(join(tmpdir(), 'catalogctl-bench-load-'));
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.DATABASE_URL;

const cliArgs = [CLI, 'local', '--env', 'prod', '--port', '0', '--seed', String(datasets), '--seed-tenant', 'tenant-a', '--state-dir', stateDir];
// A TypeScript handlers module needs the tsx loader next to the built CLI.
if (values['handlers-module']) {
  cliArgs.unshift('--import', 'tsx');
  cliArgs.push('--handlers-module', resolve(values['handlers-module']));
}

let server: ChildProcess | undefined;
const stop = async (): Promise<void> => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGINT');
    await exited;
  }
  rmSync(stateDir, { recursive: true, force: true });
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));

try {
  const t0 = performance.now();
  server = spawn(process.execPath, cliArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  while (!/Ctrl-C to stop/.test(out)) {
    if (server.exitCode !== null) throw new Error(`catalogctl local exited ${server.exitCode}:\n${err}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const base = /Catalog API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  console.log(`catalogctl local up with ${datasets} datasets in ${((performance.now() - t0) / 1000).toFixed(1)} s (start, migrate, seed)`);

  const token = await new Promise<string>((res, rej) => {
    const t = spawn(process.execPath, [CLI, 'local', 'token', '--tenant', 'tenant-a', '--role', 'reader', '--ttl', '1h', '--state-dir', stateDir], { env });
    let s = '';
    t.stdout.on('data', (d: Buffer) => (s += d.toString()));
    t.on('close', (code) => (code === 0 ? res(s.trim()) : rej(new Error(`local token exited ${code}`))));
  });
  const headers = { authorization: `Bearer ${token}` };
  // autocannon ships no types; the few fields read here are typed by `Result` below.
  const autocannonModule = 'autocannon';
  const { default: autocannon } = (await import(autocannonModule)) as { default: (o: object) => Promise<Result> };

  interface Result {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
    '2xx': number;
  }
  // Ids to describe, taken from the list (the schema decides their form): 20 pages of 500.
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const res = await fetch(`${base}/storage/v1/catalog/datasets?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
    const body = (await res.json()) as { items: { id: string }[]; next_cursor: string | null };
    ids.push(...body.items.map((i) => String(i.id)));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  if (ids.length === 0) throw new Error('the list returned no datasets to describe');
  let k = 0;
  const routes: { name: string; opts: object }[] = [
    { name: 'baseline GET /_local/info', opts: { url: `${base}/_local/info` } },
    { name: 'list ?limit=1', opts: { url: `${base}/storage/v1/catalog/datasets?limit=1`, headers } },
    { name: 'list ?limit=500', opts: { url: `${base}/storage/v1/catalog/datasets?limit=500`, headers } },
    {
      name: 'describe /datasets/{id}',
      opts: {
        url: base,
        headers,
        requests: [{ method: 'GET', setupRequest: (r: { path: string }) => ({ ...r, path: `/storage/v1/catalog/datasets/${ids[k++ % ids.length]}` }) }],
      },
    },
  ];

  /** The server's CPU time so far (user + system), from /proc; undefined where there is no /proc. */
  const cpuMs = (): number | undefined => {
    try {
      const f = readFileSync(`/proc/${server!.pid}/stat`, 'utf8');
      const [utime, stime] = f.slice(f.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number);
      return ((utime! + stime!) * 1000) / 100; // USER_HZ is 100 on Linux
    } catch {
      return undefined;
    }
  };
  /** One request at a time for `ms`, on one keep-alive connection: the p50 is service time. */
  const sequential = async (opts: { url: string; headers?: Record<string, string>; requests?: { setupRequest: (r: { path: string }) => { path: string } }[] }, ms: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const u = new URL(opts.url);
    const times: number[] = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const path = opts.requests ? opts.requests[0]!.setupRequest({ path: u.pathname }).path : u.pathname + u.search;
      const t = performance.now();
      const status = await new Promise<number>((res, rej) => {
        const req = request({ host: u.hostname, port: u.port, path, headers: opts.headers, agent }, (r) => {
          r.resume();
          r.on('end', () => res(r.statusCode ?? 0));
        });
        req.on('error', rej);
        req.end();
      });
      times.push(performance.now() - t);
      if (status !== 200) throw new Error(`${path}: ${status}`);
    }
    agent.destroy();
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  };

  const rows: { name: string; service: number; cpu: number | undefined; rps: number; p50: number; p99: number; ok: number; bad: number }[] = [];
  for (const r of routes) {
    // A short warm-up so pools and the authorizer cache are filled before measuring.
    await autocannon({ ...r.opts, connections, duration: 1 });
    const service = await sequential(r.opts as Parameters<typeof sequential>[0], Math.min(3000, seconds * 1000));
    const cpu0 = cpuMs();
    const res = await autocannon({ ...r.opts, connections, duration: seconds });
    const cpu1 = cpuMs();
    const total = res['2xx'] + res.non2xx;
    rows.push({
      name: r.name,
      service,
      cpu: cpu0 === undefined || cpu1 === undefined || total === 0 ? undefined : (cpu1 - cpu0) / total,
      rps: res.requests.average,
      p50: res.latency.p50,
      p99: res.latency.p99,
      ok: res['2xx'],
      bad: res.non2xx + res.errors + res.timeouts,
    });
  }
  const baseline = rows[0]!;
  const table = [
    ['route', 'service ms (1 conn p50)', 'CPU ms/req', `req/s (${connections} conns)`, 'p50 ms', 'p99 ms', 'req/s ÷ baseline', '2xx', 'non-2xx/errors'],
    ...rows.map((r) => [r.name, r.service.toFixed(2), r.cpu === undefined ? 'n/a' : r.cpu.toFixed(2), r.rps.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), (r.rps / baseline.rps).toFixed(3), String(r.ok), String(r.bad)]),
  ];
  const w = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  console.log(`\n${seconds} s per route at ${connections} connections (after ${Math.min(3, seconds)} s one at a time), 127.0.0.1, ${datasets} datasets`);
  for (const row of table) console.log(row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  console.log(`latency under ${connections} connections is mostly queueing: ≈ ${connections} × the per-request time on one event loop`);
  if (rows.some((r) => r.bad > 0)) process.exitCode = 1;
} finally {
  await stop();
}
