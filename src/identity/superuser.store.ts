import { sql, type Kysely } from 'kysely';
import { insertOwnersTeam, removeUserMemberships } from './identity.store.js';
import type { IdentityTables } from './tables.js';

/** Queries behind the superuser panel that change what kind of namespace something is, or its name. */
export class SuperuserStore {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  /** Renames a namespace and the robots named after it (`old+x` becomes `new+x`). */
  async renameNamespace(id: string, from: string, to: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('namespaces').set({ name: to }).where('id', '=', id).execute();
      await trx
        .updateTable('robots')
        .set({ name: sql<string>`cast(${to} as text) || substr(name, cast(${from.length + 1} as integer))` })
        .where('namespace_id', '=', id)
        .execute();
    });
  }

  /**
   * Turns a user into an organization administered by `adminUserId`, as Quay's
   * convert_user_to_organization: the account can no longer sign in (its credentials go with the
   * user row), it leaves every team and loses its own grants, and gets an `owners` team.
   */
  async convertUserToOrganization(
    userId: string,
    owners: { teamId: string; adminUserId: string },
    now: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await removeUserMemberships(trx, userId);
      await trx.deleteFrom('users').where('id', '=', userId).execute();
      await trx.updateTable('namespaces').set({ kind: 'organization' }).where('id', '=', userId).execute();
      await insertOwnersTeam(trx, userId, owners.teamId, owners.adminUserId, now);
    });
  }
}
