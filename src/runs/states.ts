/**
 * States of runs, jobs and steps, and every change between them.
 *
 * One vocabulary serves all three levels. A job moves through every state; a step is never
 * queued or claimed (it runs inside a claimed job); a run's state is not stored by transition
 * but derived from its jobs' states by `deriveRunState`, so a run can never disagree with them.
 *
 * | Slipway     | Rancher   | Quay phase                                    | Zuul result        |
 * |-------------|-----------|-----------------------------------------------|--------------------|
 * | `waiting`   | Waiting   | waiting                                       | null (in progress) |
 * | `queued`    | Queueing  | waiting                                       | null               |
 * | `claimed`   | Pending   | build-scheduled                               | null               |
 * | `running`   | Building  | unpacking/pulling/building/pushing, by step   | null               |
 * | `success`   | Success   | complete                                      | SUCCESS            |
 * | `failed`    | Failed    | error                                         | FAILURE            |
 * | `error`     | Failed    | internalerror (`expired` when out of retries) | ERROR (LOST after a lease was lost) |
 * | `cancelled` | Aborted   | cancelled                                     | ABORTED            |
 * | `skipped`   | Skipped   | cancelled                                     | SKIPPED            |
 * | `timed_out` | Failed    | error                                         | TIMED_OUT          |
 *
 * Quay's running sub-phase comes from the kind of step that is running, not from the state.
 * Rancher's Denied is never produced: Slipway refuses a run it may not start before the run
 * exists. Zuul's RETRY is the result a face shows for an attempt that was followed by `retry`.
 */
import { Conflict } from '../platform/errors.js';

export const STATES = [
  'waiting',
  'queued',
  'claimed',
  'running',
  'success',
  'failed',
  'error',
  'cancelled',
  'skipped',
  'timed_out',
] as const;

/**
 * - `waiting`: created, not yet allowed to run (its stage, its `needs` or the run policy hold it).
 * - `queued`: may run, waits for a worker and a concurrency slot.
 * - `claimed`: a worker holds its lease and is preparing it (workspace, image).
 * - `running`: its steps are executing.
 * - `success`, `failed` (the user's commands failed), `error` (Slipway or the executor failed,
 *   the result says nothing about the user's code), `cancelled`, `skipped` (a `when` condition
 *   or a failed need), `timed_out`: finished.
 */
export type State = (typeof STATES)[number];
export type JobState = State;
export type StepState = Exclude<State, 'queued' | 'claimed'>;
export type RunState = Exclude<State, 'claimed'>;

export const TERMINAL_STATES = ['success', 'failed', 'error', 'cancelled', 'skipped', 'timed_out'] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** How one execution of a step ended, as an executor reports it (every terminal state but skipped). */
export type StepOutcome = Exclude<TerminalState, 'skipped'>;

export const EVENTS = [
  'enqueue',
  'claim',
  'release',
  'start',
  'succeed',
  'fail',
  'error',
  'cancel',
  'timeout',
  'skip',
  'retry',
  'lease_lost',
] as const;

export type StateEvent = (typeof EVENTS)[number];

const ACTIVE = ['waiting', 'queued', 'claimed', 'running'] as const satisfies readonly State[];

/** Each event has one target and the states it may leave; any other (state, event) is refused. */
const RULES: Readonly<Record<StateEvent, { readonly from: readonly State[]; readonly to: State }>> = {
  // Its stage was reached, its needs succeeded and the run policy lets it go.
  enqueue: { from: ['waiting'], to: 'queued' },
  // A worker took its lease.
  claim: { from: ['queued'], to: 'claimed' },
  // A worker gives back a job it has not started (graceful shutdown): nothing ran, no attempt used.
  release: { from: ['claimed'], to: 'queued' },
  // A job starts once claimed; a step starts from waiting, inside its claimed job.
  start: { from: ['waiting', 'claimed'], to: 'running' },
  succeed: { from: ['running'], to: 'success' },
  fail: { from: ['running'], to: 'failed' },
  // An infrastructure failure can strike before anything ran (a missing secret, an image that
  // cannot be pulled), so it is allowed from every unfinished state.
  error: { from: ACTIVE, to: 'error' },
  cancel: { from: ACTIVE, to: 'cancelled' },
  // The clock of a job's timeout starts when it is claimed; a run's remaining waiting jobs are
  // cancelled or skipped instead.
  timeout: { from: ['claimed', 'running'], to: 'timed_out' },
  // Decided before anything of it ran: a false `when`, a failed need, an earlier step failed.
  skip: { from: ['waiting'], to: 'skipped' },
  // A new attempt of a job that ended badly; cancelled is a user's decision and is not retried.
  retry: { from: ['failed', 'error', 'timed_out'], to: 'queued' },
  // Its worker stopped renewing the lease (a server died mid-run): visibly an error, which the
  // scheduler may then retry.
  lease_lost: { from: ['claimed', 'running'], to: 'error' },
};

/** A (state, event) pair that is not a transition. A Conflict, so faces answer 409 if it escapes. */
export class TransitionRefused extends Conflict {
  constructor(
    readonly state: State,
    readonly event: StateEvent,
  ) {
    super('INVALID_TRANSITION', `event ${event} is not allowed in state ${state}`, { state, event });
  }
}

/** The state after `event`, or a TransitionRefused (returned, never thrown). */
export function transition(state: State, event: StateEvent): State | TransitionRefused {
  const rule = RULES[event];
  return rule.from.includes(state) ? rule.to : new TransitionRefused(state, event);
}

export function isTerminal(state: State): state is TerminalState {
  return (TERMINAL_STATES as readonly State[]).includes(state);
}

const OUTCOME_EVENTS: Readonly<Record<StepOutcome, StateEvent>> = {
  success: 'succeed',
  failed: 'fail',
  error: 'error',
  cancelled: 'cancel',
  timed_out: 'timeout',
};

/** The event that records an executor's outcome on a running step or job. */
export function outcomeEvent(outcome: StepOutcome): StateEvent {
  return OUTCOME_EVENTS[outcome];
}

/**
 * A finished run takes the most severe end among its jobs: an error first (the result cannot be
 * trusted; a retry may help), then a failure of the user's commands, a timeout, a cancel.
 * Success needs every job to have succeeded or been skipped; skipped needs every job skipped.
 */
const SEVERITY: readonly TerminalState[] = [
  'error',
  'failed',
  'timed_out',
  'cancelled',
  'success',
  'skipped',
];

/**
 * A run's state from its jobs' states. A run whose jobs are all finished is finished; one with a
 * job claimed or running, or with some jobs finished and others still to come, is running;
 * otherwise it is queued if a job is queued, else waiting. A run's jobs are created with the run,
 * so a run without jobs is one where no job matched its `when` conditions: skipped.
 */
export function deriveRunState(jobs: readonly JobState[]): RunState {
  if (jobs.length === 0) return 'skipped';
  if (jobs.every(isTerminal)) return SEVERITY.find((end) => jobs.includes(end)) ?? 'error';
  if (jobs.some((job) => job === 'claimed' || job === 'running' || isTerminal(job))) return 'running';
  return jobs.includes('queued') ? 'queued' : 'waiting';
}
