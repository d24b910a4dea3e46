import type { Selectable } from 'kysely';
import type { PipelineDialect } from './model.js';
import type { JobState, RunState, StepState } from './states.js';

/**
 * How the runs of one pipeline may overlap:
 * - `parallel`: every run starts as soon as it is created;
 * - `serial`: one run at a time, in the order they were created;
 * - `serial-latest-only`: one run at a time, and a new run cancels the runs still waiting for their turn, so
 *   only the latest of them runs.
 */
export const RUN_POLICIES = ['parallel', 'serial', 'serial-latest-only'] as const;
export type RunPolicy = (typeof RUN_POLICIES)[number];

/** What started a run; every kind enters through `RunsService.startRun`. */
export const TRIGGER_KINDS = ['manual', 'webhook', 'cron', 'image', 'pipeline'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Timestamps are epoch milliseconds; JSON columns hold the shapes named in their comments. */
export interface RunsTables {
  pipelines: {
    id: string;
    namespace: string;
    name: string;
    dialect: PipelineDialect;
    /** The definition as written (YAML text). */
    source: string;
    /** JSON: the parsed `Pipeline` model. */
    model: string;
    policy: RunPolicy;
    /** Most jobs of this pipeline (all its runs) claimed or running at once; 0 = no limit. */
    concurrency: number;
    /** The number of its latest run: incremented to number a new run. */
    run_seq: number;
    /** Bumped by every claim of one of its jobs when `concurrency` > 0: the row lock serializes those claims. */
    claim_seq: number;
    /** Who created it (a user name, migration `0062_pipeline_owner`): runs nobody started act for them. */
    created_by: string | null;
    /**
     * Its source repository (migration `0064_pipeline_repository`): runs whose trigger names none (manual
     * without a URL, cron, image push, another run's end) check out `repo_branch` (default: the remote's
     * default branch) of it, at the commit it points at then, with the namespace's git credential
     * `repo_credentials`.
     */
    repo_url: string | null;
    repo_branch: string | null;
    repo_credentials: string | null;
    created_at: number;
    updated_at: number;
  };
  runs: {
    id: string;
    pipeline_id: string;
    number: number;
    /** Always `deriveRunState` of its jobs' states; kept here for listing and filtering. */
    state: RunState;
    trigger_kind: TriggerKind;
    /** JSON: the `TriggerContext`. */
    trigger_context: string;
    actor: string | null;
    /** The run this one re-runs. */
    rerun_of: string | null;
    /** JSON: the `Pipeline` the run was planned from, as it was then. */
    model: string;
    /** When the run policy let its jobs go; null while it waits for an earlier run. */
    admitted_at: number | null;
    cancel_requested_at: number | null;
    /** Why it ended as it did, when a job's reason does not say it (cancelled by whom, superseded by which run). */
    reason: string | null;
    created_at: number;
    /** When its first job was claimed: the start of its time limit. */
    started_at: number | null;
    finished_at: number | null;
  };
  run_jobs: {
    id: string;
    run_id: string;
    /** Copied from the run: the per-pipeline concurrency limit counts by it. */
    pipeline_id: string;
    /** Position in the plan (stage by stage, `needs` order): a job only waits for jobs with a lower one. */
    ordinal: number;
    stage_index: number;
    stage: string;
    name: string;
    state: JobState;
    /** JSON: names of the jobs of the run that must succeed first. */
    waits_for: string;
    withhold_secrets: number;
    /** 1 for the first attempt. */
    attempt: number;
    /** 1 + the job's retries. */
    max_attempts: number;
    /** Why it was skipped, ended badly or was retried, in words. */
    reason: string | null;
    lease_owner: string | null;
    lease_expires_at: number | null;
    created_at: number;
    /** Of the current attempt. */
    claimed_at: number | null;
    started_at: number | null;
    finished_at: number | null;
  };
  run_steps: {
    id: string;
    job_id: string;
    run_id: string;
    /** The job attempt this row belongs to; each attempt has its own steps (and logs). */
    attempt: number;
    /** Index in the job's steps. */
    ordinal: number;
    name: string;
    kind: string;
    state: StepState;
    exit_code: number | null;
    reason: string | null;
    started_at: number | null;
    finished_at: number | null;
  };
}

export type PipelineRow = Selectable<RunsTables['pipelines']>;
export type RunRow = Selectable<RunsTables['runs']>;
export type JobRow = Selectable<RunsTables['run_jobs']>;
export type StepRow = Selectable<RunsTables['run_steps']>;
