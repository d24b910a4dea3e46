import type { EventBus } from '../platform/events.js';
import { Invalid, NotFound } from '../platform/errors.js';
import {
  subjectName,
  type IdentityService,
  type RepositoryRole,
  type RobotsService,
  type Subject,
} from '../identity/index.js';
import type { Repository } from './repositories.service.js';

export interface UserPermission {
  name: string;
  isRobot: boolean;
  role: RepositoryRole;
  /** Set in organizations: whether the user is in one of its teams (robots always are). */
  isOrgMember?: boolean;
}

export interface TeamPermission {
  name: string;
  role: RepositoryRole;
}

/** Quay's model errors for permissions (400 invalid_request, its wording). */
const noUserPermission = () =>
  new Invalid('NO_PERMISSION', 'User does not have permission for repo.', {
    payload: { message: 'User does not have permission for repo.' },
  });
const noTeamPermission = () =>
  new Invalid('NO_PERMISSION', 'Team does not have permission for repo.', {
    payload: { message: 'Team does not have permission for repo.' },
  });
const ownerMustBeAdmin = () => new Invalid('OWNER_MUST_BE_ADMIN', 'Namespace owner must always be admin.');

/**
 * Permissions on one repository, per user or robot and per team (Quay's `permission.py`).
 * The owner of a user namespace is listed as admin of its repositories, as Quay records it.
 */
export class RepositoryPermissionsService {
  constructor(
    private readonly identity: IdentityService,
    private readonly robots: RobotsService,
    private readonly events: EventBus,
  ) {}

  private async grants(repo: Repository) {
    return this.identity.listGrants(repo.id);
  }

  /** A user or robot by name, or undefined. */
  private async member(name: string): Promise<{ kind: 'user' | 'robot'; id: string } | undefined> {
    if (name.includes('+')) {
      const robot = await this.robots.find(name);
      return robot && { kind: 'robot', id: robot.id };
    }
    const user = await this.identity.findUserByName(name);
    return user && { kind: 'user', id: user.id };
  }

  private async view(
    repo: Repository,
    grant: { kind: 'user' | 'robot'; id: string; name: string; role: RepositoryRole },
  ): Promise<UserPermission> {
    const org = await this.identity.findOrganization(repo.namespace);
    const view: UserPermission = { name: grant.name, isRobot: grant.kind === 'robot', role: grant.role };
    if (!org) return view;
    if (grant.kind === 'robot') return { ...view, isOrgMember: true };
    const user = await this.identity.getUser(grant.id);
    const orgs = user ? await this.identity.organizationsOf(user) : [];
    return { ...view, isOrgMember: orgs.some((o) => o.id === org.id) };
  }

  /** The namespace owner's implicit admin entry, for a repository in a user namespace. */
  private async owner(repo: Repository): Promise<UserPermission | undefined> {
    const user = await this.identity.findUserByName(repo.namespace);
    return user && { name: user.name, isRobot: false, role: 'admin' };
  }

  async listUsers(repo: Repository): Promise<UserPermission[]> {
    const owner = await this.owner(repo);
    const grants = (await this.grants(repo)).filter(
      (g): g is typeof g & { kind: 'user' | 'robot' } => g.kind !== 'team' && g.name !== '',
    );
    const views = await Promise.all(grants.map((g) => this.view(repo, g)));
    return owner ? [owner, ...views.filter((v) => v.name !== owner.name)] : views;
  }

  async getUser(repo: Repository, name: string): Promise<UserPermission> {
    const found = (await this.listUsers(repo)).find((p) => p.name === name);
    if (!found) throw noUserPermission();
    return found;
  }

  async setUser(
    repo: Repository,
    name: string,
    role: RepositoryRole,
    subject: Subject,
  ): Promise<UserPermission> {
    if (name === repo.namespace) throw ownerMustBeAdmin();
    if (!(await this.member(name)))
      throw new Invalid('INVALID_USERNAME', `Invalid username: ${name}`, { field: 'username' });
    const previous =
      (await this.grants(repo)).find((g) => g.kind !== 'team' && g.name === name)?.role ?? null;
    await this.identity.setGrant(repo.id, repo.namespace, { kind: 'user', name }, role);
    this.events.emit({
      type: 'repository.permission_changed',
      repository: repo.name,
      delegate: { kind: name.includes('+') ? 'robot' : 'user', name },
      role,
      previous,
      actor: subjectName(subject),
    });
    return this.getUser(repo, name);
  }

  async deleteUser(repo: Repository, name: string, subject: Subject): Promise<void> {
    if (name === repo.namespace) throw ownerMustBeAdmin();
    const grant = (await this.grants(repo)).find((g) => g.kind !== 'team' && g.name === name);
    if (!grant) throw noUserPermission();
    await this.identity.removeGrant(repo.id, repo.namespace, { kind: 'user', name });
    this.events.emit({
      type: 'repository.permission_changed',
      repository: repo.name,
      delegate: { kind: grant.kind === 'robot' ? 'robot' : 'user', name },
      role: null,
      previous: grant.role,
      actor: subjectName(subject),
    });
  }

  /** The roles a user holds on the repository through its own grants and its teams' (404 when none). */
  async transitive(repo: Repository, name: string): Promise<RepositoryRole[]> {
    const member = await this.member(name);
    const roles = member ? await this.identity.grantedRoles(repo.id, member) : [];
    if (roles.length === 0) throw new NotFound('NO_PERMISSION', 'Not Found');
    return roles;
  }

  async listTeams(repo: Repository): Promise<TeamPermission[]> {
    return (await this.grants(repo))
      .filter((g) => g.kind === 'team' && g.name !== '')
      .map((g) => ({ name: g.name, role: g.role }));
  }

  async getTeam(repo: Repository, team: string): Promise<TeamPermission> {
    const found = (await this.listTeams(repo)).find((t) => t.name === team);
    if (!found) throw noTeamPermission();
    return found;
  }

  async setTeam(
    repo: Repository,
    team: string,
    role: RepositoryRole,
    subject: Subject,
  ): Promise<TeamPermission> {
    const org = await this.identity.findOrganization(repo.namespace);
    if (!org || !(await this.identity.findTeam(org.name, team)))
      throw new Invalid('UNKNOWN_TEAM', `No team ${team} in organization ${repo.namespace}`, {
        field: 'team',
      });
    const previous = (await this.listTeams(repo)).find((t) => t.name === team)?.role ?? null;
    await this.identity.setGrant(repo.id, repo.namespace, { kind: 'team', name: team }, role);
    this.events.emit({
      type: 'repository.permission_changed',
      repository: repo.name,
      delegate: { kind: 'team', name: team },
      role,
      previous,
      actor: subjectName(subject),
    });
    return { name: team, role };
  }

  async deleteTeam(repo: Repository, team: string, subject: Subject): Promise<void> {
    const grant = await this.getTeam(repo, team);
    await this.identity.removeGrant(repo.id, repo.namespace, { kind: 'team', name: team });
    this.events.emit({
      type: 'repository.permission_changed',
      repository: repo.name,
      delegate: { kind: 'team', name: team },
      role: null,
      previous: grant.role,
      actor: subjectName(subject),
    });
  }
}
