import { basename } from 'node:path';
import type { Subject } from '../identity/index.js';
import type { Clock } from '../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../platform/errors.js';
import type { DomainEvent, EventBus } from '../platform/events.js';
import { newId } from '../platform/ids.js';
import type { DefinitionIssue, ParsedPipeline } from './definition/issues.js';
import { parseRancherPipeline } from './definition/rancher-yaml.js';
import { parseSlipwayPipeline } from './definition/slipway-yaml.js';
import {
  plan,
  TRIGGER_EVENTS,
  withCheckoutCredentials,
  type Pipeline,
  type PipelineDialect,
  type StepKind,
  type TriggerContext,
} from './model.js';
import { RunProgress, stepRowsFor } from './run-progress.js';
import type { RunsStore } from './runs.store.js';
import {
  deriveRunState,
  isTerminal,
  transition,
  TransitionRefused,
  type JobState,
  type RunState,
  type StepState,
} from './states.js';
import {
  RUN_POLICIES,
  TRIGGER_KINDS,
  type JobRow,
  type PipelineRow,
  type RunPolicy,
  type RunRow,
  type StepRow,
  type TriggerKind,
} from './tables.js';

export interface PipelineInput {
  namespace: string;
  /** Default: the definition's own name. Unique in the namespace. */
  name?: string;
  /** The definition's text (YAML). */
  source: string;
  /** Default `slipway`. */
  dialect?: PipelineDialect;
  /** Default `parallel`. */
  policy?: RunPolicy;
  /** Most jobs of this pipeline running at once, over all its runs; default 0, no limit. */
  concurrency?: number;
  /** Who creates it (a user name): runs nobody started (webhooks, schedules) act for them. */
  actor?: string;
  /** Where runs whose trigger names no repository check out from. */
  repository?: PipelineRepository;
}

/** A pipeline's source repository; `credentials` names a git credential of the pipeline's namespace. */
export interface PipelineRepository {
  url: string;
  /** Default: the remote's default branch. */
  branch?: string;
  credentials?: string;
}

/**
 * What a branch or tag of a repository points at now (`git ls-remote` through the outbound policy, with the
 * namespace's credential when named). Throws Invalid for a repository that cannot be read, NotFound for a
 * missing branch or tag.
 */
export type SourceResolver = (request: {
  namespace: string;
  url: string;
  branch?: string;
  tag?: string;
  credentials?: string;
}) => Promise<{ commit: string; branch?: string }>;

export interface PipelineView {
  id: string;
  namespace: string;
  name: string;
  dialect: PipelineDialect;
  source: string;
  pipeline: Pipeline;
  policy: RunPolicy;
  concurrency: number;
  /** Number of the latest run; 0 before the first. */
  lastRunNumber: number;
  repository?: PipelineRepository;
  createdAt: number;
  updatedAt: number;
}

/** A pipeline just written, with what its definition's parser ignored. */
export interface SavedPipeline extends PipelineView {
  warnings: DefinitionIssue[];
}

export interface RunTrigger {
  kind: TriggerKind;
  context: TriggerContext;
  /** Who started it (a user or robot name), when a person or a credential did. */
  actor?: string;
  /** The run this one re-runs: its stored pipeline is run again instead of the current definition. */
  rerunOf?: string;
  /**
   * The pipeline this one run follows instead of the stored definition: a Quay build's own Dockerfile
   * path and tags, a definition read from the source repository at the triggering commit (pipelines as
   * code). Runs store the pipeline they were planned from, so a re-run repeats it.
   */
  definition?: Pipeline;
}

export interface RunSummary {
  id: string;
  pipelineId: string;
  namespace: string;
  pipeline: string;
  number: number;
  state: RunState;
  trigger: { kind: TriggerKind; context: TriggerContext; actor?: string };
  rerunOf?: string;
  /** Why it ended as it did when no job's reason says it: who cancelled it, which run superseded it. */
  reason?: string;
  cancelRequested: boolean;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
}

export interface StepView {
  id: string;
  index: number;
  name: string;
  kind: StepKind;
  attempt: number;
  state: StepState;
  exitCode?: number;
  reason?: string;
  startedAt?: number;
  finishedAt?: number;
}

