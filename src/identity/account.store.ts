import type { Kysely } from 'kysely';
import type { IdentityTables } from './tables.js';

/** Queries behind a user's own account: its settings and ending every session of a user. */
export class AccountStore {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  /** What the account view shows beyond the user: its password hash (whether one is set) and tag expiration. */
  accountSettings(userId: string) {
    return this.db
      .selectFrom('users')
      .innerJoin('namespaces', 'namespaces.id', 'users.id')
      .select(['users.password_hash', 'namespaces.tag_expiration_s'])
      .where('users.id', '=', userId)
      .executeTakeFirst();
  }

  async deleteSessionsOf(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }
}
