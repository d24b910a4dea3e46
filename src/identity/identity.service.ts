import type { Clock } from '../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../platform/errors.js';
import { newId, randomToken } from '../platform/ids.js';
import type { IdentityStore, UserRow } from './identity.store.js';
import { validateNamespaceName, validateTeamName } from './names.js';
import { decoyHash, hashPassword, verifyPassword } from './passwords.js';
import type { Subject } from './subject.js';
import type { DelegateKind, OrganizationRole, RepositoryRole, TeamRole } from './tables.js';

export interface User {
  id: string;
  name: string;
  email: string | null;
  superuser: boolean;
  enabled: boolean;
  createdAt: number;
}

export interface Organization {
  id: string;
  name: string;
  email: string | null;
  tagExpirationSeconds: number;
  createdAt: number;
}

export interface Team {
  id: string;
  organizationId: string;
  name: string;
  role: TeamRole;
  description: string;
}

/** Who a grant is for, by name: a user, a robot (`ns+name`) or a team of the repository's organization. */
export interface DelegateRef {
  kind: DelegateKind;
  name: string;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  name: row.name,
  email: row.email,
  superuser: row.superuser === 1,
  enabled: row.enabled === 1,
  createdAt: row.created_at,
});

export const subjectOf = (user: User): Extract<Subject, { kind: 'user' }> => ({
  kind: 'user',
  id: user.id,
  name: user.name,
  superuser: user.superuser,
});

/** The team `setMember` puts a user in for each organization role. */
const defaultTeams: Record<TeamRole, string> = { admin: 'owners', creator: 'creators', member: 'members' };

/** Quay's default TAG_EXPIRATION_OPTIONS (0s, 1d, 1w, 2w, 4w): the only time-machine windows a namespace may choose. */
export const tagExpirationOptions: readonly number[] = [0, 86400, 604800, 1209600, 2419200];

const emailPattern = /^[^@\s]+@[^@\s]+$/;
function validateEmail(email: string | undefined | null): string | null {
  if (email === undefined || email === null || email === '') return null;
  if (!emailPattern.test(email))
    throw new Invalid('INVALID_EMAIL', 'Invalid email address', { field: 'email' });
  return email;
}

export class IdentityService {
  constructor(
    private readonly store: IdentityStore,
    private readonly clock: Clock,
  ) {}

  // Users

  async createUser(input: {
    name: string;
    password?: string;
    email?: string;
    superuser?: boolean;
  }): Promise<User> {
    const name = validateNamespaceName(input.name, 'username');
    if (input.password !== undefined) this.validatePassword(input.password);
    const email = validateEmail(input.email);
    if (await this.store.findNamespace(name)) {
      throw new Conflict('NAMESPACE_EXISTS', 'A user or organization with this name already exists', {
        field: 'username',
      });
    }
    const id = newId();
    const createdAt = this.clock.now();
    await this.store.insertUser({
      id,
      name,
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      email,
      superuser: input.superuser ?? false,
      created_at: createdAt,
    });
    return { id, name, email, superuser: input.superuser ?? false, enabled: true, createdAt };
  }

  private validatePassword(password: string): void {
    if (password.length < 8)
      throw new Invalid('INVALID_PASSWORD', 'password must be at least 8 characters', { field: 'password' });
  }

