import type { EventBus } from '../platform/events.js';
import { Invalid, NotFound } from '../platform/errors.js';
import type { IdentityService, Organization, Team } from './identity.service.js';
import type { IdentityStore } from './identity.store.js';
import type { Visibility } from './policy.js';
import { subjectName, type Subject } from './subject.js';
import type { RepositoryRole, TeamMemberKind, TeamRole } from './tables.js';

/** A repository as identity needs to know it; `name` is the full `namespace/name`. */
export interface NamespaceRepository {
  id: string;
  name: string;
  visibility: Visibility;
}

/**
 * The registry's side of organization management, wired in services.ts (identity does not import
 * the registry): which repositories a namespace has, and removing them all when it is deleted.
 */
export interface RepositoryDirectory {
  inNamespace(namespace: string): Promise<NamespaceRepository[]>;
  removeNamespace(namespace: string): Promise<void>;
}

/** A team with what the organization view counts about it. */
export interface TeamSummary extends Team {
  memberCount: number;
  repositoryCount: number;
}

/** A user or robot of an organization: its teams and the repositories granted to it directly (names within the namespace). */
export interface OrganizationMember {
  name: string;
  kind: TeamMemberKind;
  teams: string[];
  repositories: string[];
}

/** A direct permission on a repository, named within its namespace. */
export interface RepositoryPermission {
  repository: string;
  isPublic: boolean;
  role: RepositoryRole;
}

const shortName = (repository: string) => repository.slice(repository.indexOf('/') + 1);

/**
 * Organizations as their admins manage them: details, members and outside collaborators, teams and
 * their members, and what a team or robot is granted. Refuses the changes Quay refuses (an admin
 * cutting their own last admin team, removing the only admin). Access is checked by the caller.
 */
export class OrganizationsService {
  constructor(
    private readonly store: IdentityStore,
    private readonly identity: IdentityService,
    private readonly repositories: RepositoryDirectory,
    private readonly events: EventBus,
  ) {}

  // Organizations

  /** Creates an organization whose `owners` team holds the creating user. */
  async create(owner: Subject, input: { name: string; email?: string }): Promise<Organization> {
    if (owner.kind !== 'user') throw new Invalid('NOT_A_USER', 'Only users can create organizations');
    const user = await this.identity.getUser(owner.id);
    if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
    if (input.email) await this.identity.requireUnusedEmail(input.email);
    const org = await this.identity.createOrganization({ name: input.name, owner: user, email: input.email });
    this.events.emit({ type: 'organization.created', organization: org.name, actor: user.name });
    return org;
  }

  async get(name: string): Promise<Organization> {
    return this.identity.getOrganization(name);
  }

  async update(
    name: string,
    changes: { email?: string; tagExpirationSeconds?: number },
  ): Promise<Organization> {
    const org = await this.identity.getOrganization(name);
    const email =
      changes.email === undefined || changes.email === (org.email ?? '') ? undefined : changes.email;
    if (email) await this.identity.requireUnusedEmail(email);
    await this.identity.updateNamespaceSettings(name, {
      email,
      tagExpirationSeconds: changes.tagExpirationSeconds,
    });
    const updated = await this.identity.getOrganization(name);
    if (updated.email !== org.email)
      this.events.emit({
        type: 'organization.email_changed',
        organization: name,
        email: updated.email,
        previous: org.email,
      });
    if (changes.tagExpirationSeconds !== undefined)
      this.events.emit({
        type: 'organization.tag_expiration_changed',
        organization: name,
        seconds: changes.tagExpirationSeconds,
      });
    return updated;
  }

  /** Deletes an organization with its repositories, teams, robots, grants and prototypes. */
  async delete(name: string): Promise<void> {
    const org = await this.identity.getOrganization(name);
    await this.repositories.removeNamespace(name);
    await this.store.deleteNamespaceDelegateGrants(org.id);
    await this.identity.deleteOrganization(name);
    this.events.emit({ type: 'organization.deleted', organization: name });
  }

  // Members and collaborators

