/**
 * A real PostgreSQL for tests: `DATABASE_URL` when set, otherwise a throwaway cluster started here
 * (initdb + pg_ctl on a free loopback port, removed at the end). Each caller gets a fresh database
 * of its own. PostgreSQL missing is a failure with instructions, never a skip.
 */
import pg from 'pg';
import { startThrowawayCluster, type ThrowawayCluster } from '../../src/local/postgres.ts';

let cluster: ThrowawayCluster | undefined;
let counter = 0;

// Read once: tests point DATABASE_URL at their own databases while they run.
const EXTERNAL_URL = process.env.DATABASE_URL || undefined;

async function adminUrl(): Promise<string> {
  if (EXTERNAL_URL) return EXTERNAL_URL;
  cluster ??= await startThrowawayCluster();
  return cluster.adminUrl;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const admin = await adminUrl();
  const name = `catalogctl_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${++counter}`;
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
  if (!cluster) return;
  const c = cluster;
  cluster = undefined;
  await c.stop();
}