  /**
   * Creates the superuser "admin" when the database has no user yet.
   * Returns the password when it was generated (to print once), else undefined.
   */
  async ensureAdmin(password: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.store.countUsers()) > 0) return { created: false };
    const generated = password ? undefined : randomToken(12);
    try {
      await this.createUser({ name: 'admin', password: password ?? generated, superuser: true });
    } catch (err) {
      // A second replica starting at the same moment created it first.
      if (err instanceof Conflict) return { created: false };
      throw err;
    }
    return { created: true, generatedPassword: generated };
  }

  async hasUsers(): Promise<boolean> {
    return (await this.store.countUsers()) > 0;
  }

  /** The user these credentials belong to, or undefined; costs one argon2 verify whether or not the user exists. */
  async authenticate(name: string, password: string): Promise<User | undefined> {
    const row = await this.store.findUserByName(name);
    if (!row?.password_hash) {
      await verifyPassword(await decoyHash(), password);
      return undefined;
    }
    if (!(await verifyPassword(row.password_hash, password)) || row.enabled !== 1) return undefined;
    return toUser(row);
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = await this.store.findUserById(id);
    return row ? toUser(row) : undefined;
  }

  async findUserByName(name: string): Promise<User | undefined> {
    const row = await this.store.findUserByName(name);
    return row ? toUser(row) : undefined;
  }

  async getUserByName(name: string): Promise<User> {
    const user = await this.findUserByName(name);
    if (!user) throw new NotFound('USER_NOT_FOUND', `user ${name} not found`, { name });
    return user;
  }

  async listUsers(): Promise<User[]> {
    return (await this.store.listUsers()).map(toUser);
  }

  async setUserEnabled(name: string, enabled: boolean): Promise<void> {
    await this.store.updateUser((await this.getUserByName(name)).id, { enabled });
  }

  async updateUser(
    name: string,
    changes: { password?: string; email?: string | null; superuser?: boolean; enabled?: boolean },
  ): Promise<User> {
    const user = await this.getUserByName(name);
    if (changes.password !== undefined) this.validatePassword(changes.password);
    await this.store.updateUser(user.id, {
      password_hash: changes.password === undefined ? undefined : await hashPassword(changes.password),
      superuser: changes.superuser,
      enabled: changes.enabled,
    });
    if (changes.email !== undefined)
      await this.store.updateNamespace(user.id, { email: validateEmail(changes.email) });
    return this.getUserByName(name);
  }

  async deleteUser(name: string): Promise<void> {
    await this.store.deleteNamespace((await this.getUserByName(name)).id);
  }

  // Namespaces and organizations

  async namespaceExists(name: string): Promise<boolean> {
    return (await this.store.findNamespace(name)) !== undefined;
  }

  async findNamespace(name: string) {
    return this.store.findNamespace(name);
  }

  /** Refuses an e-mail address that a namespace (user or organization) other than `ownerId` uses. */
  async requireUnusedEmail(email: string, ownerId?: string): Promise<void> {
    const owner = await this.store.findNamespaceByEmail(email);
    if (owner && owner.id !== ownerId)
      throw new Invalid('EMAIL_IN_USE', 'E-mail address already used', { field: 'email' });
  }

  async createOrganization(input: { name: string; owner: User; email?: string }): Promise<Organization> {
    const name = validateNamespaceName(input.name, 'name');
    const email = validateEmail(input.email);
    if (await this.store.findNamespace(name)) {
      throw new Conflict('NAMESPACE_EXISTS', 'A user or organization with this name already exists', {
        field: 'name',
      });
    }
    const org = { id: newId(), name, email, created_at: this.clock.now() };
    await this.store.insertOrganization(org, { teamId: newId(), userId: input.owner.id });
    return { id: org.id, name, email, tagExpirationSeconds: 1209600, createdAt: org.created_at };
  }

  async findOrganization(name: string): Promise<Organization | undefined> {
    const row = await this.store.findNamespace(name);
    if (row?.kind !== 'organization') return undefined;
    return {
      id: row.id,
      name: row.name,
      email: row.email,
      tagExpirationSeconds: row.tag_expiration_s,
      createdAt: row.created_at,
    };
  }

  async getOrganization(name: string): Promise<Organization> {
    const org = await this.findOrganization(name);
    if (!org) throw new NotFound('ORGANIZATION_NOT_FOUND', `organization ${name} not found`, { name });
    return org;
  }

  async listOrganizations(): Promise<Organization[]> {
    return (await this.store.listOrganizations()).map((row) => ({
      id: row.id,
      name: row.name,
      email: row.email,
      tagExpirationSeconds: row.tag_expiration_s,
      createdAt: row.created_at,
    }));
  }

  async updateNamespaceSettings(
    name: string,
    changes: { email?: string | null; tagExpirationSeconds?: number },
  ): Promise<void> {
    const ns = await this.store.findNamespace(name);
    if (!ns) throw new NotFound('NAMESPACE_NOT_FOUND', `namespace ${name} not found`);
    if (
      changes.tagExpirationSeconds !== undefined &&
      !tagExpirationOptions.includes(changes.tagExpirationSeconds)
    )
      throw new Invalid('INVALID_TAG_EXPIRATION', 'Invalid tag expiration option', {
        field: 'tag_expiration_s',
      });
    await this.store.updateNamespace(ns.id, {
      email: changes.email === undefined ? undefined : validateEmail(changes.email),
      tag_expiration_s: changes.tagExpirationSeconds,
    });
  }

  async deleteOrganization(name: string): Promise<void> {
    await this.store.deleteNamespace((await this.getOrganization(name)).id);
  }

  /** Organizations (names) a user belongs to through any team. */
  async organizationsOf(user: User): Promise<Organization[]> {
    const ids = await this.store.organizationsOf(user.id);
    const orgs = await Promise.all(ids.map((id) => this.store.findNamespaceById(id)));
    return orgs
      .filter((o) => o !== undefined)
      .map((row) => ({
        id: row.id,
        name: row.name,
        email: row.email,
        tagExpirationSeconds: row.tag_expiration_s,
        createdAt: row.created_at,
      }));
  }

  /** Puts a user in the organization's default team for a role (`owners`, `creators`, `members`), creating it if needed. */
  async setMember(organization: string, user: string, role: OrganizationRole): Promise<void> {
    const team = await this.upsertTeam(organization, defaultTeams[role], {
      role: (await this.findTeam(organization, defaultTeams[role]))?.role ?? role,
    });
    await this.addTeamMember(organization, team.team.name, user);
  }

  // Teams

  async findTeam(organization: string, name: string): Promise<Team | undefined> {
    const org = await this.getOrganization(organization);
    const row = await this.store.findTeam(org.id, name);
    return row
      ? {
          id: row.id,
          organizationId: row.organization_id,
          name: row.name,
          role: row.role,
          description: row.description,
        }
      : undefined;
  }

  async getTeam(organization: string, name: string): Promise<Team> {
    const team = await this.findTeam(organization, name);
    if (!team) throw new NotFound('TEAM_NOT_FOUND', `team ${name} not found`, { name });
    return team;
  }

  async listTeams(organization: string): Promise<Team[]> {
    const org = await this.getOrganization(organization);
    return (await this.store.listTeams(org.id)).map((row) => ({
      id: row.id,
      organizationId: row.organization_id,
      name: row.name,
      role: row.role,
      description: row.description,
    }));
  }

  /** Creates or updates a team; `created` tells which. */
  async upsertTeam(
    organization: string,
    name: string,
    changes: { role: TeamRole; description?: string },
  ): Promise<{ team: Team; created: boolean }> {
    validateTeamName(name);
    const org = await this.getOrganization(organization);
    const existing = await this.store.findTeam(org.id, name);
    if (existing) {
      await this.store.updateTeam(existing.id, { role: changes.role, description: changes.description });
      return { team: await this.getTeam(organization, name), created: false };
    }
    await this.store.insertTeam({
      id: newId(),
      organization_id: org.id,
      name,
      role: changes.role,
      description: changes.description ?? '',
      created_at: this.clock.now(),
    });
    return { team: await this.getTeam(organization, name), created: true };
  }

  async deleteTeam(organization: string, name: string): Promise<void> {
    await this.store.deleteTeam((await this.getTeam(organization, name)).id);
  }

  /** Adds a user or a robot (`ns+name`, of this organization) to a team. */
  async addTeamMember(organization: string, teamName: string, memberName: string): Promise<void> {
    const team = await this.getTeam(organization, teamName);
    const member = await this.resolveMember(memberName);
    if (member.kind === 'robot' && !memberName.startsWith(`${organization}+`)) {
      throw new Invalid('INVALID_MEMBER', `Cannot add robot ${memberName} under namespace ${organization}`, {
        field: 'member',
      });
    }
    await this.store.addTeamMember(team.id, member.kind, member.id);
  }

  async removeTeamMember(organization: string, teamName: string, memberName: string): Promise<boolean> {
    const team = await this.getTeam(organization, teamName);
    const member = await this.resolveMember(memberName);
    return this.store.removeTeamMember(team.id, member.kind, member.id);
  }

  async teamMembers(team: Team): Promise<Array<{ kind: 'user' | 'robot'; id: string; name: string }>> {
    const rows = await this.store.teamMembers(team.id);
    return Promise.all(
      rows.map(async (r) => ({
        kind: r.member_kind,
        id: r.member_id,
        name: await this.delegateName(r.member_kind, r.member_id),
      })),
    );
  }

  /** A user, or a robot when the name is `ns+name`; undefined when there is none. */
  async findMember(name: string): Promise<{ kind: 'user' | 'robot'; id: string } | undefined> {
    if (name.includes('+')) {
      const robot = await this.store.findRobotByName(name);
      return robot && { kind: 'robot', id: robot.id };
    }
    const user = await this.store.findUserByName(name);
    return user && { kind: 'user', id: user.id };
  }

  private async resolveMember(name: string): Promise<{ kind: 'user' | 'robot'; id: string }> {
    const member = await this.findMember(name);
    if (member) return member;
    throw name.includes('+')
      ? new Invalid('UNKNOWN_ROBOT', 'Could not find robot with specified username', { field: 'member' })
      : new Invalid('UNKNOWN_USER', 'Unknown user', { field: 'member' });
  }

  // Repository grants

  /** Grants a role to a user (by id) or to a user or robot delegate. */
  async grantRepository(
    repositoryId: string,
    delegate: string | { kind: DelegateKind; id: string },
    role: RepositoryRole,
  ): Promise<void> {
    const target = typeof delegate === 'string' ? { kind: 'user' as const, id: delegate } : delegate;
    await this.store.upsertGrant(repositoryId, target.kind, target.id, role);
  }

  /**
   * Applies an organization's default permissions to a repository just created by `creator`:
   * prototypes for this creator win over catch-all ones for the same delegate; the creator is not its own delegate.
   */
  async applyPrototypes(namespace: string, repositoryId: string, creator: Subject): Promise<void> {
    const org = await this.findOrganization(namespace);
    if (!org || creator.kind === 'anonymous') return;
    const rows = await this.store.db
      .selectFrom('permission_prototypes')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where((eb) => eb.or([eb('activating_user_id', 'is', null), eb('activating_user_id', '=', creator.id)]))
      .execute();
    const chosen = new Map<string, (typeof rows)[number]>();
    for (const row of rows) {
      const key = `${row.delegate_kind}:${row.delegate_id}`;
      if (row.delegate_id === creator.id) continue;
      if (!chosen.has(key) || row.activating_user_id !== null) chosen.set(key, row);
    }
    for (const row of chosen.values())
      await this.store.upsertGrant(repositoryId, row.delegate_kind, row.delegate_id, row.role);
  }

  /** Resolves a delegate by name; teams belong to `namespace`'s organization. Unknown names are Invalid, naming the field. */
  async resolveDelegate(
    namespace: string,
    delegate: DelegateRef,
  ): Promise<{ kind: DelegateKind; id: string }> {
    if (delegate.kind === 'team') {
      const org = await this.findOrganization(namespace);
      const team = org ? await this.store.findTeam(org.id, delegate.name) : undefined;
      if (!team) throw new Invalid('UNKNOWN_TEAM', `Unknown team ${delegate.name}`, { field: 'team' });
      return { kind: 'team', id: team.id };
    }
    const member = await this.resolveMember(delegate.name);
    if (member.kind === 'robot' && !delegate.name.startsWith(`${namespace}+`)) {
      throw new Invalid(
        'INVALID_DELEGATE',
        `Cannot add robot ${delegate.name} under namespace ${namespace}`,
        { field: 'username' },
      );
    }
    return member;
  }

  async setGrant(
    repositoryId: string,
    namespace: string,
    delegate: DelegateRef,
    role: RepositoryRole,
  ): Promise<void> {
    const resolved = await this.resolveDelegate(namespace, delegate);
    await this.store.upsertGrant(repositoryId, resolved.kind, resolved.id, role);
  }

  async removeGrant(repositoryId: string, namespace: string, delegate: DelegateRef): Promise<boolean> {
    const resolved = await this.resolveDelegate(namespace, delegate);
    return this.store.deleteGrant(repositoryId, resolved.kind, resolved.id);
  }

  /** Every grant on a repository, with delegate names. */
  async listGrants(
    repositoryId: string,
  ): Promise<Array<{ kind: DelegateKind; id: string; name: string; role: RepositoryRole }>> {
    const rows = await this.store.listGrants(repositoryId);
    return Promise.all(
      rows.map(async (r) => ({
        kind: r.delegate_kind,
        id: r.delegate_id,
        role: r.role,
        name: await this.delegateName(r.delegate_kind, r.delegate_id),
      })),
    );
  }

  /** Roles on a repository granted to a user or robot directly or through its teams (Quay's transitive permission). */
  async grantedRoles(
    repositoryId: string,
    member: { kind: 'user' | 'robot'; id: string },
  ): Promise<RepositoryRole[]> {
    return this.store.grantedRoles(repositoryId, member.kind, member.id);
  }

  async grantsOf(kind: DelegateKind, id: string) {
    return this.store.grantsOf(kind, id);
  }

  async revokeRepositoryPermissions(repositoryId: string): Promise<void> {
    await this.store.deleteGrants(repositoryId);
  }

  /** The name of a user, robot or team by id (empty when it no longer exists). */
  async delegateName(kind: DelegateKind, id: string): Promise<string> {
    if (kind === 'user') return (await this.store.findNamespaceById(id))?.name ?? '';
    const table = kind === 'robot' ? 'robots' : 'teams';
    const row = await this.store.db.selectFrom(table).select('name').where('id', '=', id).executeTakeFirst();
    return row?.name ?? '';
  }
}
