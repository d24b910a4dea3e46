import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  deriveRunState,
  EVENTS,
  isTerminal,
  outcomeEvent,
  STATES,
  TERMINAL_STATES,
  transition,
  TransitionRefused,
  type JobState,
  type State,
  type StateEvent,
  type StepOutcome,
} from './states.js';

// Every (state, event) pair: the state it leads to, or `-` when it is refused.
const TABLE = `
            enqueue  claim    release  start    succeed  fail     error    cancel     timeout    skip     retry    lease_lost
waiting     queued   -        -        running  -        -        error    cancelled  -          skipped  -        -
queued      -        claimed  -        -        -        -        error    cancelled  -          -        -        -
claimed     -        -        queued   running  -        -        error    cancelled  timed_out  -        -        error
running     -        -        -        -        success  failed   error    cancelled  timed_out  -        -        error
success     -        -        -        -        -        -        -        -          -          -        -        -
failed      -        -        -        -        -        -        -        -          -          -        queued   -
error       -        -        -        -        -        -        -        -          -          -        queued   -
cancelled   -        -        -        -        -        -        -        -          -          -        -        -
skipped     -        -        -        -        -        -        -        -          -          -        -        -
timed_out   -        -        -        -        -        -        -        -          -          -        queued   -
`;

function parseTable(): Map<State, Map<StateEvent, State | undefined>> {
  const [header, ...rows] = TABLE.trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/));
  assert.deepEqual(header, [...EVENTS], 'the table has one column per event, in EVENTS order');
  const table = new Map<State, Map<StateEvent, State | undefined>>();
  for (const [state, ...cells] of rows) {
    assert.equal(cells.length, EVENTS.length, `row ${state} has a cell per event`);
    table.set(
      state as State,
      new Map(EVENTS.map((event, i) => [event, cells[i] === '-' ? undefined : (cells[i] as State)])),
    );
  }
  assert.deepEqual([...table.keys()], [...STATES], 'the table has one row per state, in STATES order');
  return table;
}

test('transition: every (state, event) pair is allowed or refused as the table says', () => {
  const table = parseTable();
  let pairs = 0;
  for (const state of STATES) {
    for (const event of EVENTS) {
      pairs++;
      const expected = table.get(state)?.get(event);
      const actual = transition(state, event);
      if (expected === undefined) {
        assert.ok(
          actual instanceof TransitionRefused,
          `${state} + ${event} is refused, got ${String(actual)}`,
        );
        assert.equal(actual.code, 'INVALID_TRANSITION');
        assert.equal(actual.kind, 'conflict');
        assert.equal(actual.state, state);
        assert.equal(actual.event, event);
        assert.deepEqual(actual.detail, { state, event });
      } else {
        assert.equal(actual, expected, `${state} + ${event}`);
      }
    }
  }
  assert.equal(pairs, STATES.length * EVENTS.length);
});

test('transition: a refusal is returned with a readable message, never thrown', () => {
  const refused = transition('success', 'lease_lost');
  assert.ok(refused instanceof TransitionRefused);
  assert.equal(refused.message, 'event lease_lost is not allowed in state success');
  assert.equal(transition('timed_out', 'timeout') instanceof TransitionRefused, true);
});

test('transition: finished states accept nothing but retry, every unfinished one can be cancelled', () => {
  for (const state of STATES) {
    if (isTerminal(state)) {
      for (const event of EVENTS.filter((e) => e !== 'retry')) {
        assert.ok(transition(state, event) instanceof TransitionRefused, `${state} + ${event}`);
      }
    } else {
      assert.equal(transition(state, 'cancel'), 'cancelled');
      assert.equal(transition(state, 'error'), 'error');
    }
  }
  assert.deepEqual(
    STATES.filter((s) => isTerminal(s)),
    [...TERMINAL_STATES],
  );
});

test('outcomeEvent: applying the event for an outcome to a running step gives that outcome', () => {
  const outcomes: StepOutcome[] = ['success', 'failed', 'error', 'cancelled', 'timed_out'];
  for (const outcome of outcomes) assert.equal(transition('running', outcomeEvent(outcome)), outcome);
});

test('a job walks waiting → queued → claimed → running → failed → (retry) queued → … → success', () => {
  const events: StateEvent[] = ['enqueue', 'claim', 'start', 'fail', 'retry', 'claim', 'start', 'succeed'];
  const walked: State[] = [];
  let state: State = 'waiting';
  for (const event of events) {
    const next = transition(state, event);
    assert.ok(!(next instanceof TransitionRefused), `${state} + ${event}`);
    state = next;
    walked.push(state);
  }
  assert.deepEqual(walked, [
    'queued',
    'claimed',
    'running',
    'failed',
    'queued',
    'claimed',
    'running',
    'success',
  ]);
});

test('deriveRunState: a run is what its jobs are', () => {
  const cases: Array<[jobs: JobState[], run: string]> = [
    [[], 'skipped'],
    [['waiting'], 'waiting'],
    [['waiting', 'waiting'], 'waiting'],
    [['waiting', 'queued'], 'queued'],
    [['queued', 'queued'], 'queued'],
    [['queued', 'claimed'], 'running'],
    [['waiting', 'running'], 'running'],
    // between stages: some jobs finished, the next ones not yet enqueued
    [['success', 'waiting'], 'running'],
    [['failed', 'queued'], 'running'],
    [['success', 'success'], 'success'],
    [['success', 'skipped'], 'success'],
    [['skipped', 'skipped'], 'skipped'],
    [['success', 'cancelled', 'cancelled'], 'cancelled'],
    [['failed', 'skipped'], 'failed'],
    [['failed', 'cancelled'], 'failed'],
    [['timed_out', 'cancelled', 'success'], 'timed_out'],
    [['failed', 'timed_out'], 'failed'],
    [['error', 'failed', 'timed_out', 'cancelled', 'success', 'skipped'], 'error'],
  ];
  for (const [jobs, run] of cases) assert.equal(deriveRunState(jobs), run, JSON.stringify(jobs));
});

test('deriveRunState: a run is finished exactly when all its jobs are, and never claimed', () => {
  for (const a of STATES) {
    for (const b of STATES) {
      const run = deriveRunState([a, b]);
      assert.notEqual(run, 'claimed');
      assert.equal(isTerminal(run), isTerminal(a) && isTerminal(b), `${a}, ${b} → ${run}`);
    }
  }
});
