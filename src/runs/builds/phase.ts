import type { StepKind } from '../model.js';
import type { JobState, RunState, StepState } from '../states.js';
import type { BuildPhase } from './types.js';

/** What `buildPhase` looks at: the run's state and its one job's state and steps. */
export interface BuildProgress {
  run: RunState;
  /** Absent before the run's job exists (it always does once the run is created). */
  job?: { state: JobState; steps: readonly { kind: StepKind; state: StepState }[] };
}

/** The Quay phase of the work a step kind does. */
export function stepPhase(kind: StepKind): BuildPhase {
  switch (kind) {
    case 'fetch-archive':
    case 'checkout':
      return 'unpacking';
    case 'push-image':
      return 'pushing';
    default:
      // buildah pulls the base image inside the build step; Quay's `pulling` is reported as `building`.
      return 'building';
  }
}

/**
 * The Quay phase of a build from the state of its run: the one place that decides it.
 * - run finished: success → complete; cancelled or skipped → cancelled; failed, error, timed out → error;
 * - job waiting or queued → waiting; claimed (a worker prepares it) → build-scheduled;
 * - job running: the phase of the running step; between two steps, the phase of the next one;
 *   before the first, build-scheduled.
 */
export function buildPhase(progress: BuildProgress): BuildPhase {
  switch (progress.run) {
    case 'success':
      return 'complete';
    case 'cancelled':
    case 'skipped':
      return 'cancelled';
    case 'failed':
    case 'error':
    case 'timed_out':
      return 'error';
    default:
      break;
  }
  const job = progress.job;
  if (!job) return 'waiting';
  switch (job.state) {
    case 'waiting':
    case 'queued':
      return 'waiting';
    case 'claimed':
      return 'build-scheduled';
    case 'running': {
      const running = job.steps.find((s) => s.state === 'running');
      if (running) return stepPhase(running.kind);
      const anyStarted = job.steps.some((s) => s.state !== 'waiting');
      const next = job.steps.find((s) => s.state === 'waiting');
      if (!anyStarted || !next) return 'build-scheduled';
      return stepPhase(next.kind);
    }
    case 'success':
      return 'complete';
    case 'cancelled':
    case 'skipped':
      return 'cancelled';
    default:
      return 'error';
  }
}

/** Quay lets a build be cancelled only before it pushes. */
export function isCancellable(phase: BuildPhase): boolean {
  return ['waiting', 'build-scheduled', 'unpacking', 'pulling', 'building'].includes(phase);
}
