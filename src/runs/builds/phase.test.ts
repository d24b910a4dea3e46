import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StepKind } from '../model.js';
import type { JobState, RunState, StepState } from '../states.js';
import { buildPhase, isCancellable, type BuildProgress } from './phase.js';
import type { BuildPhase } from './types.js';

const KINDS: StepKind[] = ['fetch-archive', 'build-image', 'push-image'];
/** A running job whose steps are in these states (fetch, build, push). */
const running = (...states: StepState[]): BuildProgress['job'] => ({
  state: 'running',
  steps: states.map((state, i) => ({ kind: KINDS[i]!, state })),
});
const job = (state: JobState): BuildProgress['job'] => ({
  state,
  steps: KINDS.map((kind) => ({ kind, state: 'waiting' as StepState })),
});

test('buildPhase: every run, job and step state maps to one Quay phase', () => {
  const table: [RunState, BuildProgress['job'], BuildPhase][] = [
    ['waiting', undefined, 'waiting'],
    ['waiting', job('waiting'), 'waiting'],
    ['queued', job('queued'), 'waiting'],
    ['running', job('claimed'), 'build-scheduled'],
    ['running', running('waiting', 'waiting', 'waiting'), 'build-scheduled'],
    ['running', running('running', 'waiting', 'waiting'), 'unpacking'],
    ['running', running('success', 'waiting', 'waiting'), 'building'],
    ['running', running('success', 'running', 'waiting'), 'building'],
    ['running', running('success', 'success', 'waiting'), 'pushing'],
    ['running', running('success', 'success', 'running'), 'pushing'],
    ['running', { state: 'running', steps: [{ kind: 'checkout', state: 'running' }] }, 'unpacking'],
    // The job ended but the run's state is not written yet: the job says it.
    ['running', job('success'), 'complete'],
    ['running', job('failed'), 'error'],
    ['running', job('cancelled'), 'cancelled'],
    ['success', job('success'), 'complete'],
    ['failed', job('failed'), 'error'],
    ['error', job('error'), 'error'],
    ['timed_out', job('timed_out'), 'error'],
    ['cancelled', job('cancelled'), 'cancelled'],
    ['skipped', job('skipped'), 'cancelled'],
  ];
  for (const [run, progressJob, phase] of table) {
    assert.equal(
      buildPhase({ run, ...(progressJob ? { job: progressJob } : {}) }),
      phase,
      JSON.stringify({ run, progressJob }),
    );
  }
});

test('isCancellable: only before pushing', () => {
  const yes: BuildPhase[] = ['waiting', 'build-scheduled', 'unpacking', 'pulling', 'building'];
  const no: BuildPhase[] = ['pushing', 'complete', 'error', 'cancelled'];
  for (const phase of yes) assert.equal(isCancellable(phase), true, phase);
  for (const phase of no) assert.equal(isCancellable(phase), false, phase);
});
