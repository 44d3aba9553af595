/**
 * A throwaway PostgreSQL started the way RDS starts one: a hidden bootstrap superuser (RDS has
 * `rdsadmin`), one master user that is not a superuser (CREATEROLE, CREATEDB, owner of the env's
 * database), scram-sha-256 password authentication for every connection and no trust; with `tls`,
 * only TLS connections are accepted (as `rds.force_ssl=1` does). Missing PostgreSQL is a failure
 * with instructions, never a skip.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findPgBin, freeLoopbackPort } from '../../src/local/postgres.ts';

const run = promisify(execFile);

export interface RdsLikeCluster {
  host: string;
  port: number;
  database: string;
  master: { username: string; password: string };
  /** A client of the bootstrap superuser over the Unix socket (setup and inspection only). */
  admin(database?: string): Promise<pg.Client>;
  /** The server's log so far (log_connections on; log_statement=all when asked). */
  log(): string;
  stop(): Promise<void>;
}

export interface RdsLikeOptions {
  masterUsername: string;
  database: string;
  /** PEM server certificate and key: TLS on, and only TLS accepted. */
  tls?: { certPem: string; keyPem: string };
  /** log_statement=all once the master exists: what a password in a statement would leak to. */
  logStatements?: boolean;
}

export async function startRdsLikeCluster(opts: RdsLikeOptions): Promise<RdsLikeCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'catalogctl-rdspg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'log');
  const port = await freeLoopbackPort();
  const adminPassword = randomBytes(18).toString('base64url');
  const master = { username: opts.masterUsername, password: randomBytes(18).toString('base64url') };
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody') : undefined;
  const exec = (cmd: string, args: string[]) => (user ? run('runuser', ['-u', user, '--', cmd, ...args]) : run(cmd, args));
  const own = async (path: string, mode: number) => {
    chmodSync(path, mode);
    if (user) await run('chown', [user, path]);
  };
  await own(dir, 0o700);
  let running = false;
  const stop = async () => {
    if (running) await exec(findPgBin('pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, `${adminPassword}\n`);
    await own(pwFile, 0o600);
    await exec(findPgBin('initdb'), ['-D', data, '-U', 'rdsadmin', '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-sync']);
    const hostType = opts.tls ? 'hostssl' : 'host';
    writeFileSync(join(data, 'pg_hba.conf'), `local all all scram-sha-256\n${hostType} all all 127.0.0.1/32 scram-sha-256\n`);
    const settings = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c password_encryption=scram-sha-256', '-c log_connections=on'];
    if (opts.tls) {
      writeFileSync(join(data, 'server.crt'), opts.tls.certPem);
      writeFileSync(join(data, 'server.key'), opts.tls.keyPem);
      await own(join(data, 'server.crt'), 0o600);
      await own(join(data, 'server.key'), 0o600);
      settings.push('-c ssl=on', '-c ssl_cert_file=server.crt', '-c ssl_key_file=server.key');
    }
    writeFileSync(logFile, '');
    await own(logFile, 0o600);
    await exec(findPgBin('pg_ctl'), ['-D', data, '-w', '-l', logFile, '-o', settings.join(' '), 'start']);
    running = true;
  } catch (err) {
    await stop();
    const e = err as { stderr?: string; message: string };
    throw new Error(`could not start an RDS-like PostgreSQL (install PostgreSQL's server binaries: apt-get install postgresql): ${(e.stderr || e.message).trim()}`);
  }
  const admin = async (database = 'postgres') => {
    const c = new pg.Client({ host: dir, port, user: 'rdsadmin', password: adminPassword, database });
    await c.connect();
    return c;
  };
  const c = await admin();
  try {
    // The master RDS creates: no superuser, CREATEROLE and CREATEDB, owner of DBName.
    await c.query(`CREATE ROLE ${master.username} LOGIN CREATEROLE CREATEDB PASSWORD '${master.password}'`);
    await c.query(`CREATE DATABASE ${opts.database} OWNER ${master.username}`);
    if (opts.logStatements) {
      await c.query(`ALTER SYSTEM SET log_statement = 'all'`);
      await c.query('SELECT pg_reload_conf()');
    }
  } finally {
    await c.end();
  }
  return { host: '127.0.0.1', port, database: opts.database, master, admin, log: () => readFileSync(logFile, 'utf8'), stop };
}

/** A test certificate authority and a server certificate it signed, for the name localhost only (not 127.0.0.1: a host name check has something to refuse). */
export async function testCertificates(cn = 'catalogctl test CA'): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'catalogctl-ca-'));
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  try {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${cn}`]).catch((err: Error) => {
      throw new Error(`openssl is needed to make test certificates (apt-get install openssl): ${err.message}`);
    });
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
    writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
    await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext']);
    return { caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), certPem: readFileSync(join(dir, 'server.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'server.key'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
