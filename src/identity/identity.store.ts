import type { Kysely } from 'kysely';
import type { DelegateKind, IdentityTables, RepositoryRole, TeamMemberKind, TeamRole } from './tables.js';

const userColumns = [
  'namespaces.id',
  'namespaces.name',
  'namespaces.email',
  'namespaces.tag_expiration_s',
  'users.superuser',
  'users.enabled',
  'users.password_hash',
  'users.created_at',
] as const;

/** Team memberships and repository grants of a user, which are not cascaded from its namespace row. */
export async function removeUserMemberships(db: Kysely<IdentityTables>, userId: string): Promise<void> {
  await db
    .deleteFrom('team_members')
    .where('member_kind', '=', 'user')
    .where('member_id', '=', userId)
    .execute();
  await db
    .deleteFrom('repository_grants')
    .where('delegate_kind', '=', 'user')
    .where('delegate_id', '=', userId)
    .execute();
}

/** An organization's `owners` team (role admin) holding one user, as Quay creates it. */
export async function insertOwnersTeam(
  db: Kysely<IdentityTables>,
  organizationId: string,
  teamId: string,
  userId: string,
  createdAt: number,
): Promise<void> {
  await db
    .insertInto('teams')
    .values({
      id: teamId,
      organization_id: organizationId,
      name: 'owners',
      role: 'admin',
      description: '',
      created_at: createdAt,
    })
    .execute();
  await db
    .insertInto('team_members')
    .values({ team_id: teamId, member_kind: 'user', member_id: userId })
    .execute();
}

export type UserRow = Awaited<ReturnType<IdentityStore['findUserByName']>> & object;

/** Queries of namespaces, users, organizations, teams and repository grants. */
export class IdentityStore {
  constructor(readonly db: Kysely<IdentityTables>) {}

  findNamespace(name: string) {
    return this.db.selectFrom('namespaces').selectAll().where('name', '=', name).executeTakeFirst();
  }