export interface JobView {
  id: string;
  name: string;
  stage: string;
  stageIndex: number;
  state: JobState;
  /** Why it was skipped, ended badly, or was retried. */
  reason?: string;
  attempt: number;
  maxAttempts: number;
  /** Jobs of the run that must succeed before this one starts. */
  waitsFor: string[];
  claimedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  /** The steps of the current (or last) attempt. */
  steps: StepView[];
  /** The steps of earlier attempts, oldest first. */
  earlierAttempts: StepView[][];
}

export interface RunDetail extends RunSummary {
  /** The pipeline as the run was planned from it. */
  definition: Pipeline;
  jobs: JobView[];
}

/** A trigger whose context the pipeline's own `when` conditions do not accept: no run is created. */
export class RunNotTriggered extends Invalid {
  constructor(readonly reason: string) {
    super('RUN_NOT_TRIGGERED', `the pipeline does not run for this trigger: ${reason}`, { reason });
  }
}

/** The dialect of a pipeline file by its name: `.rancher-pipeline.yml` (or `.yaml`) is Rancher's, any other Slipway's. */
export function dialectOfFile(file: string): PipelineDialect {
  return /\.rancher-pipeline\.ya?ml$/.test(basename(file)) ? 'rancher' : 'slipway';
}

/** Parses a definition of `dialect`; throws `PipelineDefinitionError` naming every problem's line and field. */
export function parseDefinition(
  source: string,
  dialect: PipelineDialect,
  options: { file?: string; name?: string } = {},
): ParsedPipeline {
  return dialect === 'rancher'
    ? parseRancherPipeline(source, options)
    : parseSlipwayPipeline(source, options);
}

/**
 * Pipelines and their runs. `startRun` is the one way a run comes to exist, whatever started it (a person,
 * a webhook, a schedule, an image push, another run's end, a re-run); the scheduler then moves its jobs.
 * Authorization is the faces' business: this service trusts its caller.
 */
/** Who may read a namespace's pipelines and runs (the identity context's `Policy` answers it). */
export interface NamespaceAccess {
  canReadNamespace(subject: Subject, namespace: string): Promise<boolean>;
}

export class RunsService {
  private readonly progress: RunProgress;

  constructor(
    private readonly store: RunsStore,
    private readonly events: EventBus,
    private readonly clock: Clock,
    /** Without it, `canReadStep` answers false for every existing step. */
    private readonly access?: NamespaceAccess,
    /** Resolves the commit of runs that take their source from the pipeline; without it they get none. */
    private readonly resolveSource?: SourceResolver,
  ) {
    this.progress = new RunProgress(store, clock, (event) => events.emit(event));
  }

  // -------------------------------------------------------------------------------------------------------
  // Pipelines

  async createPipeline(input: PipelineInput): Promise<SavedPipeline> {
    const dialect = input.dialect ?? 'slipway';
    const parsed = parseDefinition(input.source, dialect, { name: input.name });
    const name = input.name ?? parsed.pipeline.name;
    checkPipelineFields(input.namespace, name, input.policy, input.concurrency);
    if (await this.store.findPipelineByName(input.namespace, name)) {
      throw new Conflict('PIPELINE_EXISTS', `pipeline ${input.namespace}/${name} already exists`);
    }
    const now = this.clock.now();
    const id = newId();
    await this.store.insertPipeline({
      id,
      namespace: input.namespace,
      name,
      dialect,
      source: input.source,
      model: JSON.stringify(parsed.pipeline),
      policy: input.policy ?? 'parallel',
      concurrency: input.concurrency ?? 0,
      run_seq: 0,
      claim_seq: 0,
      created_by: input.actor ?? null,
      ...repositoryColumns(input.repository),
      created_at: now,
      updated_at: now,
    });
    return { ...(await this.getPipeline(id)), warnings: parsed.warnings };
  }

  /** Replaces the definition and/or settings; runs already created keep the pipeline they were planned from. */
  async updatePipeline(
    id: string,
    changes: {
      source?: string;
      dialect?: PipelineDialect;
      policy?: RunPolicy;
      concurrency?: number;
      /** `null` removes it. */
      repository?: PipelineRepository | null;
    },
  ): Promise<SavedPipeline> {
    const row = await this.pipelineRow(id);
    const dialect = changes.dialect ?? row.dialect;
    const source = changes.source ?? row.source;
    const parsed = parseDefinition(source, dialect, { name: row.name });
    checkPipelineFields(row.namespace, row.name, changes.policy, changes.concurrency);
    await this.store.updatePipeline(id, {
      dialect,
      source,
      model: JSON.stringify(parsed.pipeline),
      ...(changes.policy !== undefined ? { policy: changes.policy } : {}),
      ...(changes.concurrency !== undefined ? { concurrency: changes.concurrency } : {}),
      ...(changes.repository !== undefined ? repositoryColumns(changes.repository ?? undefined) : {}),
      updated_at: this.clock.now(),
    });
    return { ...(await this.getPipeline(id)), warnings: parsed.warnings };
  }

