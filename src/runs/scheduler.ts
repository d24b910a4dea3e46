/**
 * The scheduler: the worker loop that moves runs forward. Any number of schedulers (one per server
 * replica) may work on the same database; they coordinate only through it.
 *
 * One round (`tick`), run every `pollMs` and whenever something happened (a run created or cancelled, a
 * job of this worker ended):
 * 1. Recovery: a claimed or running job whose lease expired lost its worker (a server died mid-run). It
 *    ends in `error` with the reason "server restarted during the run", and gets a new attempt if it has
 *    retries left. No job stays `running` without a live worker.
 * 2. Admission by the pipeline's run policy: `parallel` runs go at once (admitted when created); `serial`
 *    ones one at a time in order; under `serial-latest-only` the newest waiting run goes and older waiting
 *    ones are cancelled as superseded.
 * 3. Progress of admitted runs: a waiting job is queued when every job it waits for succeeded, and skipped
 *    (with the reason) as soon as one of them ended otherwise. A run being cancelled has its waiting and
 *    queued jobs cancelled. (A job of a run past its time limit is claimed as usual and ends `timed_out`
 *    before its first step; its waiting followers are then skipped.)
 * 4. Claims: queued jobs, oldest run first, while this worker has fewer than `maxJobs` jobs (the global
 *    limit of this server) and the job's pipeline fewer than its `concurrency` claimed or running jobs.
 *    A claim is a conditional UPDATE (`state = 'queued'`), so two workers never take the same job; the
 *    pipeline's row is locked during the count so the per-pipeline limit holds across workers too.
 *
 * A claimed job runs here, in this process: its steps one after the other through the step runners, its
 * output to the LogStore, its lease renewed every third of `leaseMs` (which also notices a cancel made on
 * another replica). Every write of a job it holds is conditional on still holding the lease. The job's
 * time limit starts at its claim, the run's at its first claim; the step gets what is left of the smaller
 * one as its executor timeout.
 *
 * Stopping (`stop`) claims nothing more, lets running jobs finish for `stopGraceMs`, then aborts them:
 * they end in `error` ("server stopped during the run") and are retried if they have retries left; a job
 * claimed but not started is released to the queue.
 */
import { mkdir, rm } from 'node:fs/promises';
import { anonymous, type Subject } from '../identity/subject.js';
import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { newId } from '../platform/ids.js';
import { cicdEnvironment } from './definition/rancher-yaml.js';
import type { ExecutionResult, LogSink } from './executor.js';
import type { LogStore } from './log-store.js';
import {
  expandVariables,
  runEnvironment,
  type Job,
  type Pipeline,
  type Step,
  type TriggerContext,
} from './model.js';
import { endPhrase, formatSeconds, jobEventInfo, modelJob, RunProgress } from './run-progress.js';
import type { RunsStore } from './runs.store.js';
import { JOB_ID_VARIABLE } from './executors/local.executor.js';
import { errorResult } from './script-steps.js';
import { maskingSink, maskText } from './credentials/log-masking.js';
import type { StepContext, StepRunner, StepRunners } from './step-runner.js';
import { deriveRunState, isTerminal, outcomeEvent, type StepOutcome } from './states.js';
import type { JobRow, RunRow, StepRow } from './tables.js';

/** The value of key `key` of the stored secret `secret` of the namespace, or undefined when there is none. */
export type SecretResolver = (namespace: string, secret: string, key: string) => Promise<string | undefined>;

