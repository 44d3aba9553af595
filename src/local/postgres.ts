/**
 * A throwaway PostgreSQL cluster for `catalogctl local` when no DATABASE_URL is given: initdb into a
 * temp dir, pg_ctl start on a free loopback port (Unix socket in the same dir), removed on stop.
 * Trust auth is safe here only because the server listens on 127.0.0.1 and lives for one session.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UserInputError } from '../errors.ts';

const run = promisify(execFile);

export interface ThrowawayCluster {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  dataDir: string;
  port: number;
  /** Stop the server (fast shutdown) and remove its files; safe to call twice. */
  stop(): Promise<void>;
  /** Stop the server but keep its files: for tests of "the database went away". */
  pause(): Promise<void>;
}

export function findPgBin(name: string): string {
  const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort((a, b) => Number(b) - Number(a))) {
      const p = join(base, v, 'bin', name);
      if (existsSync(p)) return p;
    }
  }
  throw new UserInputError(
    `PostgreSQL's ${name} not found: install PostgreSQL (Debian: apt-get install postgresql) or pass --database-url`,
  );
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startThrowawayCluster(opts: { maxConnections?: number } = {}): Promise<ThrowawayCluster> {
  const initdb = findPgBin('initdb');
  const pgCtl = findPgBin('pg_ctl');
  const dir = mkdtempSync(join(tmpdir(), 'catalogctl-local-pg-'));
  const data = join(dir, 'data');
  const port = await freeLoopbackPort();
  // initdb refuses to run as root: run the cluster as `postgres` (or `nobody`) then.
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody') : undefined;
  if (asRoot) {
    chmodSync(dir, 0o700);
    await run('chown', [user!, dir]);
  }
  const exec = (cmd: string, args: string[]) => (user ? run('runuser', ['-u', user, '--', cmd, ...args]) : run(cmd, args));
  let stopped = false;
  let running = false;
  const pause = async (): Promise<void> => {
    if (!running) return;
    running = false;
    await exec(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await pause();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await exec(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      // A disposable cluster: durability is not worth the I/O.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      `-c max_connections=${opts.maxConnections ?? 200}`,
    ];
    await exec(pgCtl, ['-D', data, '-w', '-l', join(dir, 'log'), '-o', settings.join(' '), 'start']);
    running = true;
  } catch (err) {
    await stop();
    const e = err as { stderr?: string; message: string };
    // Not a bug here but the machine's PostgreSQL set-up: one line, and the way around it.
    throw new UserInputError(`could not start a throwaway PostgreSQL (${(e.stderr || e.message).replace(/\s+/g, ' ').trim()}); fix that or pass --database-url`);
  }
  return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir: data, port, stop, pause };
}
