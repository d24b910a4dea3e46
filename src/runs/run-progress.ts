import type { Insertable } from 'kysely';
import type { Clock } from '../platform/clock.js';
import type { DomainEvent, JobEventInfo } from '../platform/events.js';
import { newId } from '../platform/ids.js';
import type { Job, Pipeline } from './model.js';
import type { RunsStore } from './runs.store.js';
import {
  deriveRunState,
  isTerminal,
  transition,
  TransitionRefused,
  type JobState,
  type StateEvent,
  type StepState,
  type TerminalState,
} from './states.js';
import type { JobRow, PipelineRow, RunRow, RunsTables, StepRow } from './tables.js';

type JobChanges = Omit<Partial<RunsTables['run_jobs']>, 'id' | 'state'>;
type StepChanges = Omit<Partial<RunsTables['run_steps']>, 'id' | 'state'>;

/** Lease and timing columns of a job that has no attempt in progress. */
const NOT_LEASED = { lease_owner: null, lease_expires_at: null } as const;

/** How a job or step ended, in words after its name: `job "lint" failed`. */
export function endPhrase(state: TerminalState | JobState): string {
  switch (state) {
    case 'failed':
      return 'failed';
    case 'error':
      return 'ended in an error';
    case 'cancelled':
      return 'was cancelled';
    case 'skipped':
      return 'was skipped';
    case 'timed_out':
      return 'timed out';
    case 'success':
      return 'succeeded';
    default:
      return `is ${state}`;
  }
}

/** `90` → `1m30s`, `3600` → `1h`. */
export function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const text = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return text === '' ? '0s' : text;
}

/** The step rows of one attempt of a planned job, all waiting. */
export function stepRowsFor(
  job: Job,
  jobId: string,
  runId: string,
  attempt: number,
): Insertable<RunsTables['run_steps']>[] {
  return job.steps.map((step, ordinal) => ({
    id: newId(),
    job_id: jobId,
    run_id: runId,
    attempt,
    ordinal,
    name: step.name,
    kind: step.kind,
    state: 'waiting' as const,
    exit_code: null,
    reason: null,
    started_at: null,
    finished_at: null,
  }));
}

/** The job of the pipeline model named `name`. */
export function modelJob(pipeline: Pipeline, name: string): Job | undefined {
  for (const stage of pipeline.stages) {
    const job = stage.jobs.find((j) => j.name === name);
    if (job) return job;
  }
  return undefined;
}

export function jobEventInfo(job: JobRow, reason?: string | null): JobEventInfo {
  return {
    runId: job.run_id,
    pipelineId: job.pipeline_id,
    jobId: job.id,
    job: job.name,
    stage: job.stage,
    attempt: job.attempt,
    state: job.state,
    ...(reason ? { reason } : {}),
  };
}

/**
 * The state changes shared by the service (start, cancel) and the scheduler (claims, ends, recovery).
 * Every change goes through `transition` and is written as a compare-and-set, so a change that lost a race
 * returns undefined instead of overwriting; the run's state is re-derived from its jobs by `settleRun`.
 * Events are handed to `emit`; inside a transaction the caller collects them and emits after the commit.
 */
export class RunProgress {
  constructor(
    private readonly store: RunsStore,
    private readonly clock: Clock,
    private readonly emit: (event: DomainEvent) => void,
  ) {}

  /** Applies `event` to the job while it is still as read (state, attempt and, if given, lease owner). */
  async moveJob(
    job: JobRow,
    event: StateEvent,
    changes: JobChanges = {},
    leaseOwner?: string,
  ): Promise<JobRow | undefined> {
    const to = next(job.state, event);
    const ok = await this.store.updateJob(
      job.id,
      { state: job.state, attempt: job.attempt, leaseOwner },
      { ...changes, state: to },
    );
    if (!ok) return undefined;
    const moved: JobRow = { ...job, ...changes, state: to };
    if (to === 'running') this.emit({ type: 'job.started', ...jobEventInfo(moved) });
    if (isTerminal(to)) this.emit({ type: 'job.finished', ...jobEventInfo(moved, moved.reason) });
    return moved;
  }

  async moveStep(step: StepRow, event: StateEvent, changes: StepChanges = {}): Promise<StepRow | undefined> {
    const to = next(step.state, event) as StepState;
    const ok = await this.store.updateStep(step.id, step.state, { ...changes, state: to });
    return ok ? { ...step, ...changes, state: to } : undefined;
  }