  /** The human members (users in any team), with their teams and direct repository grants. */
  async members(organization: string): Promise<OrganizationMember[]> {
    const org = await this.identity.getOrganization(organization);
    const memberships = await this.store.organizationMemberships(org.id);
    const members = new Map<string, OrganizationMember & { id: string }>();
    for (const m of memberships) {
      if (m.member_kind !== 'user') continue;
      let member = members.get(m.member_id);
      if (!member) {
        const name = await this.identity.delegateName('user', m.member_id);
        member = { id: m.member_id, name, kind: 'user', teams: [], repositories: [] };
        members.set(m.member_id, member);
      }
      member.teams.push(m.team_name);
    }
    for (const grant of await this.namespaceGrants(organization)) {
      if (grant.delegate_kind === 'user') members.get(grant.delegate_id)?.repositories.push(grant.repository);
    }
    return [...members.values()].map(({ id: _id, ...member }) => member);
  }

  /** One user or robot of the organization; NotFound unless it is in a team (or is one of its robots). */
  async member(organization: string, name: string): Promise<OrganizationMember> {
    const org = await this.identity.getOrganization(organization);
    const member = await this.identity.findMember(name);
    if (!member) throw new NotFound('MEMBER_NOT_FOUND', 'Not Found');
    const teams = (await this.store.teamsOf(org.id, member.kind, member.id)).map((t) => t.name);
    if (teams.length === 0 && !(member.kind === 'robot' && name.startsWith(`${organization}+`)))
      throw new NotFound('MEMBER_NOT_FOUND', 'Not Found');
    const repositories = (await this.namespaceGrants(organization))
      .filter((g) => g.delegate_kind === member.kind && g.delegate_id === member.id)
      .map((g) => g.repository);
    return { name, kind: member.kind, teams, repositories };
  }

  /** Takes a user out of every team and revokes its grants on the organization's repositories. */
  async removeMember(organization: string, name: string): Promise<void> {
    const org = await this.identity.getOrganization(organization);
    const user = await this.store.findUserByName(name);
    if (!user) throw new NotFound('MEMBER_NOT_FOUND', 'Not Found');
    const admins = await this.adminUsers(org.id);
    if (admins.size === 1 && admins.has(user.id))
      throw new Invalid('ONLY_ADMIN', 'Cannot remove user as they are the only organization admin');
    const repositoryIds = (await this.repositories.inNamespace(organization)).map((r) => r.id);
    await this.store.removeFromOrganization(org.id, 'user', user.id, repositoryIds);
    this.events.emit({ type: 'organization.member_removed', organization, member: name });
  }

  /** Users (not robots) with direct grants on the organization's repositories who are in none of its teams. */
  async collaborators(organization: string): Promise<Array<{ name: string; repositories: string[] }>> {
    const org = await this.identity.getOrganization(organization);
    const members = new Set(
      (await this.store.organizationMemberships(org.id))
        .filter((m) => m.member_kind === 'user')
        .map((m) => m.member_id),
    );
    const collaborators = new Map<string, { name: string; repositories: string[] }>();
    for (const grant of await this.namespaceGrants(organization)) {
      if (grant.delegate_kind !== 'user' || members.has(grant.delegate_id)) continue;
      let entry = collaborators.get(grant.delegate_id);
      if (!entry) {
        entry = { name: await this.identity.delegateName('user', grant.delegate_id), repositories: [] };
        collaborators.set(grant.delegate_id, entry);
      }
      entry.repositories.push(grant.repository);
    }
    return [...collaborators.values()];
  }

  // Teams

  /** The organization's teams in creation order, with member and repository counts. */
  async teams(organization: string): Promise<TeamSummary[]> {
    const org = await this.identity.getOrganization(organization);
    const [rows, counts] = await Promise.all([this.store.listTeams(org.id), this.store.teamCounts(org.id)]);
    return rows
      .sort((a, b) => a.created_at - b.created_at || a.name.localeCompare(b.name))
      .map((row) => ({
        id: row.id,
        organizationId: row.organization_id,
        name: row.name,
        role: row.role,
        description: row.description,
        memberCount: counts.get(row.id)?.members ?? 0,
        repositoryCount: counts.get(row.id)?.repositories ?? 0,
      }));
  }

