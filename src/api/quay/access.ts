import { Denied, NotFound, Unauthenticated } from '../../platform/errors.js';
import type { Policy, RepositoryRole, Scope, Subject, TeamRole } from '../../identity/index.js';
import type { RepositoriesService, Repository } from '../../registry/index.js';

const repoRank: Record<RepositoryRole, number> = { read: 1, write: 2, admin: 3 };
const teamRank: Record<TeamRole, number> = { member: 1, creator: 2, admin: 3 };

/** Quay's refusal: 401 to the anonymous, 403 to everyone else. */
export function refuse(subject: Subject): never {
  if (subject.kind === 'anonymous') throw new Unauthenticated('UNAUTHENTICATED', 'Requires authentication');
  throw new Denied('UNAUTHORIZED', 'Unauthorized');
}

/** The signed-in user (not a robot), or a refusal. */
export function requireUser(subject: Subject): Extract<Subject, { kind: 'user' }> {
  if (subject.kind !== 'user') refuse(subject);
  return subject;
}

/**
 * Access checks of the Quay face, each one question to the policy.
 * Permission is checked before existence: a missing repository looks exactly like a
 * forbidden one, except to those who administer its namespace.
 */
export class QuayAccess {
  constructor(
    private readonly policy: Policy,
    private readonly repositories: RepositoriesService,
  ) {}

  /** The repository, if the subject has at least `need` on it. */
  async repository(subject: Subject, name: string, need: RepositoryRole): Promise<Repository> {
    return (await this.repositoryWithRole(subject, name, need)).repo;
  }

  /** The repository and the subject's role on it (at least `need`), for views that show more to writers or admins. */
  async repositoryWithRole(
    subject: Subject,
    name: string,
    need: RepositoryRole,
  ): Promise<{ repo: Repository; role: RepositoryRole }> {
    const repo = await this.repositories.find(name);
    if (repo) {
      const role = await this.repositoryRole(subject, repo);
      if (role && repoRank[role] >= repoRank[need]) return { repo, role };
    } else if (await this.administersNamespace(subject, name.split('/', 1)[0]!)) {
      throw new NotFound('REPOSITORY_NOT_FOUND', 'Not Found');
    }
    refuse(subject);
  }

  /** The subject's role on the repository, for `can_write` / `can_admin` flags. */
  async repositoryRole(subject: Subject, repo: Repository): Promise<RepositoryRole | undefined> {
    return this.policy.repositoryRole(subject, {
      namespace: repo.namespace,
      id: repo.id,
      visibility: repo.visibility,
      state: repo.state,
    });
  }

  /** Owner of a user namespace, admin of an organization, or superuser. */
  async administersNamespace(subject: Subject, namespace: string): Promise<boolean> {
    return this.policy.canAdministerNamespace(subject, namespace);
  }

  /** Requires at least `need` in the organization (team roles; superusers are admins). */
  async organization(subject: Subject, organization: string, need: TeamRole): Promise<void> {
    const role = await this.policy.organizationRole(subject, organization);
    if (!role || teamRank[role] < teamRank[need]) refuse(subject);
  }

  /** Requires that the subject may see the team: an organization admin or one of the team's members. */
  async team(subject: Subject, organization: string, team: string): Promise<void> {
    if (!(await this.policy.canViewTeam(subject, organization, team))) refuse(subject);
  }

  async canViewTeam(subject: Subject, organization: string, team: string): Promise<boolean> {
    return this.policy.canViewTeam(subject, organization, team);
  }

  async organizationRole(subject: Subject, organization: string): Promise<TeamRole | undefined> {
    return this.policy.organizationRole(subject, organization);
  }

  /** The signed-in user acting on its own account with `read` (user:read) or `admin` (user:admin) reach. */
  user(subject: Subject, level: 'read' | 'admin'): Extract<Subject, { kind: 'user' }> {
    const user = requireUser(subject);
    if (!this.policy.userAccess(user, level)) refuse(user);
    return user;
  }

  /** Whether the subject may reach its own account at this level (no refusal: for views that show more to the owner). */
  reachesOwnAccount(subject: Subject, level: 'read' | 'admin'): boolean {
    return this.policy.userAccess(subject, level);
  }

  superuser(subject: Subject): Extract<Subject, { kind: 'user' }> {
    if (!this.policy.isSuperuser(subject)) refuse(subject);
    return subject as Extract<Subject, { kind: 'user' }>;
  }

  isSuperuser(subject: Subject): boolean {
    return this.policy.isSuperuser(subject);
  }

  async canCreateRepository(subject: Subject, namespace: string): Promise<boolean> {
    return this.policy.canCreateRepository(subject, namespace);
  }

  /** Refuses unless the subject may mint a token with these scopes for the organization's applications. */
  async mintScopes(subject: Subject, organization: string, scopes: Iterable<Scope>): Promise<void> {
    if (!(await this.policy.canMintScopes(subject, organization, scopes))) refuse(subject);
  }

  /** Whether a token credential carries a scope (password and session logins carry every scope). */
  userScope(subject: Subject, scope: Scope): boolean {
    return subject.kind === 'user' && (!subject.scopes || subject.scopes.has(scope));
  }
}
