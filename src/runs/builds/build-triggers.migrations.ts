import type { Kysely, Migration } from 'kysely';

/** Quay build triggers; a trigger goes with its repository (`on delete cascade`). */
export const buildTriggerMigrations: Record<string, Migration> = {
  '0071_build_triggers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('build_triggers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('connected_user', 'text', (c) => c.notNull())
        .addColumn('pull_robot', 'text')
        .addColumn('token_hash', 'text')
        .addColumn('hook_secret_sealed', 'text')
        .addColumn('activated_at', 'bigint')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('successive_failures', 'integer', (c) => c.notNull())
        .addColumn('successive_internal_errors', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('build_triggers_repository')
        .on('build_triggers')
        .column('repository_id')
        .execute();
    },
  },
};
