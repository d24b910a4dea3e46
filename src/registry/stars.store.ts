import type { Kysely } from 'kysely';
import type { RegistryTables } from './tables.js';

export interface StarsTables {
  stars: {
    user_id: string;
    repository_id: string;
    created_at: number;
  };
}

/** Queries of the `stars` table. */
export class StarsStore {
  constructor(private readonly db: Kysely<StarsTables & RegistryTables>) {}

  async insert(userId: string, repositoryId: string, now: number): Promise<void> {
    await this.db
      .insertInto('stars')
      .values({ user_id: userId, repository_id: repositoryId, created_at: now })
      .onConflict((oc) => oc.columns(['user_id', 'repository_id']).doNothing())
      .execute();
  }

  async delete(userId: string, repositoryName: string): Promise<void> {
    await this.db
      .deleteFrom('stars')
      .where('user_id', '=', userId)
      .where('repository_id', 'in', (eb) =>
        eb.selectFrom('repositories').select('id').where('name', '=', repositoryName),
      )
      .execute();
  }

  /** A user's starred repositories, oldest star first, `limit` rows from `offset`. */
  starredRepositories(userId: string, opts: { offset: number; limit: number }) {
    return this.db
      .selectFrom('stars')
      .innerJoin('repositories', 'repositories.id', 'stars.repository_id')
      .selectAll('repositories')
      .where('stars.user_id', '=', userId)
      .orderBy('stars.created_at')
      .orderBy('stars.repository_id')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
  }

  async starredIds(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('stars')
      .select('repository_id')
      .where('user_id', '=', userId)
      .execute();
    return rows.map((r) => r.repository_id);
  }
}
