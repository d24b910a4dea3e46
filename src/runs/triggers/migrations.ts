import type { Kysely, Migration } from 'kysely';

/**
 * Pipeline triggers: webhooks, cron schedules, image pushes and the end of another pipeline's run. A trigger
 * goes with its pipeline (and a pipeline trigger with either end): foreign keys with `on delete cascade`.
 */
export const triggerMigrations: Record<string, Migration> = {
  '0061_triggers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhook_triggers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('secret_sealed', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_triggers_pipeline')
        .on('webhook_triggers')
        .column('pipeline_id')
        .execute();

      await db.schema
        .createTable('cron_triggers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
        .addColumn('schedule', 'text', (c) => c.notNull())
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('branch', 'text')
        .addColumn('next_fire_at', 'bigint')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('cron_triggers_pipeline')
        .on('cron_triggers')
        .column('pipeline_id')
        .execute();
      await db.schema
        .createIndex('cron_triggers_due')
        .on('cron_triggers')
        .columns(['enabled', 'next_fire_at'])
        .execute();

      await db.schema
        .createTable('image_triggers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('tag_glob', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('image_triggers_pipeline')
        .on('image_triggers')
        .column('pipeline_id')
        .execute();
      await db.schema
        .createIndex('image_triggers_repository')
        .on('image_triggers')
        .column('repository')
        .execute();

      await db.schema
        .createTable('pipeline_triggers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
        .addColumn('upstream_pipeline_id', 'text', (c) =>
          c.notNull().references('pipelines.id').onDelete('cascade'),
        )
        .addColumn('states', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('pipeline_triggers_pipeline')
        .on('pipeline_triggers')
        .column('pipeline_id')
        .execute();
      await db.schema
        .createIndex('pipeline_triggers_upstream')
        .on('pipeline_triggers')
        .column('upstream_pipeline_id')
        .execute();
    },
  },
};