  /**
   * Creates a team or changes its role and description. An admin may not take the admin role away
   * from the only admin team they are in.
   */
  async putTeam(
    organization: string,
    name: string,
    changes: { role: TeamRole; description?: string },
    actor: Subject,
  ): Promise<{ team: Team; created: boolean }> {
    const existing = await this.identity.findTeam(organization, name);
    if (
      existing?.role === 'admin' &&
      changes.role !== 'admin' &&
      (await this.isLastAdminTeamOf(actor, existing))
    )
      throw new Invalid(
        'LAST_ADMIN_TEAM',
        `Cannot remove admin from team '${name}' because calling user would no longer have admin on org '${organization}'`,
        { field: 'role' },
      );
    const result = await this.identity.upsertTeam(organization, name, {
      role: changes.role,
      description: changes.description ?? existing?.description,
    });
    if (result.created) {
      this.events.emit({ type: 'team.created', organization, team: name, role: changes.role });
      return result;
    }
    if (changes.description !== undefined && changes.description !== existing?.description)
      this.events.emit({
        type: 'team.description_changed',
        organization,
        team: name,
        description: changes.description,
      });
    if (changes.role !== existing?.role)
      this.events.emit({ type: 'team.role_changed', organization, team: name, role: changes.role });
    return result;
  }

  /** Deletes a team; an admin may not delete the only admin team they are in. */
  async deleteTeam(organization: string, name: string, actor: Subject): Promise<void> {
    const team = await this.identity.findTeam(organization, name);
    if (!team)
      throw new Invalid('UNKNOWN_TEAM', `Team '${name}' is not a team in org '${organization}'`, {
        field: 'teamname',
      });
    if (team.role === 'admin' && (await this.isLastAdminTeamOf(actor, team)))
      throw new Invalid(
        'LAST_ADMIN_TEAM',
        `Deleting team '${name}' would remove admin ability for user '${subjectName(actor)}' in organization '${organization}'`,
      );
    await this.identity.deleteTeam(organization, name);
    this.events.emit({ type: 'team.deleted', organization, team: name });
  }

