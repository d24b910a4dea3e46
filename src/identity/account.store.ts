import type { Kysely } from 'kysely';
import type { IdentityTables } from './tables.js';

/** Queries behind a user's own account: e-mail ownership and ending every session of a user. */
export class AccountStore {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  /** The namespace (user or organization) that uses this e-mail address, if any. */
  namespaceWithEmail(email: string) {
    return this.db
      .selectFrom('namespaces')
      .select(['id', 'name'])
      .where('email', '=', email)
      .executeTakeFirst();
  }

  async passwordSet(userId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', userId)
      .executeTakeFirst();
    return Boolean(row?.password_hash);
  }

  async deleteSessionsOf(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }
}
