import path from 'node:path';
import { mkdirSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, PostgresAdapter, sql, type Migration } from 'kysely';
import { migrateToLatest } from './migrate.js';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface Database<Tables> {
  db: Kysely<Tables>;
  kind: DatabaseKind;
  close(): Promise<void>;
}

/** Which dialect a Kysely instance talks to; migrations use it for the few type differences. */
export function dialectOf<T>(db: Kysely<T>): DatabaseKind {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Opens the database named by `url` (postgres://... or a SQLite file path) and
 * brings its schema to the latest migration.
 */
export async function openDatabase<Tables>(
  url: string,
  migrations: Record<string, Migration>,
): Promise<Database<Tables>> {
  const kind: DatabaseKind = /^postgres(ql)?:\/\//.test(url) ? 'postgres' : 'sqlite';
  const db = kind === 'postgres' ? postgres<Tables>(url) : sqlite<Tables>(url);
  await migrateToLatest(db as Kysely<unknown>, migrations);
  return { db, kind, close: () => db.destroy() };
}

function sqlite<Tables>(url: string): Kysely<Tables> {
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const database = new SqliteDatabase(file);
  // WAL keeps readers off writers; NORMAL sync survives a killed process (not power loss) at a fraction of the cost.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  cachePreparedStatements(database);
  return new Kysely<Tables>({ dialect: new SqliteDialect({ database }) });
}

/**
 * Kysely's SQLite driver prepares every query anew; preparing is the largest single cost of
 * a registry read. Statements are reusable, so keep them per SQL text (bounded).
 */
function cachePreparedStatements(database: SqliteDatabase.Database): void {
  const prepare = database.prepare.bind(database);
  const statements = new Map<string, SqliteDatabase.Statement>();
  database.prepare = ((sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= 2000) statements.clear();
      statement = prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  }) as typeof database.prepare;
}

function postgres<Tables>(url: string): Kysely<Tables> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // bigint columns hold millisecond timestamps and sizes, all well inside Number's safe range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === pg.types.builtins.INT8
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client whose connection the server closed fails its next query; the pool must not crash the process meanwhile.
  pool.on('error', () => undefined);
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
}

/** Cheap round trip for readiness checks. */
export async function ping<T>(db: Kysely<T>): Promise<void> {
  await sql`select 1`.execute(db);
}
