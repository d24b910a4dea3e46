import { Invalid } from '../platform/errors.js';
import { isDigest } from '../platform/blobs/digest.js';

// The distribution-spec regular expressions, checked before a name or tag reaches any query or key.
const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const namePattern = new RegExp(`^${component}(?:/${component})*$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const maxNameLength = 255;

export function validateRepositoryName(name: string): string {
  if (name.length > maxNameLength || !namePattern.test(name)) {
    throw new Invalid('NAME_INVALID', 'invalid repository name', { name });
  }
  return name;
}

/** The namespace (user or organization) that owns a repository: its first path component. */
export const namespaceOf = (name: string): string => name.split('/', 1)[0]!;

export const isTag = (reference: string): boolean => tagPattern.test(reference);

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/** A manifest reference: a digest (validated) or a tag (validated). */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    if (!isDigest(reference)) throw new Invalid('DIGEST_INVALID', 'invalid digest', { reference });
    return { kind: 'digest', digest: reference };
  }
  if (!isTag(reference))
    throw new Invalid('TAG_INVALID', 'manifest tag did not match the tag format', { reference });
  return { kind: 'tag', tag: reference };
}
