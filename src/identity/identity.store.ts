import type { Kysely } from 'kysely';
import type { IdentityTables, NamespaceKind, OrganizationRole, RepositoryRole } from './tables.js';

const userColumns = [
  'namespaces.id',
  'namespaces.name',
  'users.email',
  'users.superuser',
  'users.enabled',
  'users.password_hash',
] as const;

export class IdentityStore {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  findNamespace(name: string) {
    return this.db.selectFrom('namespaces').selectAll().where('name', '=', name).executeTakeFirst();
  }

  findUserByName(name: string) {
    return this.db
      .selectFrom('users')
      .innerJoin('namespaces', 'namespaces.id', 'users.id')
      .select(userColumns)
      .where('namespaces.name', '=', name)
      .executeTakeFirst();
  }

  findUserById(id: string) {
    return this.db
      .selectFrom('users')
      .innerJoin('namespaces', 'namespaces.id', 'users.id')
      .select(userColumns)
      .where('users.id', '=', id)
      .executeTakeFirst();
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insertNamespace(ns: {
    id: string;
    name: string;
    kind: NamespaceKind;
    created_at: number;
  }): Promise<void> {
    await this.db.insertInto('namespaces').values(ns).execute();
  }

  async insertUser(user: {
    id: string;
    name: string;
    password_hash: string | null;
    email: string | null;
    superuser: boolean;
    created_at: number;
  }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('namespaces')
        .values({ id: user.id, name: user.name, kind: 'user', created_at: user.created_at })
        .execute();
      await trx
        .insertInto('users')
        .values({
          id: user.id,
          password_hash: user.password_hash,
          email: user.email,
          superuser: user.superuser ? 1 : 0,
          enabled: 1,
          created_at: user.created_at,
        })
        .execute();
    });
  }

  async insertOrganization(
    org: { id: string; name: string; created_at: number },
    ownerId: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('namespaces')
        .values({ ...org, kind: 'organization' })
        .execute();
      await trx
        .insertInto('organization_members')
        .values({ organization_id: org.id, user_id: ownerId, role: 'admin' })
        .execute();
    });
  }

  async setUserEnabled(id: string, enabled: boolean): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ enabled: enabled ? 1 : 0 })
      .where('id', '=', id)
      .execute();
  }

  async upsertMember(organizationId: string, userId: string, role: OrganizationRole): Promise<void> {
    await this.db
      .insertInto('organization_members')
      .values({ organization_id: organizationId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['organization_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async memberRole(organizationId: string, userId: string): Promise<OrganizationRole | undefined> {
    const row = await this.db
      .selectFrom('organization_members')
      .select('role')
      .where('organization_id', '=', organizationId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  async upsertRepositoryPermission(
    repositoryId: string,
    userId: string,
    role: RepositoryRole,
  ): Promise<void> {
    await this.db
      .insertInto('repository_permissions')
      .values({ repository_id: repositoryId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['repository_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async deleteRepositoryPermissions(repositoryId: string): Promise<void> {
    await this.db.deleteFrom('repository_permissions').where('repository_id', '=', repositoryId).execute();
  }

  async repositoryRole(repositoryId: string, userId: string): Promise<RepositoryRole | undefined> {
    const row = await this.db
      .selectFrom('repository_permissions')
      .select('role')
      .where('repository_id', '=', repositoryId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  /** Repositories the user has an explicit permission on, and namespaces (names) where the user's role covers every repository. */
  async visibilityGrants(userId: string): Promise<{ repositoryIds: string[]; namespaces: string[] }> {
    const [perms, namespaces] = await Promise.all([
      this.db
        .selectFrom('repository_permissions')
        .select('repository_id')
        .where('user_id', '=', userId)
        .execute(),
      this.db
        .selectFrom('namespaces')
        .select('name')
        .where((eb) =>
          eb.or([
            eb('id', '=', userId),
            eb(
              'id',
              'in',
              eb
                .selectFrom('organization_members')
                .select('organization_id')
                .where('user_id', '=', userId)
                .where('role', '=', 'admin'),
            ),
          ]),
        )
        .execute(),
    ]);
    return { repositoryIds: perms.map((p) => p.repository_id), namespaces: namespaces.map((n) => n.name) };
  }

  latestSigningKey() {
    return this.db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at', 'asc')
      .orderBy('kid', 'asc')
      .executeTakeFirst();
  }

  async insertSigningKey(key: IdentityTables['signing_keys']): Promise<void> {
    await this.db.insertInto('signing_keys').values(key).execute();
  }

  allSigningKeys() {
    return this.db.selectFrom('signing_keys').selectAll().execute();
  }
}
