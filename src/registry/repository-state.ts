import { Conflict } from '../platform/errors.js';
import type { RepositoryState } from '../identity/index.js';

/** Quay's RepositoryState numbers, which its read-only message prints (an IntEnum formatted by Python 3.12). */
const stateNumbers: Record<RepositoryState, number> = { NORMAL: 0, READ_ONLY: 1, MIRROR: 2 };

/**
 * Tags and labels change only in NORMAL repositories; READ_ONLY and MIRROR refuse
 * (Quay's `disallow_for_non_normal_repositories`: 503 with this message).
 */
export function requireNormalState(repository: { state: RepositoryState }): void {
  if (repository.state === 'NORMAL') return;
  const message = `Repository is in read only or mirror mode: ${stateNumbers[repository.state]}`;
  throw new Conflict('REPOSITORY_NOT_NORMAL', message, { payload: { message } });
}
