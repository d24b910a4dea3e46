import type { Kysely, Migration } from 'kysely';
import { pipelineOwnerMigrations } from './pipeline-owner.migration.js';
import { pipelineRepositoryMigrations } from './pipeline-repository.migration.js';

/** Pipelines, their runs, the runs' jobs (the units the scheduler claims with leases) and the jobs' steps. */
export const runsMigrations: Record<string, Migration> = {
  '0060_runs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('pipelines')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('concurrency', 'integer', (c) => c.notNull())
        .addColumn('run_seq', 'integer', (c) => c.notNull())
        .addColumn('claim_seq', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('pipelines_namespace_name', ['namespace', 'name'])
        .execute();

      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline_id', 'text', (c) => c.notNull().references('pipelines.id').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('trigger_kind', 'text', (c) => c.notNull())
        .addColumn('trigger_context', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('rerun_of', 'text')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('admitted_at', 'bigint')
        .addColumn('cancel_requested_at', 'bigint')
        .addColumn('reason', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addUniqueConstraint('runs_pipeline_number', ['pipeline_id', 'number'])
        .execute();
      await db.schema
        .createIndex('runs_state')
        .on('runs')
        .columns(['state', 'pipeline_id', 'number'])
        .execute();

      await db.schema
        .createTable('run_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('pipeline_id', 'text', (c) => c.notNull())
        .addColumn('ordinal', 'integer', (c) => c.notNull())
        .addColumn('stage_index', 'integer', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('waits_for', 'text', (c) => c.notNull())
        .addColumn('withhold_secrets', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('claimed_at', 'bigint')
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('run_jobs_run').on('run_jobs').columns(['run_id', 'ordinal']).execute();
      await db.schema
        .createIndex('run_jobs_state')
        .on('run_jobs')
        .columns(['state', 'pipeline_id'])
        .execute();

      await db.schema
        .createTable('run_steps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull().references('run_jobs.id').onDelete('cascade'))
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('ordinal', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('reason', 'text')
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('run_steps_job')
        .on('run_steps')
        .columns(['job_id', 'attempt', 'ordinal'])
        .execute();
      await db.schema.createIndex('run_steps_run').on('run_steps').column('run_id').execute();
    },
  },
  // Who created a pipeline (its own file: a later migration).
  ...pipelineOwnerMigrations,
  ...pipelineRepositoryMigrations,
};