export interface SchedulerOptions {
  stepRunners: StepRunners;
  logStore: LogStore;
  /** The workspace directory of a run (created by the scheduler when a job of the run starts). */
  workspaceOf: (runId: string) => string;
  /** Delete a run's workspace when the run ends. Default true. */
  removeWorkspaces?: boolean;
  /** Names this worker in leases. Default: a random id. */
  workerId?: string;
  /** Most jobs this scheduler runs at once. Default 4. */
  maxJobs?: number;
  /** How long a claim holds without renewal. Default 30 s. */
  leaseMs?: number;
  /** Interval of rounds when nothing wakes the scheduler. Default 1 s. */
  pollMs?: number;
  /** How long `stop` lets running jobs finish before aborting them. Default 10 s. */
  stopGraceMs?: number;
  /** host[:port] of Slipway's registry as jobs reach it (SLIPWAY_REGISTRY). */
  registry?: string;
  secrets?: SecretResolver;
  /**
   * Who a run acts for in Slipway's registry (image steps get tokens issued to it): `actor` is who started
   * the run, when a person or credential did. Default: anonymous.
   */
  subjectOf?: (run: { namespace: string; pipelineId: string; actor?: string }) => Promise<Subject>;
  onError?: (message: string, error: unknown) => void;
  /**
   * Stops what a dead worker left running of a job whose lease this scheduler found expired (on this machine:
   * `killJobProcesses`); every step process of a job carries `SLIPWAY_JOB_ID` for it. Default: nothing.
   */
  killLeftovers?: (jobId: string) => Promise<unknown>;
}

/** Why this worker aborted a job it runs. */
type AbortCause =
  | { kind: 'cancel'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'shutdown' }
  | { kind: 'lease-lost' }
  | { kind: 'abandoned' };

/**
 * A step runner is told its time limit (`timeoutMs`) and ends itself `timed_out`; this long after the
 * limit the scheduler aborts it anyway, so a runner that ignores its limit cannot hold a job forever.
 */
const TIMEOUT_BACKSTOP_MS = 10_000;

interface ActiveJob {
  jobId: string;
  runId: string;
  controller: AbortController;
  cause?: AbortCause;
  heartbeat?: NodeJS.Timeout;
  done: Promise<void>;
}

/** How an attempt ended when it did not succeed. */
interface AttemptEnd {
  state: Exclude<StepOutcome, 'success'>;
  reason: string;
  /** Whether another attempt may follow (not after a cancel or the run's own time limit). */
  retry: boolean;
}

/** What every step of a job shares. */
interface JobSetup {
  env: Record<string, string>;
  variables: Record<string, string>;
  workspace: string;
  pipeline: { id: string; name: string; namespace: string };
  actor: Subject;
  /** The values of the job's secrets: masked in its step logs and step reasons. */
  secretValues: string[];
}

/** A problem found before the job's first step (a missing secret, no workspace): the job ends in error. */
class JobSetupError extends Error {}

const SHUTDOWN_REASON = 'server stopped during the run';
export const LOST_LEASE_REASON = 'server restarted during the run';

export class Scheduler {
  readonly workerId: string;
  private readonly progress: RunProgress;
  private readonly active = new Map<string, ActiveJob>();
  private readonly models = new Map<string, Pipeline>();
  private readonly maxJobs: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly stopGraceMs: number;
  private readonly onError: (message: string, error: unknown) => void;
  private registry: string | undefined;
  private started = false;
  /** Set by `abandon`: this worker writes nothing more. */
  private dead = false;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private again = false;
  private unsubscribe: Array<() => void> = [];

  constructor(
    private readonly store: RunsStore,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly options: SchedulerOptions,
  ) {
    this.workerId = options.workerId ?? `worker-${newId()}`;
    this.registry = options.registry;
    this.maxJobs = options.maxJobs ?? 4;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 1000;
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.onError =
      options.onError ??
      ((message, error) =>
        process.emitWarning(`${message}: ${error instanceof Error ? error.message : String(error)}`));
    this.progress = new RunProgress(store, clock, (event) => events.emit(event));
  }

  /** Starts the loop; resolves after the first round (which recovers jobs of a dead worker). */
  async start(): Promise<void> {
    if (this.started || this.dead) return;
    this.started = true;
    this.unsubscribe = [
      this.events.on('run.created', () => this.wake()),
      this.events.on('run.cancel_requested', (event) => {
        const reason = event.actor ? `cancelled by ${event.actor}` : 'cancelled';
        for (const entry of this.active.values()) {
          if (entry.runId === event.runId) this.abort(entry, { kind: 'cancel', reason });
        }
        this.wake();
      }),
      this.events.on('run.finished', (event) => this.runFinished(event.runId)),
    ];
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.wake();
    await this.ticking;
  }

