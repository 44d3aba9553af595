/**
 * A real PostgreSQL for tests: `DATABASE_URL` when set, otherwise a throwaway cluster started here
 * (initdb + pg_ctl on a free loopback port, removed at the end). Each caller gets a fresh database
 * of its own. PostgreSQL missing is a failure with instructions, never a skip.
 */
import pg from 'pg';
import { startThrowawayCluster, type ThrowawayCluster } from '../../src/local/postgres.ts';

/**
 * One server per process, its state on globalThis: mocha loads this file twice (setup.ts's root
 * hooks through require, the tests through import), and the root hook must stop the cluster the
 * tests started; the database counter is shared too, so two copies never pick the same name.
 */
interface PgState {
  cluster?: ThrowawayCluster;
  counter: number;
}
const state = ((globalThis as { __catalogctlTestPg?: PgState }).__catalogctlTestPg ??= { counter: 0 });

// Read once: tests point DATABASE_URL at their own databases while they run.
const EXTERNAL_URL = process.env.DATABASE_URL || undefined;

async function adminUrl(): Promise<string> {
  if (EXTERNAL_URL) return EXTERNAL_URL;
  state.cluster ??= await startThrowawayCluster();
  return state.cluster.adminUrl;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `catalogctl_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${++state.counter}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function stopSharedPostgres(): Promise<void> {
  if (!state.cluster) return;
  const c = state.cluster;
  state.cluster = undefined;
  await c.stop();
}