  /** Deletes the pipeline and its finished runs; refused while a run of it is unfinished. */
  async deletePipeline(id: string): Promise<void> {
    await this.pipelineRow(id);
    if ((await this.store.countUnfinishedRuns(id)) > 0) {
      throw new Conflict('PIPELINE_BUSY', 'the pipeline has unfinished runs: cancel them first');
    }
    await this.store.deletePipeline(id);
  }

  async getPipeline(id: string): Promise<PipelineView> {
    return pipelineView(await this.pipelineRow(id));
  }

  async findPipelineByName(namespace: string, name: string): Promise<PipelineView | undefined> {
    const row = await this.store.findPipelineByName(namespace, name);
    return row ? pipelineView(row) : undefined;
  }

  async listPipelines(namespace: string): Promise<PipelineView[]> {
    return (await this.store.listPipelines(namespace)).map(pipelineView);
  }

  // -------------------------------------------------------------------------------------------------------
  // Runs

  /**
   * Creates a run of the pipeline for `trigger`: its jobs as `plan` decides (to run, waiting; or skipped with
   * the reason), with their steps. Throws `RunNotTriggered` (an `Invalid`) when the pipeline's own `when`
   * rejects the trigger, `NotFound` for an unknown pipeline. Under the `serial-latest-only` policy, runs of
   * the pipeline still waiting for their turn are cancelled, superseded by this one.
   */
  async startRun(pipelineId: string, request: RunTrigger): Promise<RunDetail> {
    checkTrigger(request);
    const pipeline = await this.pipelineRow(pipelineId);
    const trigger = await this.sourcedTrigger(pipeline, request);
    let model = trigger.definition ?? (JSON.parse(pipeline.model) as Pipeline);
    if (trigger.rerunOf !== undefined) {
      const earlier = await this.store.findRun(trigger.rerunOf);
      if (!earlier || earlier.pipeline_id !== pipelineId) {
        throw new NotFound('RUN_NOT_FOUND', `run ${trigger.rerunOf} of this pipeline not found`);
      }
      model = JSON.parse(earlier.model) as Pipeline;
    }
    const planned = plan(model, trigger.context);
    if (!planned.triggered) throw new RunNotTriggered(planned.reason ?? 'its conditions do not hold');

    const now = this.clock.now();
    const runId = newId();
    const jobs: JobRow[] = [];
    const steps: Parameters<RunsStore['insertRun']>[2] = [];
    planned.jobs.forEach((pj, ordinal) => {
      const id = newId();
      const skipped = pj.status === 'skip';
      const state = skipped ? next('waiting', 'skip') : 'waiting';
      jobs.push({
        id,
        run_id: runId,
        pipeline_id: pipelineId,
        ordinal,
        stage_index: pj.stageIndex,
        stage: pj.stage,
        name: pj.job.name,
        state,
        waits_for: JSON.stringify(pj.status === 'run' ? pj.waitsFor : []),
        withhold_secrets: pj.status === 'run' && pj.withholdSecrets ? 1 : 0,
        attempt: 1,
        max_attempts: 1 + pj.job.retries,
        reason: pj.status === 'skip' ? pj.reason.message : null,
        lease_owner: null,
        lease_expires_at: null,
        created_at: now,
        claimed_at: null,
        started_at: null,
        finished_at: skipped ? now : null,
      });
      for (const step of stepRowsFor(pj.job, id, runId, 1)) {
        steps.push(
          skipped
            ? {
                ...step,
                state: next('waiting', 'skip') as StepState,
                reason: 'the job was skipped',
                finished_at: now,
              }
            : step,
        );
      }
    });
    const state = deriveRunState(jobs.map((j) => j.state));

    const emitted: DomainEvent[] = [];
    const run = await this.store.transaction(async (tx) => {
      const number = await tx.nextRunNumber(pipelineId);
      if (number === undefined) throw new NotFound('PIPELINE_NOT_FOUND', `pipeline ${pipelineId} not found`);
      const row: RunRow = {
        id: runId,
        pipeline_id: pipelineId,
        number,
        state,
        trigger_kind: trigger.kind,
        trigger_context: JSON.stringify(trigger.context),
        actor: trigger.actor ?? null,
        rerun_of: trigger.rerunOf ?? null,
        model: JSON.stringify(model),
        // A parallel pipeline's runs need no turn; the others get theirs from the scheduler.
        admitted_at: pipeline.policy === 'parallel' ? now : null,
        cancel_requested_at: null,
        reason: null,
        created_at: now,
        started_at: null,
        finished_at: isTerminal(state) ? now : null,
      };
      await tx.insertRun(row, jobs, steps);
      if (pipeline.policy === 'serial-latest-only') {
        const progress = new RunProgress(tx, this.clock, (event) => emitted.push(event));
        for (const older of await tx.waitingRunsBefore(pipelineId, number)) {
          const reason = `superseded by run #${number}`;
          if (!(await tx.requestCancel(older.id, now, reason))) continue;
          await progress.endPendingJobs(older.id, reason);
          await progress.settleRun(older.id);
        }
      }
      return row;
    });
    await this.progress.announce('run.created', run, run.actor, pipeline);
    for (const event of emitted) this.events.emit(event);
    if (isTerminal(run.state)) await this.progress.announce('run.finished', run, run.actor, pipeline);
    return this.runDetail(await this.runRow(runId), pipeline);
  }

