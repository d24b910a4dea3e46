import type { Insertable, Kysely, Updateable } from 'kysely';
import type { JobState, RunState, StepState } from './states.js';
import type { JobRow, PipelineRow, RunRow, RunsTables, StepRow } from './tables.js';

/** States of a run that is not finished. */
const UNFINISHED_RUN_STATES: readonly RunState[] = ['waiting', 'queued', 'running'];
/** Job states that hold a lease. */
const LEASED_JOB_STATES: readonly JobState[] = ['claimed', 'running'];

/** Where a compare-and-set expects a job to be: its state and, when given, its attempt and lease owner. */
export interface JobExpectation {
  state: JobState;
  attempt?: number;
  leaseOwner?: string;
}

/**
 * Queries of pipelines, runs, jobs and steps. Every state change is a compare-and-set on the state it
 * leaves (and for a leased job on its owner), so concurrent workers and requests never overwrite each
 * other: a method returns false when the row was no longer where the caller expected it.
 */
export class RunsStore {
  constructor(readonly db: Kysely<RunsTables>) {}

  /** Runs `fn` in one transaction, with a store bound to it. */
  transaction<T>(fn: (store: RunsStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new RunsStore(trx)));
  }

  // -------------------------------------------------------------------------------------------------------
  // Pipelines

  async insertPipeline(row: Insertable<RunsTables['pipelines']>): Promise<void> {
    await this.db.insertInto('pipelines').values(row).execute();
  }

  findPipeline(id: string): Promise<PipelineRow | undefined> {
    return this.db.selectFrom('pipelines').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findPipelineByName(namespace: string, name: string): Promise<PipelineRow | undefined> {
    return this.db
      .selectFrom('pipelines')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  listPipelines(namespace: string): Promise<PipelineRow[]> {
    return this.db
      .selectFrom('pipelines')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('name')
      .execute();
  }

  async updatePipeline(id: string, changes: Updateable<RunsTables['pipelines']>): Promise<void> {
    await this.db.updateTable('pipelines').set(changes).where('id', '=', id).execute();
  }

  async deletePipeline(id: string): Promise<void> {
    await this.db.deleteFrom('pipelines').where('id', '=', id).execute();
  }

  /** Takes the next run number of the pipeline; the row update also serializes concurrent starts. */
  async nextRunNumber(pipelineId: string): Promise<number | undefined> {
    const row = await this.db
      .updateTable('pipelines')
      .set((eb) => ({ run_seq: eb('run_seq', '+', 1) }))
      .where('id', '=', pipelineId)
      .returning('run_seq')
      .executeTakeFirst();
    return row?.run_seq;
  }

  /**
   * Locks the pipeline's row until the transaction ends (PostgreSQL takes a row lock on update; SQLite
   * holds the database's write lock), so two workers cannot both count a free slot of its limit.
   */
  async lockPipeline(pipelineId: string): Promise<void> {
    await this.db
      .updateTable('pipelines')
      .set((eb) => ({ claim_seq: eb('claim_seq', '+', 1) }))
      .where('id', '=', pipelineId)
      .execute();
  }

  // -------------------------------------------------------------------------------------------------------
  // Runs

  async insertRun(
    run: Insertable<RunsTables['runs']>,
    jobs: Insertable<RunsTables['run_jobs']>[],
    steps: Insertable<RunsTables['run_steps']>[],
  ): Promise<void> {
    await this.db.insertInto('runs').values(run).execute();
    // Chunks keep each statement under SQLite's limit of bound parameters.
    for (let i = 0; i < jobs.length; i += 40) {
      await this.db
        .insertInto('run_jobs')
        .values(jobs.slice(i, i + 40))
        .execute();
    }
    for (let i = 0; i < steps.length; i += 60) {
      await this.db
        .insertInto('run_steps')
        .values(steps.slice(i, i + 60))
        .execute();
    }
  }

  findRun(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Newest first; `beforeNumber` pages back. */
  listRuns(pipelineId: string, options: { limit: number; beforeNumber?: number }): Promise<RunRow[]> {
    let query = this.db.selectFrom('runs').selectAll().where('pipeline_id', '=', pipelineId);
    if (options.beforeNumber !== undefined) query = query.where('number', '<', options.beforeNumber);
    return query.orderBy('number', 'desc').limit(options.limit).execute();
  }

  /** Every run not finished yet, oldest first within each pipeline. */
  unfinishedRuns(): Promise<RunRow[]> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('state', 'in', UNFINISHED_RUN_STATES)
      .orderBy('pipeline_id')
      .orderBy('number')
      .execute();
  }

  /** Unfinished runs of the pipeline older than `number` that the policy has not let go yet. */
  waitingRunsBefore(pipelineId: string, number: number): Promise<RunRow[]> {
    return this.db
      .selectFrom('runs')
      .selectAll()
      .where('pipeline_id', '=', pipelineId)
      .where('number', '<', number)
      .where('admitted_at', 'is', null)
      .where('state', 'in', UNFINISHED_RUN_STATES)
      .orderBy('number')
      .execute();
  }

  async countUnfinishedRuns(pipelineId: string): Promise<number> {
    const row = await this.db
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pipeline_id', '=', pipelineId)
      .where('state', 'in', UNFINISHED_RUN_STATES)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async admitRun(id: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set({ admitted_at: at })
      .where('id', '=', id)
      .where('admitted_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Compare-and-set of the run's state. */
  async updateRunState(
    id: string,
    from: RunState,
    changes: Updateable<RunsTables['runs']> & { state: RunState },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set(changes)
      .where('id', '=', id)
      .where('state', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Records the first cancel request (and its reason); false when one was already recorded. */
  async requestCancel(id: string, at: number, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set({ cancel_requested_at: at, reason })
      .where('id', '=', id)
      .where('cancel_requested_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setRunStartedAt(id: string, at: number): Promise<void> {
    await this.db
      .updateTable('runs')
      .set({ started_at: at })
      .where('id', '=', id)
      .where('started_at', 'is', null)
      .execute();
  }

  // -------------------------------------------------------------------------------------------------------
  // Jobs

  jobsOfRun(runId: string): Promise<JobRow[]> {
    return this.db
      .selectFrom('run_jobs')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('ordinal')
      .execute();
  }

  async jobsOfRuns(runIds: readonly string[]): Promise<JobRow[]> {
    if (runIds.length === 0) return [];
    const rows: JobRow[] = [];
    for (let i = 0; i < runIds.length; i += 500) {
      rows.push(
        ...(await this.db
          .selectFrom('run_jobs')
          .selectAll()
          .where('run_id', 'in', runIds.slice(i, i + 500))
          .orderBy('run_id')
          .orderBy('ordinal')
          .execute()),
      );
    }
    return rows;
  }

  findJob(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('run_jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Compare-and-set of a job: applies `changes` only while it is as `expected`. */
  async updateJob(
    id: string,
    expected: JobExpectation,
    changes: Updateable<RunsTables['run_jobs']>,
  ): Promise<boolean> {
    let query = this.db
      .updateTable('run_jobs')
      .set(changes)
      .where('id', '=', id)
      .where('state', '=', expected.state);
    if (expected.attempt !== undefined) query = query.where('attempt', '=', expected.attempt);
    if (expected.leaseOwner !== undefined) query = query.where('lease_owner', '=', expected.leaseOwner);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Queued jobs, oldest run first, in plan order. */
  queuedJobs(limit: number): Promise<JobRow[]> {
    return this.db
      .selectFrom('run_jobs')
      .innerJoin('runs', 'runs.id', 'run_jobs.run_id')
      .selectAll('run_jobs')
      .where('run_jobs.state', '=', 'queued')
      .orderBy('runs.created_at')
      .orderBy('runs.number')
      .orderBy('run_jobs.ordinal')
      .limit(limit)
      .execute();
  }

  async countLeasedJobs(pipelineId: string): Promise<number> {
    const row = await this.db
      .selectFrom('run_jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pipeline_id', '=', pipelineId)
      .where('state', 'in', LEASED_JOB_STATES)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Claimed or running jobs whose lease ran out before `now`: their worker is gone. */
  expiredLeases(now: number): Promise<JobRow[]> {
    return this.db
      .selectFrom('run_jobs')
      .selectAll()
      .where('state', 'in', LEASED_JOB_STATES)
      .where('lease_expires_at', '<', now)
      .execute();
  }

  /** Extends the lease while `owner` still holds it; false when it lost it. */
  async renewLease(id: string, owner: string, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('run_jobs')
      .set({ lease_expires_at: until })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', 'in', LEASED_JOB_STATES)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -------------------------------------------------------------------------------------------------------
  // Steps

  async insertSteps(steps: Insertable<RunsTables['run_steps']>[]): Promise<void> {
    if (steps.length === 0) return;
    await this.db.insertInto('run_steps').values(steps).execute();
  }

  findStep(id: string): Promise<StepRow | undefined> {
    return this.db.selectFrom('run_steps').selectAll().where('id', '=', id).executeTakeFirst();
  }

  stepsOfJob(jobId: string, attempt: number): Promise<StepRow[]> {
    return this.db
      .selectFrom('run_steps')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('attempt', '=', attempt)
      .orderBy('ordinal')
      .execute();
  }

  stepsOfRun(runId: string): Promise<StepRow[]> {
    return this.db
      .selectFrom('run_steps')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('job_id')
      .orderBy('attempt')
      .orderBy('ordinal')
      .execute();
  }

  async updateStep(
    id: string,
    from: StepState,
    changes: Updateable<RunsTables['run_steps']> & { state: StepState },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('run_steps')
      .set(changes)
      .where('id', '=', id)
      .where('state', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
