import type { Kysely, Migration } from 'kysely';

/** A pipeline's source repository: where runs whose trigger names none check out from. */
export const pipelineRepositoryMigrations: Record<string, Migration> = {
  '0064_pipeline_repository': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('pipelines').addColumn('repo_url', 'text').execute();
      await db.schema.alterTable('pipelines').addColumn('repo_branch', 'text').execute();
      await db.schema.alterTable('pipelines').addColumn('repo_credentials', 'text').execute();
    },
  },
};