  /**
   * Cancels the run: its jobs that have not started end cancelled at once; the scheduler running its other
   * jobs aborts their steps (`run.cancel_requested`), which then end cancelled. A finished run is left as
   * it is. Returns the run as it is after the request.
   */
  async cancelRun(runId: string, actor?: string): Promise<RunDetail> {
    const run = await this.runRow(runId);
    if (isTerminal(run.state)) return this.getRun(runId);
    const reason = actor ? `cancelled by ${actor}` : 'cancelled';
    const first = await this.store.requestCancel(runId, this.clock.now(), reason);
    await this.progress.endPendingJobs(runId, first ? reason : (run.reason ?? reason));
    const settled = await this.progress.settleRun(runId);
    if (first && settled) await this.progress.announce('run.cancel_requested', settled, actor ?? null);
    return this.getRun(runId);
  }

  /** Starts a new run with the same trigger context and the same pipeline as the given run. */
  async rerun(runId: string, actor?: string): Promise<RunDetail> {
    const run = await this.runRow(runId);
    return this.startRun(run.pipeline_id, {
      kind: 'manual',
      context: JSON.parse(run.trigger_context) as TriggerContext,
      actor,
      rerunOf: run.id,
    });
  }

  async getRun(runId: string): Promise<RunDetail> {
    const run = await this.runRow(runId);
    return this.runDetail(run, await this.pipelineRow(run.pipeline_id));
  }

  async getRunByNumber(pipelineId: string, number: number): Promise<RunDetail> {
    const [run] = await this.store.listRuns(pipelineId, { limit: 1, beforeNumber: number + 1 });
    if (!run || run.number !== number) {
      throw new NotFound('RUN_NOT_FOUND', `run #${number} of pipeline ${pipelineId} not found`);
    }
    return this.runDetail(run, await this.pipelineRow(pipelineId));
  }

  /** The pipeline's runs, newest first, `limit` (default 50, at most 500) at a time before `beforeNumber`. */
  async listRuns(
    pipelineId: string,
    options: { limit?: number; beforeNumber?: number } = {},
  ): Promise<RunSummary[]> {
    const pipeline = await this.pipelineRow(pipelineId);
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const rows = await this.store.listRuns(pipelineId, { limit, beforeNumber: options.beforeNumber });
    return rows.map((run) => runSummary(run, pipeline));
  }

  /**
   * May `subject` read the step (its log): whoever may read the namespace of the step's pipeline (step → run →
   * pipeline → namespace). Throws NotFound for an unknown step.
   */
  async canReadStep(stepId: string, subject: Subject): Promise<boolean> {
    const step = await this.store.findStep(stepId);
    if (!step) throw new NotFound('STEP_NOT_FOUND', `step ${stepId} not found`);
    const run = await this.runRow(step.run_id);
    const pipeline = await this.pipelineRow(run.pipeline_id);
    return this.access ? this.access.canReadNamespace(subject, pipeline.namespace) : false;
  }