  findNamespaceById(id: string) {
    return this.db.selectFrom('namespaces').selectAll().where('id', '=', id).executeTakeFirst();
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

  listUsers() {
    return this.db
      .selectFrom('users')
      .innerJoin('namespaces', 'namespaces.id', 'users.id')
      .select(userColumns)
      .orderBy('namespaces.name')
      .execute();
  }

  listOrganizations() {
    return this.db
      .selectFrom('namespaces')
      .selectAll()
      .where('kind', '=', 'organization')
      .orderBy('name')
      .execute();
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
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
        .values({
          id: user.id,
          name: user.name,
          kind: 'user',
          email: user.email,
          created_at: user.created_at,
        })
        .execute();
      await trx
        .insertInto('users')
        .values({
          id: user.id,
          password_hash: user.password_hash,
          superuser: user.superuser ? 1 : 0,
          enabled: 1,
          created_at: user.created_at,
        })
        .execute();
    });
  }

  async updateUser(
    id: string,
    changes: { password_hash?: string; superuser?: boolean; enabled?: boolean },
  ): Promise<void> {
    const set: Partial<IdentityTables['users']> = {};
    if (changes.password_hash !== undefined) set.password_hash = changes.password_hash;
    if (changes.superuser !== undefined) set.superuser = changes.superuser ? 1 : 0;
    if (changes.enabled !== undefined) set.enabled = changes.enabled ? 1 : 0;
    if (Object.keys(set).length > 0)
      await this.db.updateTable('users').set(set).where('id', '=', id).execute();
  }

  async updateNamespace(
    id: string,
    changes: { email?: string | null; tag_expiration_s?: number; name?: string },
  ): Promise<void> {
    if (Object.keys(changes).length > 0)
      await this.db.updateTable('namespaces').set(changes).where('id', '=', id).execute();
  }

  /** Deletes a user or organization; users, teams, robots and memberships go with it (cascade). */
  async deleteNamespace(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await removeUserMemberships(trx, id);
      await trx.deleteFrom('namespaces').where('id', '=', id).execute();
    });
  }

  /** Creates an organization with its `owners` team (role admin) holding the creator, as Quay does. */
  async insertOrganization(
    org: { id: string; name: string; email: string | null; created_at: number },
    owners: { teamId: string; userId: string },
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('namespaces')
        .values({ ...org, kind: 'organization' })
        .execute();
      await insertOwnersTeam(trx, org.id, owners.teamId, owners.userId, org.created_at);
    });
  }

  // Teams

  findTeam(organizationId: string, name: string) {
    return this.db
      .selectFrom('teams')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  listTeams(organizationId: string) {
    return this.db
      .selectFrom('teams')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .orderBy('name')
      .execute();
  }

  async insertTeam(team: IdentityTables['teams']): Promise<void> {
    await this.db.insertInto('teams').values(team).execute();
  }

  async updateTeam(id: string, changes: { role?: TeamRole; description?: string }): Promise<void> {
    if (Object.keys(changes).length > 0)
      await this.db.updateTable('teams').set(changes).where('id', '=', id).execute();
  }

  async deleteTeam(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('repository_grants')
        .where('delegate_kind', '=', 'team')
        .where('delegate_id', '=', id)
        .execute();
      await trx
        .deleteFrom('permission_prototypes')
        .where('delegate_kind', '=', 'team')
        .where('delegate_id', '=', id)
        .execute();
      await trx.deleteFrom('teams').where('id', '=', id).execute();
    });
  }

  async addTeamMember(teamId: string, kind: TeamMemberKind, memberId: string): Promise<void> {
    await this.db
      .insertInto('team_members')
      .values({ team_id: teamId, member_kind: kind, member_id: memberId })
      .onConflict((oc) => oc.columns(['team_id', 'member_kind', 'member_id']).doNothing())
      .execute();
  }

  async removeTeamMember(teamId: string, kind: TeamMemberKind, memberId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('team_members')
      .where('team_id', '=', teamId)
      .where('member_kind', '=', kind)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  teamMembers(teamId: string) {
    return this.db
      .selectFrom('team_members')
      .select(['member_kind', 'member_id'])
      .where('team_id', '=', teamId)
      .execute();
  }

  /** Teams of an organization a user or robot is in. */
  teamsOf(organizationId: string, kind: TeamMemberKind, memberId: string) {
    return this.db
      .selectFrom('teams')
      .innerJoin('team_members', 'team_members.team_id', 'teams.id')
      .selectAll('teams')
      .where('teams.organization_id', '=', organizationId)
      .where('team_members.member_kind', '=', kind)
      .where('team_members.member_id', '=', memberId)
      .execute();
  }

  async teamRolesOf(organizationId: string, kind: TeamMemberKind, memberId: string): Promise<TeamRole[]> {
    return (await this.teamsOf(organizationId, kind, memberId)).map((t) => t.role);
  }

  /** Organizations (ids) a user is in through any team. */
  async organizationsOf(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('teams')
      .innerJoin('team_members', 'team_members.team_id', 'teams.id')
      .select('teams.organization_id')
      .distinct()
      .where('team_members.member_kind', '=', 'user')
      .where('team_members.member_id', '=', userId)
      .execute();
    return rows.map((r) => r.organization_id);
  }

  /** Users and robots in any team of the organization. */
  async organizationMembers(organizationId: string) {
    return this.db
      .selectFrom('team_members')
      .innerJoin('teams', 'teams.id', 'team_members.team_id')
      .select(['team_members.member_kind', 'team_members.member_id', 'teams.name as team'])
      .where('teams.organization_id', '=', organizationId)
      .execute();
  }

  // Repository grants

  /** Roles granted on a repository to the user or robot directly or to a team it is in. */
  async grantedRoles(
    repositoryId: string,
    kind: TeamMemberKind,
    memberId: string,
  ): Promise<RepositoryRole[]> {
    const rows = await this.db
      .selectFrom('repository_grants')
      .select('role')
      .where('repository_id', '=', repositoryId)
      .where((eb) =>
        eb.or([
          eb.and([eb('delegate_kind', '=', kind), eb('delegate_id', '=', memberId)]),
          eb.and([
            eb('delegate_kind', '=', 'team'),
            eb(
              'delegate_id',
              'in',
              eb
                .selectFrom('team_members')
                .select('team_id')
                .where('member_kind', '=', kind)
                .where('member_id', '=', memberId),
            ),
          ]),
        ]),
      )
      .execute();
    return rows.map((r) => r.role);
  }

  async upsertGrant(
    repositoryId: string,
    kind: DelegateKind,
    delegateId: string,
    role: RepositoryRole,
  ): Promise<void> {
    await this.db
      .insertInto('repository_grants')
      .values({ repository_id: repositoryId, delegate_kind: kind, delegate_id: delegateId, role })
      .onConflict((oc) => oc.columns(['repository_id', 'delegate_kind', 'delegate_id']).doUpdateSet({ role }))
      .execute();
  }

  async deleteGrant(repositoryId: string, kind: DelegateKind, delegateId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_grants')
      .where('repository_id', '=', repositoryId)
      .where('delegate_kind', '=', kind)
      .where('delegate_id', '=', delegateId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  listGrants(repositoryId: string) {
    return this.db
      .selectFrom('repository_grants')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .execute();
  }

  /** Grants held by one delegate (a user, robot or team), for its permissions listings. */
  grantsOf(kind: DelegateKind, delegateId: string) {
    return this.db
      .selectFrom('repository_grants')
      .selectAll()
      .where('delegate_kind', '=', kind)
      .where('delegate_id', '=', delegateId)
      .execute();
  }

  async deleteGrants(repositoryId: string): Promise<void> {
    await this.db.deleteFrom('repository_grants').where('repository_id', '=', repositoryId).execute();
  }

  /** Repositories granted to the member (directly or through its teams), and namespaces whose every repository it administers. */
  async visibilityGrants(
    kind: TeamMemberKind,
    memberId: string,
  ): Promise<{ repositoryIds: string[]; namespaces: string[] }> {
    const teamIds = this.db
      .selectFrom('team_members')
      .select('team_id')
      .where('member_kind', '=', kind)
      .where('member_id', '=', memberId);
    const [grants, namespaces] = await Promise.all([
      this.db
        .selectFrom('repository_grants')
        .select('repository_id')
        .where((eb) =>
          eb.or([
            eb.and([eb('delegate_kind', '=', kind), eb('delegate_id', '=', memberId)]),
            eb.and([eb('delegate_kind', '=', 'team'), eb('delegate_id', 'in', teamIds)]),
          ]),
        )
        .execute(),
      this.db
        .selectFrom('namespaces')
        .select('name')
        .where((eb) =>
          eb.or([
            eb('id', '=', kind === 'user' ? memberId : ''),
            eb(
              'id',
              'in',
              eb
                .selectFrom('teams')
                .select('organization_id')
                .where('role', '=', 'admin')
                .where('id', 'in', teamIds),
            ),
          ]),
        )
        .execute(),
    ]);
    return { repositoryIds: grants.map((g) => g.repository_id), namespaces: namespaces.map((n) => n.name) };
  }

  // Organization views: memberships with team roles, team counts, grants on a set of repositories

  /** Every team membership in an organization, with the team's name and role. */
  organizationMemberships(organizationId: string) {
    return this.db
      .selectFrom('team_members')
      .innerJoin('teams', 'teams.id', 'team_members.team_id')
      .select([
        'team_members.member_kind',
        'team_members.member_id',
        'teams.id as team_id',
        'teams.name as team_name',
        'teams.role as team_role',
      ])
      .where('teams.organization_id', '=', organizationId)
      .orderBy('teams.created_at')
      .orderBy('teams.name')
      .execute();
  }

  /** Members and repository grants of each team of an organization, by team id. */
  async teamCounts(organizationId: string): Promise<Map<string, { members: number; repositories: number }>> {
    const [members, grants] = await Promise.all([
      this.db
        .selectFrom('team_members')
        .innerJoin('teams', 'teams.id', 'team_members.team_id')
        .select(['teams.id as id', (eb) => eb.fn.countAll().as('n')])
        .where('teams.organization_id', '=', organizationId)
        .groupBy('teams.id')
        .execute(),
      this.db
        .selectFrom('repository_grants')
        .innerJoin('teams', 'teams.id', 'repository_grants.delegate_id')
        .select(['teams.id as id', (eb) => eb.fn.countAll().as('n')])
        .where('repository_grants.delegate_kind', '=', 'team')
        .where('teams.organization_id', '=', organizationId)
        .groupBy('teams.id')
        .execute(),
    ]);
    const counts = new Map<string, { members: number; repositories: number }>();
    const entry = (id: string) => counts.get(id) ?? counts.set(id, { members: 0, repositories: 0 }).get(id)!;
    for (const row of members) entry(row.id).members = Number(row.n);
    for (const row of grants) entry(row.id).repositories = Number(row.n);
    return counts;
  }

  /** Grants on any of these repositories. */
  async grantsOn(repositoryIds: readonly string[]) {
    if (repositoryIds.length === 0) return [];
    return this.db
      .selectFrom('repository_grants')
      .selectAll()
      .where('repository_id', 'in', repositoryIds)
      .execute();
  }

  /** Takes a user or robot out of every team of an organization and revokes its grants on these repositories. */
  async removeFromOrganization(
    organizationId: string,
    kind: TeamMemberKind,
    memberId: string,
    repositoryIds: readonly string[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('team_members')
        .where('member_kind', '=', kind)
        .where('member_id', '=', memberId)
        .where(
          'team_id',
          'in',
          trx.selectFrom('teams').select('id').where('organization_id', '=', organizationId),
        )
        .execute();
      if (repositoryIds.length > 0)
        await trx
          .deleteFrom('repository_grants')
          .where('delegate_kind', '=', kind)
          .where('delegate_id', '=', memberId)
          .where('repository_id', 'in', repositoryIds)
          .execute();
    });
  }

  /** Grants held by the robots and teams of a namespace (which go when the namespace goes). */
  async deleteNamespaceDelegateGrants(namespaceId: string): Promise<void> {
    await this.db
      .deleteFrom('repository_grants')
      .where((eb) =>
        eb.or([
          eb.and([
            eb('delegate_kind', '=', 'robot'),
            eb(
              'delegate_id',
              'in',
              eb.selectFrom('robots').select('id').where('namespace_id', '=', namespaceId),
            ),
          ]),
          eb.and([
            eb('delegate_kind', '=', 'team'),
            eb(
              'delegate_id',
              'in',
              eb.selectFrom('teams').select('id').where('organization_id', '=', namespaceId),
            ),
          ]),
        ]),
      )
      .execute();
  }

  findNamespaceByEmail(email: string) {
    return this.db.selectFrom('namespaces').selectAll().where('email', '=', email).executeTakeFirst();
  }

  findRobotByName(name: string) {
    return this.db.selectFrom('robots').selectAll().where('name', '=', name).executeTakeFirst();
  }

  robotsOf(namespaceId: string) {
    return this.db
      .selectFrom('robots')
      .select(['id', 'name'])
      .where('namespace_id', '=', namespaceId)
      .orderBy('name')
      .execute();
  }

  findRobotById(id: string) {
    return this.db.selectFrom('robots').selectAll().where('id', '=', id).executeTakeFirst();
  }

  // Permission prototypes

  listPrototypes(organizationId: string) {
    return this.db
      .selectFrom('permission_prototypes')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  findPrototype(organizationId: string, id: string) {
    return this.db
      .selectFrom('permission_prototypes')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async insertPrototype(row: IdentityTables['permission_prototypes']): Promise<void> {
    await this.db.insertInto('permission_prototypes').values(row).execute();
  }

  async updatePrototypeRole(organizationId: string, id: string, role: RepositoryRole): Promise<void> {
    await this.db
      .updateTable('permission_prototypes')
      .set({ role })
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .execute();
  }

  async deletePrototype(organizationId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('permission_prototypes')
      .where('organization_id', '=', organizationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // Signing keys

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
}
