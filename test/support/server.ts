import { mkdtemp, rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import os from 'node:os';
import path from 'node:path';
import { buildApp, type App } from '../../src/app.js';
import { FsBlobStore } from '../../src/platform/blobs/fs-blob-store.js';
import { systemClock, type Clock } from '../../src/platform/clock.js';
import { loadConfig, type Config } from '../../src/platform/config.js';
import { openDatabase } from '../../src/platform/db/database.js';
import { SecretBox } from '../../src/platform/secrets.js';
import { migrations, type Tables } from '../../src/services.js';
import { createPostgresDatabase, type TestDatabaseKind } from './databases.js';

export const adminPassword = 'admin-password-1';

export interface TestServer extends App {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as registry clients name it */
  host: string;
  dataDir: string;
  config: Config;
  /** The server's database, for assertions on what is stored. */
  db: Kysely<Tables>;
  blobStore: FsBlobStore;
  close(): Promise<void>;
}

/**
 * A real Slipway on 127.0.0.1 with a fresh data directory and database
 * (SQLite file, or a new PostgreSQL database), the superuser `admin` / `adminPassword`.
 */
export async function startTestServer(
  opts: { database?: TestDatabaseKind; config?: Partial<Config>; clock?: Clock; dataDir?: string } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'slipway-test-')));
  const pgDb = opts.database === 'postgres' ? await createPostgresDatabase() : undefined;
  const { config } = loadConfig(
    [],
    {},
    {
      listen: '127.0.0.1:0',
      dataDir,
      logLevel: 'silent',
      gcIntervalSeconds: 0,
      databaseUrl: pgDb?.url,
      ...opts.config,
    },
  );
  const database = await openDatabase<Tables>(
    config.databaseUrl ?? path.join(dataDir, 'slipway.db'),
    migrations,
  );
  const blobStore = await new FsBlobStore(dataDir).init();
  const app = await buildApp({
    config,
    db: database.db,
    blobStore,
    secrets: SecretBox.fromPassphrase('test-secret-key'),
    clock: opts.clock ?? systemClock,
  });
  await app.services.identity.ensureAdmin(adminPassword);
  await app.app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  app.services.runScheduler.setRegistry(`127.0.0.1:${port}`);
  return {
    ...app,
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    dataDir,
    config,
    db: database.db,
    blobStore,
    async close() {
      // Tests may end with keep-alive connections busy; give requests in flight a moment, not the idle timeout.
      const closing = app.app.close();
      const force = setTimeout(() => app.app.server.closeAllConnections(), 2000);
      await closing;
      clearTimeout(force);
      await database.close();
      await pgDb?.drop();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