  /**
   * A trigger that names no repository runs the pipeline's own: its URL, the branch asked for (default: the
   * pipeline's, then the remote's default) at the commit it points at now, and the pipeline's git credential
   * on its checkout steps. The credential goes only to the pipeline's own repository.
   */
  private async sourcedTrigger(pipeline: PipelineRow, trigger: RunTrigger): Promise<RunTrigger> {
    const url = pipeline.repo_url;
    const { context } = trigger;
    if (!url || (context.repoUrl !== '' && context.repoUrl !== url)) return trigger;
    const sourced: TriggerContext = { ...context, repoUrl: url };
    if (sourced.commit === '' && this.resolveSource) {
      const branch =
        sourced.tag === undefined ? (sourced.branch ?? pipeline.repo_branch ?? undefined) : undefined;
      const resolved = await this.resolveSource({
        namespace: pipeline.namespace,
        url,
        ...(branch !== undefined ? { branch } : {}),
        ...(sourced.tag !== undefined ? { tag: sourced.tag } : {}),
        ...(pipeline.repo_credentials ? { credentials: pipeline.repo_credentials } : {}),
      }).catch((error: unknown) => {
        if (error instanceof NotFound) throw new Invalid(error.code, error.message, { field: 'branch' });
        throw error;
      });
      sourced.commit = resolved.commit;
      if (sourced.tag === undefined && resolved.branch !== undefined) sourced.branch = resolved.branch;
    }
    const credentials = pipeline.repo_credentials;
    const base = trigger.definition ?? (JSON.parse(pipeline.model) as Pipeline);
    return {
      ...trigger,
      context: sourced,
      ...(credentials ? { definition: withCheckoutCredentials(base, credentials) } : {}),
    };
  }

  private async pipelineRow(id: string): Promise<PipelineRow> {
    const row = await this.store.findPipeline(id);
    if (!row) throw new NotFound('PIPELINE_NOT_FOUND', `pipeline ${id} not found`);
    return row;
  }

  private async runRow(id: string): Promise<RunRow> {
    const row = await this.store.findRun(id);
    if (!row) throw new NotFound('RUN_NOT_FOUND', `run ${id} not found`);
    return row;
  }

  private async runDetail(run: RunRow, pipeline: PipelineRow): Promise<RunDetail> {
    const [jobs, steps] = await Promise.all([this.store.jobsOfRun(run.id), this.store.stepsOfRun(run.id)]);
    return {
      ...runSummary(run, pipeline),
      definition: JSON.parse(run.model) as Pipeline,
      jobs: jobs.map((job) => jobView(job, steps)),
    };
  }
}

function next(state: JobState, event: 'skip'): JobState {
  const to = transition(state, event);
  if (to instanceof TransitionRefused) throw to;
  return to;
}

function checkPipelineFields(namespace: string, name: string, policy?: string, concurrency?: number): void {
  if (namespace.trim() === '') throw new Invalid('PIPELINE_INVALID', 'a pipeline needs a namespace');
  if (name.trim() === '' || name.length > 100) {
    throw new Invalid('PIPELINE_INVALID', 'a pipeline name must be 1 to 100 characters');
  }
  if (policy !== undefined && !(RUN_POLICIES as readonly string[]).includes(policy)) {
    throw new Invalid(
      'PIPELINE_INVALID',
      `unknown run policy "${policy}" (expected ${RUN_POLICIES.join(', ')})`,
    );
  }
  if (
    concurrency !== undefined &&
    (!Number.isInteger(concurrency) || concurrency < 0 || concurrency > 1000)
  ) {
    throw new Invalid('PIPELINE_INVALID', 'concurrency must be an integer from 0 (no limit) to 1000');
  }
}

