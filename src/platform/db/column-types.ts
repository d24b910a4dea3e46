import { sql, type ColumnDefinitionBuilder, type Kysely } from 'kysely';
import { dialectOf } from './database.js';

/** The column types that differ between SQLite and PostgreSQL, in one place. */
export function columnTypes(db: Kysely<unknown>) {
  const postgres = dialectOf(db) === 'postgres';
  return {
    bytes: postgres ? ('bytea' as const) : ('blob' as const),
    /** Text compared byte by byte, so ORDER BY and `>` agree with the OCI tag order on both databases. */
    binaryText: (col: ColumnDefinitionBuilder) => (postgres ? col.modifyEnd(sql`collate "C"`) : col),
    /** An `integer` primary key the database numbers (for ids Quay shows as integers, e.g. quotas). */
    autoIncrementKey: (col: ColumnDefinitionBuilder) =>
      (postgres ? col.generatedByDefaultAsIdentity() : col.autoIncrement()).primaryKey(),
  };
}
