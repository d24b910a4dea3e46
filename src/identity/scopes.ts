import { Invalid } from '../platform/errors.js';

/** Quay's OAuth scopes. A token's scopes cap what its user may do; they never add to it. */
export const allScopes = [
  'repo:read',
  'repo:write',
  'repo:admin',
  'repo:create',
  'user:read',
  'user:admin',
  'org:admin',
  'super:user',
] as const;
export type Scope = (typeof allScopes)[number];

const known = new Set<string>(allScopes);

/** Space- or comma-separated scope names; any unknown name makes the whole string invalid, as in Quay. */
export function parseScopes(value: string, field = 'scope'): Set<Scope> {
  const names = value.split(/[\s,]+/).filter(Boolean);
  const unknown = names.filter((n) => !known.has(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new Invalid('INVALID_SCOPE', `invalid scope: ${unknown.join(' ') || '(empty)'}`, { field });
  }
  return new Set(names as Scope[]);
}

export const formatScopes = (scopes: Iterable<Scope>): string => [...scopes].join(' ');
