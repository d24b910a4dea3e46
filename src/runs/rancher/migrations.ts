import type { Kysely, Migration } from 'kysely';

/** Rancher's settings of pipelines created through its API (`/v3`); see tables.ts. */
export const rancherPipelineMigrations: Record<string, Migration> = {
  '0077_rancher_pipelines': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('rancher_pipelines')
        .addColumn('pipeline_id', 'text', (c) =>
          c.primaryKey().references('pipelines.id').onDelete('cascade'),
        )
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('form', 'text', (c) => c.notNull())
        .addColumn('spec', 'text')
        .addColumn('repository_url', 'text', (c) => c.notNull())
        .addColumn('branch', 'text')
        .addColumn('trigger_webhook_push', 'integer', (c) => c.notNull())
        .addColumn('trigger_webhook_pr', 'integer', (c) => c.notNull())
        .addColumn('trigger_webhook_tag', 'integer', (c) => c.notNull())
        .addColumn('source_credential', 'text')
        .addColumn('webhook_id', 'text')
        .addColumn('cron_id', 'text')
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('rancher_pipelines_display_name', ['namespace', 'display_name'])
        .execute();
    },
  },
};
