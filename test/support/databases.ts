import pg from 'pg';
import { randomBytes } from 'node:crypto';

export type TestDatabaseKind = 'sqlite' | 'postgres';

const adminUrl = process.env.SLIPWAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The databases the suites run on: both by default; `SLIPWAY_TEST_DATABASES=sqlite` narrows it. */
export function testDatabases(): TestDatabaseKind[] {
  const wanted = (process.env.SLIPWAY_TEST_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim());
  return (['sqlite', 'postgres'] as const).filter((k) => wanted.includes(k));
}

/** Whether the local PostgreSQL answers. Under CI=true a missing server is a failure, never a skip. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    if (process.env.CI === 'true')
      throw new Error(`PostgreSQL is required in CI but not reachable at ${adminUrl}`, { cause: err });
    return false;
  }
}

/** A fresh, empty PostgreSQL database for one test server; `drop` removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `slipway_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/**
 * Runs `suite` once per test database, as a describe block per database.
 * PostgreSQL suites are skipped locally when the server is down (and fail under CI=true).
 */
export function forEachDatabase(suite: (database: TestDatabaseKind) => void): void {
  for (const database of testDatabases()) suite(database);
}