function checkTrigger(trigger: RunTrigger): void {
  if (!(TRIGGER_KINDS as readonly string[]).includes(trigger.kind)) {
    throw new Invalid('TRIGGER_INVALID', `unknown trigger kind "${trigger.kind}"`);
  }
  const context = trigger.context as Partial<TriggerContext> | undefined;
  if (!context || !(TRIGGER_EVENTS as readonly string[]).includes(context.event ?? '')) {
    throw new Invalid('TRIGGER_INVALID', `unknown trigger event "${context?.event}"`);
  }
  if (typeof context.commit !== 'string' || typeof context.repoUrl !== 'string') {
    throw new Invalid(
      'TRIGGER_INVALID',
      'a trigger context needs a commit and a repoUrl (empty when unknown)',
    );
  }
  for (const key of ['branch', 'tag', 'ref'] as const) {
    if (context[key] !== undefined && typeof context[key] !== 'string') {
      throw new Invalid('TRIGGER_INVALID', `trigger context ${key} must be a string`);
    }
  }
  if (
    context.changedFiles !== undefined &&
    (!Array.isArray(context.changedFiles) || context.changedFiles.some((f) => typeof f !== 'string'))
  ) {
    throw new Invalid('TRIGGER_INVALID', 'trigger context changedFiles must be a list of paths');
  }
}

function pipelineView(row: PipelineRow): PipelineView {
  return {
    id: row.id,
    namespace: row.namespace,
    name: row.name,
    dialect: row.dialect,
    source: row.source,
    pipeline: JSON.parse(row.model) as Pipeline,
    policy: row.policy,
    concurrency: row.concurrency,
    lastRunNumber: row.run_seq,
    ...(row.repo_url
      ? {
          repository: {
            url: row.repo_url,
            ...(row.repo_branch ? { branch: row.repo_branch } : {}),
            ...(row.repo_credentials ? { credentials: row.repo_credentials } : {}),
          },
        }
      : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function runSummary(run: RunRow, pipeline: PipelineRow): RunSummary {
  return {
    id: run.id,
    pipelineId: run.pipeline_id,
    namespace: pipeline.namespace,
    pipeline: pipeline.name,
    number: run.number,
    state: run.state,
    trigger: {
      kind: run.trigger_kind,
      context: JSON.parse(run.trigger_context) as TriggerContext,
      ...(run.actor ? { actor: run.actor } : {}),
    },
    ...(run.rerun_of ? { rerunOf: run.rerun_of } : {}),
    ...(run.reason ? { reason: run.reason } : {}),
    cancelRequested: run.cancel_requested_at !== null,
    createdAt: run.created_at,
    ...(run.started_at !== null ? { startedAt: run.started_at } : {}),
    ...(run.finished_at !== null ? { finishedAt: run.finished_at } : {}),
  };
}

function jobView(job: JobRow, steps: StepRow[]): JobView {
  const own = steps.filter((s) => s.job_id === job.id);
  const earlier: StepView[][] = [];
  for (let attempt = 1; attempt < job.attempt; attempt++) {
    earlier.push(own.filter((s) => s.attempt === attempt).map(stepView));
  }
  return {
    id: job.id,
    name: job.name,
    stage: job.stage,
    stageIndex: job.stage_index,
    state: job.state,
    ...(job.reason ? { reason: job.reason } : {}),
    attempt: job.attempt,
    maxAttempts: job.max_attempts,
    waitsFor: JSON.parse(job.waits_for) as string[],
    ...(job.claimed_at !== null ? { claimedAt: job.claimed_at } : {}),
    ...(job.started_at !== null ? { startedAt: job.started_at } : {}),
    ...(job.finished_at !== null ? { finishedAt: job.finished_at } : {}),
    steps: own.filter((s) => s.attempt === job.attempt).map(stepView),
    earlierAttempts: earlier,
  };
}

function stepView(step: StepRow): StepView {
  return {
    id: step.id,
    index: step.ordinal,
    name: step.name,
    kind: step.kind as StepKind,
    attempt: step.attempt,
    state: step.state,
    ...(step.exit_code !== null ? { exitCode: step.exit_code } : {}),
    ...(step.reason ? { reason: step.reason } : {}),
    ...(step.started_at !== null ? { startedAt: step.started_at } : {}),
    ...(step.finished_at !== null ? { finishedAt: step.finished_at } : {}),
  };
}

function repositoryColumns(repository: PipelineRepository | undefined) {
  if (repository && (repository.url === '' || repository.url.startsWith('-'))) {
    throw new Invalid('PIPELINE_INVALID', 'repository.url: not a repository URL', {
      field: 'repository.url',
    });
  }
  return {
    repo_url: repository?.url ?? null,
    repo_branch: repository?.branch ?? null,
    repo_credentials: repository?.credentials ?? null,
  };
}
