import type { Kysely, Migration } from 'kysely';
import { columnTypes } from '../platform/db/column-types.js';

/** Namespace quotas (one per user or organization) and their Warning / Reject limits. */
export const quotaMigrations: Record<string, Migration> = {
  '0030_quotas': {
    async up(db: Kysely<unknown>) {
      const types = columnTypes(db);
      await db.schema
        .createTable('namespace_quotas')
        .addColumn('id', 'integer', (c) => types.autoIncrementKey(c))
        .addColumn('namespace_id', 'text', (c) =>
          c.notNull().unique().references('namespaces.id').onDelete('cascade'),
        )
        .addColumn('limit_bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('quota_limits')
        .addColumn('id', 'integer', (c) => types.autoIncrementKey(c))
        .addColumn('quota_id', 'integer', (c) =>
          c.notNull().references('namespace_quotas.id').onDelete('cascade'),
        )
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('threshold_percent', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('quota_limits_quota').on('quota_limits').column('quota_id').execute();
    },
  },
};
