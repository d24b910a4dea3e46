import type { Kysely, Migration } from 'kysely';

/** Quay repository builds: one row per build (its run holds the rest), and filedrop uploads. */
export const repositoryBuildsMigrations: Record<string, Migration> = {
  '0070_repository_builds': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('repository_builds')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('dockerfile_path', 'text', (c) => c.notNull())
        .addColumn('context', 'text', (c) => c.notNull())
        .addColumn('subdirectory', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('pull_robot', 'text')
        .addColumn('manual_user', 'text')
        .addColumn('trigger_id', 'text')
        .addColumn('trigger_service', 'text')
        .addColumn('trigger_metadata', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('repository_builds_repository')
        .on('repository_builds')
        .columns(['repository', 'created_at'])
        .execute();
      await db.schema.createIndex('repository_builds_run').on('repository_builds').column('run_id').execute();
      await db.schema
        .createIndex('repository_builds_trigger')
        .on('repository_builds')
        .column('trigger_id')
        .execute();

      await db.schema
        .createTable('build_files')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint')
        .addColumn('sha256', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('uploaded_at', 'bigint')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('build_files').execute();
      await db.schema.dropTable('repository_builds').execute();
    },
  },
};
