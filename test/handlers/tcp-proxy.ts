/**
 * A TCP proxy in front of the test PostgreSQL, to make the database fail the ways a network and a
 * server do, on demand: refuse connections (nothing listening), accept and never answer (a black
 * hole), stop forwarding on open connections (a server that freezes mid-query), or drop them.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole';

export interface TcpProxy {
  port: number;
  /** The database URL with the proxy's port in place of the server's. */
  url: string;
  /** What new connections get: forwarded, or accepted and left without an answer. */
  setMode(mode: ProxyMode): void;
  /** Stop listening (connections are refused) and reset every open connection. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  /** Open connections stop forwarding in both directions until thaw(). */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(databaseUrl: string): Promise<TcpProxy> {
  const target = new URL(databaseUrl);
  const upstreamPort = Number(target.port || 5432);
  let mode: ProxyMode = 'pass';
  let frozen = false;
  const pairs = new Set<{ client: Socket; server?: Socket; held: { from: 'client' | 'server'; data: Buffer }[] }>();

  const onConnection = (client: Socket) => {
    const pair: { client: Socket; server?: Socket; held: { from: 'client' | 'server'; data: Buffer }[] } = { client, held: [] };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pairs.delete(pair);
      pair.server?.destroy();
    });
    if (mode === 'blackhole') return;
    const server = connect(upstreamPort, target.hostname);
    pair.server = server;
    server.on('error', () => client.destroy());
    server.on('close', () => client.destroy());
    client.on('data', (d: Buffer) => (frozen ? pair.held.push({ from: 'client', data: d }) : server.write(d)));
    server.on('data', (d: Buffer) => (frozen ? pair.held.push({ from: 'server', data: d }) : client.write(d)));
  };

  let server: Server = createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const down = async () => {
    for (const p of pairs) {
      p.client.resetAndDestroy();
      p.server?.destroy();
    }
    pairs.clear();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    port,
    url: url.toString(),
    setMode: (m) => (mode = m),
    down,
    async up() {
      server = createServer(onConnection);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    freeze: () => (frozen = true),
    thaw() {
      frozen = false;
      for (const p of pairs) {
        for (const h of p.held.splice(0)) (h.from === 'client' ? p.server : p.client)?.write(h.data);
      }
    },
    async close() {
      if (server.listening) await down();
    },
  };
}
