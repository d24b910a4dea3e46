import type { Subject } from '../identity/index.js';

/**
 * What the registry asks before it answers that a manifest or a blob is unknown, and before it
 * serves a tag: an organization's proxy cache. It may fetch what is missing (or a cached tag due
 * for a refresh) from its upstream and store it through the registry services; the registry then
 * reads its own store again. It answers whether it stored or changed something, and never throws
 * for a miss or an unreachable upstream.
 */
export interface PullThrough {
  /**
   * `cached`: the digest the registry has for the reference now, if any;
   * `subject`: who pulls (a repository created for them gives them read, as in Quay).
   */
  manifest(
    repository: string,
    reference: string,
    cached: string | undefined,
    subject: Subject,
  ): Promise<boolean>;
  blob(repository: string, digest: string): Promise<boolean>;
}
