import type { EventBus, EventOf } from '../../platform/events.js';
import type { RunCredentialsStore } from './credentials.store.js';

/** The three kinds of stored run credentials, as their events name them. */
export type CredentialKind = EventOf<'run_credential.put'>['credential'];

const TABLES = {
  secret: 'run_secrets',
  git: 'source_credentials',
  registry: 'registry_credentials',
} as const satisfies Record<CredentialKind, string>;

/** Announces that `name` was created or replaced: its name only, never a value. */
export function announcePut(
  events: EventBus,
  credential: CredentialKind,
  namespace: string,
  name: string,
  actor: string | undefined,
): void {
  events.emit({ type: 'run_credential.put', namespace, credential, name, ...(actor ? { actor } : {}) });
}

/** Deletes `name` and announces it; false (and nothing announced) when there was no such credential. */
export async function removeCredential(
  store: RunCredentialsStore,
  events: EventBus,
  credential: CredentialKind,
  namespace: string,
  name: string,
  actor: string | undefined,
): Promise<boolean> {
  if (!(await store.remove(TABLES[credential], namespace, name))) return false;
  events.emit({ type: 'run_credential.deleted', namespace, credential, name, ...(actor ? { actor } : {}) });
  return true;
}