  /**
   * Ends an attempt of a job that did not succeed: with `event` (fail, error, timeout, lease_lost, ...),
   * then, when `retry` is allowed and attempts remain, straight on to a new queued attempt with fresh steps.
   * The job leaves its lease. Returns the job as written, or undefined when it was no longer as read.
   */
  async endAttempt(
    job: JobRow,
    event: StateEvent,
    reason: string,
    options: { retry: boolean; leaseOwner?: string },
    pipeline: Pipeline,
  ): Promise<JobRow | undefined> {
    const now = this.clock.now();
    const ended = next(job.state, event);
    const model = modelJob(pipeline, job.name);
    if (options.retry && model && job.attempt < job.max_attempts && ended !== 'cancelled') {
      const queued = next(ended, 'retry');
      const nextAttempt = job.attempt + 1;
      const changes: JobChanges = {
        ...NOT_LEASED,
        attempt: nextAttempt,
        reason: `attempt ${job.attempt} ${endPhrase(ended)}: ${reason}; retrying (attempt ${nextAttempt} of ${job.max_attempts})`,
        claimed_at: null,
        started_at: null,
        finished_at: null,
      };
      const ok = await this.store.transaction(async (tx) => {
        const moved = await tx.updateJob(
          job.id,
          { state: job.state, attempt: job.attempt, leaseOwner: options.leaseOwner },
          { ...changes, state: queued },
        );
        if (moved) await tx.insertSteps(stepRowsFor(model, job.id, job.run_id, nextAttempt));
        return moved;
      });
      if (!ok) return undefined;
      this.emit({ type: 'job.finished', ...jobEventInfo({ ...job, state: ended }, reason) });
      return { ...job, ...changes, state: queued };
    }
    return this.moveJob(job, event, { ...NOT_LEASED, reason, finished_at: now }, options.leaseOwner);
  }

  /**
   * Ends the steps of the job's current attempt that have not ended: running ones with `running` (an
   * event and reason), waiting ones with `waiting`.
   */
  async closeSteps(
    job: JobRow,
    running: { event: StateEvent; reason: string } | undefined,
    waiting: { event: 'skip' | 'cancel'; reason: string },
  ): Promise<void> {
    const now = this.clock.now();
    for (const step of await this.store.stepsOfJob(job.id, job.attempt)) {
      if (step.state === 'waiting') {
        await this.moveStep(step, waiting.event, { reason: waiting.reason, finished_at: now });
      } else if (step.state === 'running' && running) {
        await this.moveStep(step, running.event, { reason: running.reason, finished_at: now });
      }
    }
  }

  /**
   * Ends the run's jobs that have not started: waiting and queued ones are cancelled (or, with
   * `waiting: 'skip'`, waiting ones skipped), with their steps. Returns how many jobs changed.
   */
  async endPendingJobs(
    runId: string,
    reason: string,
    waiting: 'cancel' | 'skip' = 'cancel',
  ): Promise<number> {
    let changed = 0;
    for (const job of await this.store.jobsOfRun(runId)) {
      if (job.state !== 'waiting' && job.state !== 'queued') continue;
      const event = job.state === 'waiting' ? waiting : 'cancel';
      const moved = await this.moveJob(job, event, { reason, finished_at: this.clock.now() });
      if (!moved) continue;
      changed++;
      await this.closeSteps(moved, undefined, { event, reason });
    }
    return changed;
  }

  /**
   * Writes the run's state as derived from its jobs, and announces a start or an end. Returns the run as
   * it is now (undefined if it is gone).
   */
  async settleRun(runId: string): Promise<RunRow | undefined> {
    for (let tries = 0; tries < 5; tries++) {
      const run = await this.store.findRun(runId);
      if (!run || isTerminal(run.state)) return run;
      const jobs = await this.store.jobsOfRun(runId);
      const state = deriveRunState(jobs.map((j) => j.state));
      if (state === run.state) return run;
      const finishedAt = isTerminal(state) ? this.clock.now() : null;
      if (!(await this.store.updateRunState(runId, run.state, { state, finished_at: finishedAt }))) continue;
      const settled: RunRow = { ...run, state, finished_at: finishedAt };
      if (state === 'running') await this.announce('run.started', settled);
      if (isTerminal(state)) await this.announce('run.finished', settled);
      return settled;
    }
    return this.store.findRun(runId);
  }

  async announce(
    type: 'run.created' | 'run.started' | 'run.cancel_requested' | 'run.finished',
    run: RunRow,
    actor: string | null = run.actor,
    known?: PipelineRow,
  ): Promise<void> {
    const pipeline = known ?? (await this.store.findPipeline(run.pipeline_id));
    this.emit({
      type,
      runId: run.id,
      pipelineId: run.pipeline_id,
      namespace: pipeline?.namespace ?? '',
      pipeline: pipeline?.name ?? '',
      number: run.number,
      state: run.state,
      trigger: run.trigger_kind,
      ...(actor ? { actor } : {}),
    });
  }
}

function next<S extends JobState>(state: S, event: StateEvent): JobState {
  const to = transition(state, event);
  if (to instanceof TransitionRefused) throw to;
  return to;
}
