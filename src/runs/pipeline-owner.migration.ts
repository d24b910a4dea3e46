import type { Kysely, Migration } from 'kysely';

/** Who created a pipeline: runs nobody started (webhooks, schedules) act for them. */
export const pipelineOwnerMigrations: Record<string, Migration> = {
  '0062_pipeline_owner': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('pipelines').addColumn('created_by', 'text').execute();
    },
  },
};
