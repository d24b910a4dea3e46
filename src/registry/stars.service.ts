import type { Clock } from '../platform/clock.js';
import type { Policy, Subject } from '../identity/index.js';
import { toRepository, type Repository } from './repositories.service.js';
import type { StarsStore } from './stars.store.js';

/**
 * Stars: a user's bookmarks on repositories. The caller has already checked that the user may
 * read a repository before starring it; listing drops the ones the user can no longer read,
 * so a star never reveals a repository that was made private or whose grant was revoked.
 */
export class StarsService {
  constructor(
    private readonly store: StarsStore,
    private readonly policy: Policy,
    private readonly clock: Clock,
  ) {}

  /** Idempotent: starring twice keeps one star. */
  async star(user: Extract<Subject, { kind: 'user' }>, repository: Repository): Promise<void> {
    await this.store.insert(user.id, repository.id, this.clock.now());
  }

  /** Removes the user's star from a repository, by name; nothing happens when there is none. */
  async unstar(user: Extract<Subject, { kind: 'user' }>, repositoryName: string): Promise<void> {
    await this.store.delete(user.id, repositoryName);
  }

  /**
   * One page of the user's starred repositories that it may still read, oldest star first;
   * `nextOffset` (a position among all of the user's stars) when more may follow.
   */
  async list(
    user: Extract<Subject, { kind: 'user' }>,
    page: { offset: number; limit: number },
  ): Promise<{ repositories: Repository[]; nextOffset?: number }> {
    const repositories: Repository[] = [];
    let offset = page.offset;
    // Stars on repositories the user can no longer read are skipped, so read on until the page is full.
    for (;;) {
      const rows = await this.store.starredRepositories(user.id, { offset, limit: page.limit });
      for (const [index, row] of rows.entries()) {
        if (repositories.length === page.limit) return { repositories, nextOffset: offset + index };
        const role = await this.policy.repositoryRole(user, {
          namespace: row.namespace,
          id: row.id,
          visibility: row.visibility,
          state: row.state,
        });
        if (role) repositories.push(toRepository(row));
      }
      offset += rows.length;
      if (rows.length < page.limit) return { repositories };
      if (repositories.length === page.limit) {
        const more = await this.store.starredRepositories(user.id, { offset, limit: 1 });
        return more.length ? { repositories, nextOffset: offset } : { repositories };
      }
    }
  }

  /** Ids of every repository the user starred (for `is_starred` and `?starred=true` in repository lists). */
  async starredIds(userId: string): Promise<Set<string>> {
    return new Set(await this.store.starredIds(userId));
  }
}