  /** Users and robots in a team. */
  async teamMembers(
    organization: string,
    teamName: string,
  ): Promise<Array<{ name: string; isRobot: boolean }>> {
    const team = await this.identity.getTeam(organization, teamName);
    const members = await this.identity.teamMembers(team);
    return members
      .map((m) => ({ name: m.name, isRobot: m.kind === 'robot' }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Adds a user, or a robot of this organization, to a team. */
  async addTeamMember(
    organization: string,
    teamName: string,
    memberName: string,
  ): Promise<{ name: string; isRobot: boolean }> {
    const team = await this.identity.getTeam(organization, teamName);
    const member = await this.identity.findMember(memberName);
    if (!member) throw new Invalid('UNKNOWN_USER', 'Unknown user');
    if (member.kind === 'robot' && !memberName.startsWith(`${organization}+`))
      throw new Invalid(
        'ROBOT_NOT_IN_ORGANIZATION',
        'Cannot add the specified robot to this team, as it is not a member of the organization',
      );
    const current = await this.store.teamMembers(team.id);
    if (current.some((m) => m.member_kind === member.kind && m.member_id === member.id))
      throw new Invalid('ALREADY_MEMBER', `User '${memberName}' is already a member of team '${teamName}'`);
    await this.store.addTeamMember(team.id, member.kind, member.id);
    this.events.emit({ type: 'team.member_added', organization, team: teamName, member: memberName });
    return { name: memberName, isRobot: member.kind === 'robot' };
  }

  /** Removes a user or robot from a team; an admin may not leave the only admin team they are in. */
  async removeTeamMember(
    organization: string,
    teamName: string,
    memberName: string,
    actor: Subject,
  ): Promise<void> {
    const team = await this.identity.getTeam(organization, teamName);
    const member = await this.identity.findMember(memberName);
    if (!member) throw new NotFound('MEMBER_NOT_FOUND', 'Not Found');
    const current = await this.store.teamMembers(team.id);
    if (!current.some((m) => m.member_kind === member.kind && m.member_id === member.id))
      throw new Invalid('NOT_A_MEMBER', `User ${memberName} does not belong to team ${teamName}`);
    if (
      actor.kind === 'user' &&
      member.kind === 'user' &&
      member.id === actor.id &&
      team.role === 'admin' &&
      (await this.isLastAdminTeamOf(actor, team))
    )
      throw new Invalid('LAST_ADMIN_TEAM', 'User cannot remove themselves from their only admin team.');
    await this.store.removeTeamMember(team.id, member.kind, member.id);
    this.events.emit({ type: 'team.member_removed', organization, team: teamName, member: memberName });
  }

  /** Repositories of the organization granted to a team. */
  async teamPermissions(organization: string, teamName: string): Promise<RepositoryPermission[]> {
    const team = await this.identity.getTeam(organization, teamName);
    return this.permissionsOf(organization, 'team', team.id);
  }

  // Robots

  /** Repositories granted directly to a robot (`namespace+name`). */
  async robotPermissions(robotName: string): Promise<RepositoryPermission[]> {
    const robot = await this.store.findRobotByName(robotName);
    if (!robot)
      throw new Invalid('UNKNOWN_ROBOT', 'Could not find robot with specified username', { field: 'robot' });
    return this.permissionsOf(robotName.split('+', 1)[0]!, 'robot', robot.id);
  }

  /** For each robot of a namespace (by full name): the teams it is in and the repositories granted to it. */
  async robotMemberships(
    namespace: string,
  ): Promise<Map<string, { teams: string[]; repositories: string[] }>> {
    const ns = await this.store.findNamespace(namespace);
    if (!ns) throw new NotFound('NAMESPACE_NOT_FOUND', `namespace ${namespace} not found`);
    const robots = await this.store.robotsOf(ns.id);
    const byId = new Map(
      robots.map((r) => [r.id, { name: r.name, teams: [] as string[], repositories: [] as string[] }]),
    );
    if (ns.kind === 'organization') {
      for (const m of await this.store.organizationMemberships(ns.id))
        if (m.member_kind === 'robot') byId.get(m.member_id)?.teams.push(m.team_name);
    }
    for (const grant of await this.namespaceGrants(namespace))
      if (grant.delegate_kind === 'robot') byId.get(grant.delegate_id)?.repositories.push(grant.repository);
    return new Map([...byId.values()].map(({ name, ...rest }) => [name, rest]));
  }

  // Helpers

  /** Users in any admin team of the organization, by id. */
  private async adminUsers(organizationId: string): Promise<Set<string>> {
    return new Set(
      (await this.store.organizationMemberships(organizationId))
        .filter((m) => m.member_kind === 'user' && m.team_role === 'admin')
        .map((m) => m.member_id),
    );
  }

  /** Whether `team` is the only admin team of the organization the acting user is in. */
  private async isLastAdminTeamOf(actor: Subject, team: Team): Promise<boolean> {
    if (actor.kind !== 'user') return false;
    const adminTeams = (await this.store.teamsOf(team.organizationId, 'user', actor.id)).filter(
      (t) => t.role === 'admin',
    );
    return adminTeams.some((t) => t.id === team.id) && adminTeams.length <= 1;
  }

  /** Every grant on the namespace's repositories, with the repository's name within the namespace. */
  private async namespaceGrants(namespace: string) {
    const repositories = await this.repositories.inNamespace(namespace);
    const names = new Map(repositories.map((r) => [r.id, shortName(r.name)] as const));
    const grants = await this.store.grantsOn(repositories.map((r) => r.id));
    return grants
      .map((g) => ({ ...g, repository: names.get(g.repository_id)! }))
      .sort((a, b) => a.repository.localeCompare(b.repository));
  }

  private async permissionsOf(
    namespace: string,
    kind: 'team' | 'robot',
    id: string,
  ): Promise<RepositoryPermission[]> {
    const repositories = new Map(
      (await this.repositories.inNamespace(namespace)).map((r) => [r.id, r] as const),
    );
    return (await this.store.grantsOf(kind, id))
      .filter((g) => repositories.has(g.repository_id))
      .map((g) => {
        const repo = repositories.get(g.repository_id)!;
        return { repository: shortName(repo.name), isPublic: repo.visibility === 'public', role: g.role };
      })
      .sort((a, b) => a.repository.localeCompare(b.repository));
  }
}
