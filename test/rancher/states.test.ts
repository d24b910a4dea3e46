import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rancherState } from '../../src/api/rancher/states.js';
import { STATES, type State } from '../../src/runs/states.js';

test('every Slipway state has its Rancher state', () => {
  const expected: Record<State, string> = {
    waiting: 'Waiting',
    queued: 'Pending',
    claimed: 'Pending',
    running: 'Building',
    success: 'Success',
    failed: 'Fail',
    error: 'Fail',
    timed_out: 'Fail',
    cancelled: 'Abort',
    skipped: 'Skipped',
  };
  assert.deepEqual(Object.keys(expected).sort(), [...STATES].sort(), 'the table covers every state');
  for (const state of STATES) assert.equal(rancherState(state), expected[state], state);
});
