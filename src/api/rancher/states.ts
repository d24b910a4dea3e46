import type { State } from '../../runs/states.js';

/** The states of Rancher's pipeline histories, stages and steps (tech preview; Denied is never produced). */
export type RancherState =
  'Waiting' | 'Pending' | 'Building' | 'Success' | 'Fail' | 'Skipped' | 'Abort' | 'Denied';

const table: Readonly<Record<State, RancherState>> = {
  waiting: 'Waiting',
  queued: 'Pending',
  claimed: 'Pending',
  running: 'Building',
  success: 'Success',
  failed: 'Fail',
  // Rancher had one failure state: Slipway's own failures and timeouts are failures to its clients.
  error: 'Fail',
  timed_out: 'Fail',
  cancelled: 'Abort',
  skipped: 'Skipped',
};

/** The one mapping of Slipway's run, job and step states to Rancher's. */
export function rancherState(state: State): RancherState {
  return table[state];
}