  /** Stops claiming; lets running jobs finish for `graceMs`, then aborts them (see the file comment). */
  async stop(graceMs = this.stopGraceMs): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.halt();
    await this.ticking;
    const allDone = (): Promise<unknown> => Promise.all([...this.active.values()].map((e) => e.done));
    if (this.active.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([allDone(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      for (const entry of this.active.values()) this.abort(entry, { kind: 'shutdown' });
      await allDone();
    }
  }

  /**
   * Stops at once and writes nothing more, leaving claimed jobs and their leases as they are: what a killed
   * server leaves behind. In-flight steps are aborted so no process outlives it. For recovery tests.
   */
  async abandon(): Promise<void> {
    this.dead = true;
    this.started = false;
    this.halt();
    for (const entry of this.active.values()) this.abort(entry, { kind: 'abandoned' });
    await Promise.all([...this.active.values()].map((e) => e.done));
  }

  /** Jobs this worker is running now. */
  get activeJobs(): number {
    return this.active.size;
  }

  /** Asks for a round soon (coalesced with one in progress). */
  wake(): void {
    if (!this.started) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.tick();
        } catch (error) {
          this.onError('scheduler round failed', error);
        }
      } while (this.again && this.started);
    })().finally(() => {
      this.ticking = undefined;
      if (this.again) this.wake();
    });
  }

  /** One round: recovery, admission, progress, claims. */
  async tick(): Promise<void> {
    if (this.dead) return;
    const now = this.clock.now();
    await this.recoverExpiredLeases(now);

    const runs = await this.store.unfinishedRuns();
    const jobsByRun = new Map<string, JobRow[]>();
    for (const job of await this.store.jobsOfRuns(runs.map((r) => r.id))) {
      const list = jobsByRun.get(job.run_id) ?? [];
      list.push(job);
      jobsByRun.set(job.run_id, list);
    }
    await this.admit(runs, now);

    for (const run of runs) {
      if (run.admitted_at === null) continue;
      const jobs = jobsByRun.get(run.id) ?? [];
      const changed =
        run.cancel_requested_at !== null
          ? (await this.progress.endPendingJobs(run.id, run.reason ?? 'cancelled')) > 0
          : await this.advance(jobs, now);
      if (changed || deriveRunState(jobs.map((j) => j.state)) !== run.state)
        await this.progress.settleRun(run.id);
    }
    await this.claimAndStart();
  }

  // -------------------------------------------------------------------------------------------------------
  // Rounds

  private async admit(runs: RunRow[], now: number): Promise<void> {
    const byPipeline = new Map<string, RunRow[]>();
    for (const run of runs) {
      const list = byPipeline.get(run.pipeline_id) ?? [];
      list.push(run);
      byPipeline.set(run.pipeline_id, list);
    }
    for (const [pipelineId, group] of byPipeline) {
      if (group.every((r) => r.admitted_at !== null)) continue;
      const pipeline = await this.store.findPipeline(pipelineId);
      if (!pipeline) continue;
      let admit: RunRow[];
      if (pipeline.policy === 'parallel') {
        admit = group.filter((r) => r.admitted_at === null);
      } else if (group.some((r) => r.admitted_at !== null)) {
        admit = [];
      } else if (pipeline.policy === 'serial-latest-only') {
        const newest = group[group.length - 1] as RunRow;
        for (const older of group.slice(0, -1)) await this.supersede(older, newest);
        admit = [newest];
      } else {
        admit = [group[0] as RunRow];
      }
      for (const run of admit) {
        if (run.cancel_requested_at !== null) continue;
        if (await this.store.admitRun(run.id, now)) run.admitted_at = now;
      }
    }
  }

  private async supersede(older: RunRow, newest: RunRow): Promise<void> {
    const reason = `superseded by run #${newest.number}`;
    if (!(await this.store.requestCancel(older.id, this.clock.now(), reason))) return;
    older.cancel_requested_at = this.clock.now();
    await this.progress.endPendingJobs(older.id, reason);
    await this.progress.settleRun(older.id);
  }

  /** Queues the waiting jobs whose predecessors succeeded, skips those one of whose predecessors did not. */
  private async advance(jobs: JobRow[], now: number): Promise<boolean> {
    const states = new Map(jobs.map((j) => [j.name, j.state]));
    let changed = false;
    for (const job of jobs) {
      if (job.state !== 'waiting') continue;
      const waitsFor = JSON.parse(job.waits_for) as string[];
      const blocker = waitsFor.find((name) => {
        const state = states.get(name);
        return state !== undefined && isTerminal(state) && state !== 'success';
      });
      if (blocker !== undefined) {
        const reason = `waits for job "${blocker}", which ${endPhrase(states.get(blocker) ?? 'error')}`;
        const moved = await this.progress.moveJob(job, 'skip', { reason, finished_at: now });
        if (moved) {
          await this.progress.closeSteps(moved, undefined, { event: 'skip', reason: 'the job was skipped' });
          states.set(job.name, moved.state);
          changed = true;
        }
      } else if (waitsFor.every((name) => states.get(name) === 'success')) {
        const moved = await this.progress.moveJob(job, 'enqueue');
        if (moved) {
          states.set(job.name, moved.state);
          changed = true;
        }
      }
    }
    return changed;
  }

  private async claimAndStart(): Promise<void> {
    if (!this.started || this.active.size >= this.maxJobs) return;
    const candidates = await this.store.queuedJobs((this.maxJobs - this.active.size) * 4 + 8);
    const full = new Set<string>();
    for (const job of candidates) {
      if (!this.started || this.active.size >= this.maxJobs) break;
      if (full.has(job.pipeline_id)) continue;
      const claimed = await this.claim(job);
      if (claimed === 'pipeline-full') full.add(job.pipeline_id);
      else if (claimed) this.launch(claimed);
    }
  }

  private async claim(job: JobRow): Promise<JobRow | 'pipeline-full' | undefined> {
    const pipeline = await this.store.findPipeline(job.pipeline_id);
    if (!pipeline) return undefined;
    const now = this.clock.now();
    const changes = {
      lease_owner: this.workerId,
      lease_expires_at: now + this.leaseMs,
      claimed_at: now,
      started_at: null,
      finished_at: null,
    };
    const result = await this.store.transaction(async (tx) => {
      if (pipeline.concurrency > 0) {
        await tx.lockPipeline(pipeline.id);
        if ((await tx.countLeasedJobs(pipeline.id)) >= pipeline.concurrency) return 'pipeline-full' as const;
      }
      return new RunProgress(tx, this.clock, () => undefined).moveJob(job, 'claim', changes);
    });
    if (result === 'pipeline-full' || result === undefined) return result;
    await this.store.setRunStartedAt(job.run_id, now);
    return result;
  }

  private launch(job: JobRow): void {
    const entry: ActiveJob = {
      jobId: job.id,
      runId: job.run_id,
      controller: new AbortController(),
      done: Promise.resolve(),
    };
    this.active.set(job.id, entry);
    entry.heartbeat = setInterval(
      () => void this.heartbeat(entry),
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    entry.heartbeat.unref();
    entry.done = this.runJob(job, entry)
      .catch((error: unknown) => this.failUnexpectedly(job, error))
      .finally(() => {
        clearInterval(entry.heartbeat);
        this.active.delete(job.id);
        this.wake();
      });
  }

  /** A bug or a database failure while running a job: end its attempt visibly rather than leave it running. */
  private async failUnexpectedly(claimed: JobRow, error: unknown): Promise<void> {
    this.onError(`job ${claimed.name} of run ${claimed.run_id} failed in the scheduler`, error);
    if (this.dead) return;
    try {
      const job = await this.store.findJob(claimed.id);
      const run = await this.store.findRun(claimed.run_id);
      if (!job || !run || job.lease_owner !== this.workerId || isTerminal(job.state)) return;
      const reason = `the scheduler failed: ${error instanceof Error ? error.message : String(error)}`;
      await this.progress.closeSteps(job, { event: 'error', reason }, { event: 'skip', reason });
      await this.progress.endAttempt(
        job,
        'error',
        reason,
        { retry: false, leaseOwner: this.workerId },
        this.modelOf(run),
      );
      await this.progress.settleRun(run.id);
    } catch (again) {
      this.onError(`failed to record the end of job ${claimed.name}`, again);
    }
  }

  private async heartbeat(entry: ActiveJob): Promise<void> {
    if (this.dead || entry.controller.signal.aborted) return;
    try {
      if (!(await this.store.renewLease(entry.jobId, this.workerId, this.clock.now() + this.leaseMs))) {
        this.abort(entry, { kind: 'lease-lost' });
        return;
      }
      const run = await this.store.findRun(entry.runId);
      if (run?.cancel_requested_at != null)
        this.abort(entry, { kind: 'cancel', reason: run.reason ?? 'cancelled' });
    } catch (error) {
      this.onError('failed to renew a job lease', error);
    }
  }

  private abort(entry: ActiveJob, cause: AbortCause): void {
    if (entry.controller.signal.aborted) return;
    entry.cause = cause;
    entry.controller.abort();
  }

  private halt(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
  }

  private runFinished(runId: string): void {
    this.models.delete(runId);
    if (this.options.removeWorkspaces === false) return;
    rm(this.options.workspaceOf(runId), { recursive: true, force: true }).catch((error: unknown) =>
      this.onError(`failed to remove the workspace of run ${runId}`, error),
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // Recovery

  private async recoverExpiredLeases(now: number): Promise<void> {
    for (const job of await this.store.expiredLeases(now)) {
      if (this.active.has(job.id)) continue;
      const run = await this.store.findRun(job.run_id);
      if (!run) continue;
      const ended = await this.progress.endAttempt(
        job,
        'lease_lost',
        LOST_LEASE_REASON,
        { retry: run.cancel_requested_at === null, leaseOwner: job.lease_owner ?? undefined },
        this.modelOf(run),
      );
      if (!ended) continue;
      await this.options
        .killLeftovers?.(job.id)
        .catch((error: unknown) => this.onError(`failed to stop what remained of job ${job.id}`, error));
      await this.progress.closeSteps(
        job,
        { event: 'error', reason: LOST_LEASE_REASON },
        { event: 'skip', reason: `the job ended before this step: ${LOST_LEASE_REASON}` },
      );
      await this.progress.settleRun(run.id);
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Running a job

  private async runJob(claimed: JobRow, entry: ActiveJob): Promise<void> {
    const run = await this.store.findRun(claimed.run_id);
    if (!run) return;
    const pipeline = this.modelOf(run);
    if (run.cancel_requested_at !== null)
      this.abort(entry, { kind: 'cancel', reason: run.reason ?? 'cancelled' });
    if (entry.controller.signal.aborted) return this.endBeforeStart(claimed, entry);

    const job = await this.progress.moveJob(
      claimed,
      'start',
      { started_at: this.clock.now() },
      this.workerId,
    );
    if (!job) return;
    const model = modelJob(pipeline, job.name);
    const steps = await this.store.stepsOfJob(job.id, job.attempt);

    let end: AttemptEnd | undefined;
    let setup: JobSetup | undefined;
    try {
      if (!model) throw new JobSetupError(`job "${job.name}" is not in the run's pipeline`);
      setup = await this.prepare(run, pipeline, model, job);
    } catch (error) {
      if (!(error instanceof JobSetupError)) throw error;
      end = { state: 'error', reason: error.message, retry: false };
    }

    const runDeadline =
      (run.started_at ?? job.claimed_at ?? this.clock.now()) + pipeline.timeoutSeconds * 1000;
    const jobDeadline =
      model?.timeoutSeconds !== undefined
        ? (job.claimed_at ?? this.clock.now()) + model.timeoutSeconds * 1000
        : Infinity;
    const binding = runDeadline <= jobDeadline ? 'run' : 'job';
    const limitText =
      binding === 'run'
        ? `the run exceeded its time limit of ${formatSeconds(pipeline.timeoutSeconds)}`
        : `the job exceeded its time limit of ${formatSeconds(model?.timeoutSeconds ?? 0)}`;

    for (const row of steps) {
      if (end || !model || !setup) break;
      const timedOut: AttemptEnd = { state: 'timed_out', reason: limitText, retry: binding === 'job' };
      if (entry.controller.signal.aborted) {
        const stopped = this.endOfAbort(entry.cause, timedOut);
        if (!stopped) return;
        end = stopped;
        break;
      }
      const remaining = Math.min(runDeadline, jobDeadline) - this.clock.now();
      if (remaining <= 0) {
        end = timedOut;
        break;
      }
      const step = model.steps[row.ordinal];
      if (!step) break;
      const outcome = await this.runStep(
        run,
        pipeline,
        job,
        model,
        step,
        row,
        setup,
        remaining,
        entry,
        limitText,
        binding,
      );
      if (outcome === 'abandoned') return;
      if (outcome) end = outcome;
    }
    if (this.dead) return;

    if (end) {
      await this.progress.closeSteps(job, undefined, {
        event: end.state === 'cancelled' ? 'cancel' : 'skip',
        reason: end.state === 'cancelled' ? end.reason : `an earlier step ${endPhrase(end.state)}`,
      });
    }
    const now = this.clock.now();
    if (!end) {
      await this.progress.moveJob(
        job,
        'succeed',
        { lease_owner: null, lease_expires_at: null, finished_at: now },
        this.workerId,
      );
    } else {
      const cancelled = (await this.store.findRun(run.id))?.cancel_requested_at != null;
      await this.progress.endAttempt(
        job,
        outcomeEvent(end.state),
        end.reason,
        { retry: end.retry && !cancelled, leaseOwner: this.workerId },
        pipeline,
      );
    }
    await this.progress.settleRun(run.id);
  }

  /** A claimed job aborted before it started: a stop gives it back to the queue, a cancel ends it. */
  private async endBeforeStart(claimed: JobRow, entry: ActiveJob): Promise<void> {
    if (this.dead) return;
    const cause = entry.cause;
    if (cause?.kind === 'shutdown') {
      await this.progress.moveJob(
        claimed,
        'release',
        { lease_owner: null, lease_expires_at: null, claimed_at: null },
        this.workerId,
      );
    } else if (cause?.kind === 'cancel') {
      const moved = await this.progress.moveJob(
        claimed,
        'cancel',
        { lease_owner: null, lease_expires_at: null, reason: cause.reason, finished_at: this.clock.now() },
        this.workerId,
      );
      if (moved) await this.progress.closeSteps(moved, undefined, { event: 'cancel', reason: cause.reason });
      await this.progress.settleRun(claimed.run_id);
    }
  }

  /** How an attempt ends when this worker aborted it between steps; undefined when it must write nothing. */
  private endOfAbort(cause: AbortCause | undefined, timedOut?: AttemptEnd): AttemptEnd | undefined {
    switch (cause?.kind) {
      case 'cancel':
        return { state: 'cancelled', reason: cause.reason, retry: false };
      case 'timeout':
        return timedOut;
      case 'shutdown':
        return { state: 'error', reason: SHUTDOWN_REASON, retry: true };
      default:
        return undefined;
    }
  }

  /** Runs one step and records it; returns how the attempt ends if the step did not succeed. */
  private async runStep(
    run: RunRow,
    pipeline: Pipeline,
    job: JobRow,
    model: Job,
    step: Step,
    row: StepRow,
    setup: JobSetup,
    timeoutMs: number,
    entry: ActiveJob,
    limitText: string,
    binding: 'run' | 'job',
  ): Promise<AttemptEnd | 'abandoned' | undefined> {
    const running = await this.progress.moveStep(row, 'start', { started_at: this.clock.now() });
    if (!running)
      return { state: 'error', reason: `step "${row.name}" was changed by someone else`, retry: false };
    const stepInfo = { stepId: row.id, step: row.name, index: row.ordinal };
    this.events.emit({ type: 'step.started', ...jobEventInfo(job), ...stepInfo, state: 'running' });

    const log = this.logWriter(row.id, setup.secretValues);
    const context: StepContext = {
      runId: run.id,
      jobId: job.id,
      stepId: row.id,
      workspace: setup.workspace,
      env: setup.env,
      variables: setup.variables,
      signal: entry.controller.signal,
      timeoutMs,
      sink: log.sink,
      registryHost: this.registry ?? '',
      pipeline: setup.pipeline,
      run: { number: run.number },
      job: { name: model.name },
      step: { index: row.ordinal, name: row.name },
      trigger: JSON.parse(run.trigger_context) as TriggerContext,
      actor: setup.actor,
    };
    const backstopMs = timeoutMs + TIMEOUT_BACKSTOP_MS;
    const backstop =
      backstopMs <= 2 ** 31 - 1
        ? setTimeout(() => this.abort(entry, { kind: 'timeout' }), backstopMs)
        : undefined;
    const result = await this.execute(step, context, log.close);
    clearTimeout(backstop);
    if (this.dead || entry.cause?.kind === 'abandoned' || entry.cause?.kind === 'lease-lost')
      return 'abandoned';

    const outcome = this.outcomeOf(result, entry.cause, {
      state: 'timed_out',
      reason: limitText,
      retry: binding === 'job',
    });
    const end = outcome && { ...outcome, reason: maskText(outcome.reason, setup.secretValues) };
    await this.progress.moveStep(running, outcomeEvent(end?.state ?? 'success'), {
      exit_code: result.exitCode,
      reason: end?.reason ?? null,
      started_at: result.startedAt,
      finished_at: result.finishedAt,
    });
    this.events.emit({
      type: 'step.finished',
      ...jobEventInfo(job, end?.reason),
      ...stepInfo,
      state: end?.state ?? 'success',
    });
    return end ? { ...end, reason: `step "${row.name}": ${end.reason}` } : undefined;
  }

  private async execute(
    step: Step,
    context: StepContext,
    closeLog: () => Promise<void>,
  ): Promise<ExecutionResult> {
    const runner = this.options.stepRunners[step.kind] as StepRunner | undefined;
    try {
      if (!runner) {
        return errorResult(
          `this server cannot run ${step.kind} steps yet (no step runner for them)`,
          this.clock.now(),
        );
      }
      return await runner(step, context);
    } catch (error) {
      return errorResult(
        `step runner failed: ${error instanceof Error ? error.message : String(error)}`,
        this.clock.now(),
      );
    } finally {
      await closeLog();
    }
  }

  /**
   * host[:port] of Slipway's registry as jobs reach it, once known (a server listening on port 0 learns its port
   * after `listen`); applies to jobs prepared from now on.
   */
  setRegistry(host: string): void {
    this.registry = host;
  }

  /** A run nobody started (webhook, cron, ...) acts for the pipeline's creator. */
  private async subjectOf(run: RunRow, namespace: string, createdBy?: string): Promise<Subject> {
    if (!this.options.subjectOf) return anonymous;
    const actor = run.actor ?? createdBy;
    return this.options.subjectOf({
      namespace,
      pipelineId: run.pipeline_id,
      ...(actor ? { actor } : {}),
    });
  }

  private outcomeOf(
    result: ExecutionResult,
    cause: AbortCause | undefined,
    timedOut: AttemptEnd,
  ): AttemptEnd | undefined {
    switch (result.outcome) {
      case 'success':
        return undefined;
      case 'cancelled':
        return (
          this.endOfAbort(cause, timedOut) ?? {
            state: 'cancelled',
            reason: result.error ?? 'cancelled',
            retry: false,
          }
        );
      case 'timed_out':
        return timedOut;
      default:
        return { state: result.outcome, reason: result.error ?? endPhrase(result.outcome), retry: true };
    }
  }

  /**
   * Output of one step to the LogStore, one append at a time in order, with the job's secret values masked;
   * `close` after the last.
   */
  private logWriter(
    stepId: string,
    secretValues: readonly string[],
  ): { sink: LogSink; close: () => Promise<void> } {
    const store = this.options.logStore;
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    const report = (error: unknown): void => {
      if (failed) return;
      failed = true;
      this.onError(`failed to store the output of step ${stepId}`, error);
    };
    const masking = maskingSink((chunk) => {
      chain = chain.then(() => store.append(stepId, chunk)).catch(report);
    }, secretValues);
    return {
      sink: masking.sink,
      close: async () => {
        masking.flush();
        await chain;
        try {
          await store.close(stepId);
        } catch (error) {
          report(error);
        }
      },
    };
  }

  /** The job's environment and workspace; a JobSetupError when it cannot have them. */
  private async prepare(run: RunRow, pipeline: Pipeline, model: Job, job: JobRow): Promise<JobSetup> {
    const context = JSON.parse(run.trigger_context) as TriggerContext;
    const row = await this.store.findPipeline(run.pipeline_id);
    const namespace = row?.namespace ?? '';
    const identity = { pipelineId: run.pipeline_id, number: run.number, registry: this.registry };
    let variables = runEnvironment(context, identity);
    if (pipeline.dialect === 'rancher') {
      const triggerType =
        run.trigger_kind === 'manual' ? 'user' : run.trigger_kind === 'cron' ? 'cron' : 'webhook';
      variables = {
        ...variables,
        ...cicdEnvironment(context, { ...identity, projectId: namespace, clusterId: 'local', triggerType }),
      };
    }
    const env: Record<string, string> = { ...variables };
    for (const [name, value] of Object.entries(model.env)) env[name] = expandVariables(value, variables);
    // After the job's own env: recovery finds a dead worker's processes of this job by it.
    env[JOB_ID_VARIABLE] = job.id;
    const secretValues: string[] = [];
    if (job.withhold_secrets === 0) {
      for (const secret of model.secrets) {
        if (!this.options.secrets) {
          throw new JobSetupError(`secret "${secret.secret}" cannot be read: no secret store is configured`);
        }
        const value = await this.options.secrets(namespace, secret.secret, secret.key);
        if (value === undefined) {
          throw new JobSetupError(
            `secret "${secret.secret}" has no key "${secret.key}" in namespace ${namespace}`,
          );
        }
        env[secret.env] = value;
        secretValues.push(value);
      }
    }
    const workspace = this.options.workspaceOf(run.id);
    try {
      await mkdir(workspace, { recursive: true });
    } catch (error) {
      throw new JobSetupError(
        `cannot create the workspace: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    let actor: Subject;
    try {
      actor = await this.subjectOf(run, namespace, row?.created_by ?? undefined);
    } catch (error) {
      throw new JobSetupError(
        `cannot tell who the run acts for: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return {
      env,
      variables,
      workspace,
      pipeline: { id: run.pipeline_id, name: row?.name ?? pipeline.name, namespace },
      actor,
      secretValues,
    };
  }

  private modelOf(run: RunRow): Pipeline {
    let model = this.models.get(run.id);
    if (!model) {
      if (this.models.size >= 1000) this.models.clear();
      model = JSON.parse(run.model) as Pipeline;
      this.models.set(run.id, model);
    }
    return model;
  }
}
