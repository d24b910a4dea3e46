import type { Scope } from './scopes.js';

/**
 * Who is asking: every policy question starts from one of these.
 * `scopes` is set when a user acts through an OAuth or app token, and caps what the user may do;
 * a password or session login has no cap.
 */
export type Subject =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: string; name: string; superuser: boolean; scopes?: ReadonlySet<Scope> }
  | { kind: 'robot'; id: string; name: string; namespace: string };

export const anonymous: Subject = { kind: 'anonymous' };

export const subjectName = (s: Subject): string => (s.kind === 'anonymous' ? '' : s.name);

/** The id permissions are recorded against: users and robots each have their own. */
export const delegateOf = (s: Subject): { kind: 'user' | 'robot'; id: string } | undefined =>
  s.kind === 'anonymous' ? undefined : { kind: s.kind, id: s.id };
