import type { IdentityStore } from './identity.store.js';
import type { Scope } from './scopes.js';
import { delegateOf, type Subject } from './subject.js';
import type { RepositoryRole, TeamRole } from './tables.js';

export type RegistryAction = 'pull' | 'push' | 'delete';
export type Visibility = 'public' | 'private';
export type RepositoryState = 'NORMAL' | 'READ_ONLY' | 'MIRROR';

/** A repository as the policy sees it; `id` is absent when it does not exist yet. */
export interface RepositoryTarget {
  namespace: string;
  id?: string;
  visibility?: Visibility;
  state?: RepositoryState;
}

/** What a subject may list: everything, or public repositories plus these grants. */
export type VisibleSet = { all: true } | { all: false; repositoryIds: string[]; namespaces: string[] };

const repoRank: Record<RepositoryRole, number> = { read: 1, write: 2, admin: 3 };
const teamRank: Record<TeamRole, number> = { member: 1, creator: 2, admin: 3 };

function best<R extends string>(rank: Record<R, number>, ...roles: Array<R | undefined>): R | undefined {
  return roles.reduce<R | undefined>((a, b) => (!a ? b : !b ? a : rank[a] >= rank[b] ? a : b), undefined);
}
function least<R extends string>(rank: Record<R, number>, a: R | undefined, b: R | undefined): R | undefined {
  return !a || !b ? undefined : rank[a] <= rank[b] ? a : b;
}

// How far each scope lets a token reach (Quay auth/permissions.py): the best over the token's scopes wins.
const repoCap: Partial<Record<Scope, RepositoryRole>> = {
  'repo:read': 'read',
  'repo:write': 'write',
  'repo:admin': 'admin',
};
const teamCap: Partial<Record<Scope, TeamRole>> = { 'repo:create': 'creator', 'org:admin': 'admin' };
const capOf = <R extends string>(
  rank: Record<R, number>,
  caps: Partial<Record<Scope, R>>,
  scopes: ReadonlySet<Scope>,
) => best(rank, ...[...scopes].map((s) => caps[s]));

const actionsByRole: Record<RepositoryRole, RegistryAction[]> = {
  read: ['pull'],
  write: ['pull', 'push', 'delete'],
  admin: ['pull', 'push', 'delete'],
};

/**
 * The one place that answers "may subject S do A on R". Every face asks it;
 * none re-implements a role check. Roles come from the namespace (owner,
 * organization teams) and from grants (to the user or robot, or to a team it is
 * in); an OAuth or app token's scopes then cap them, as Quay does.
 */
export class Policy {
  constructor(private readonly store: IdentityStore) {}

  /** A superuser acting with full powers: a password or session login, or a token with `super:user`. */
  isSuperuser(subject: Subject): boolean {
    return (
      subject.kind === 'user' && subject.superuser && (!subject.scopes || subject.scopes.has('super:user'))
    );
  }

  /** May the subject read (`read`) or change (`admin`) its own account through this credential? */
  userAccess(subject: Subject, level: 'read' | 'admin'): boolean {
    if (subject.kind !== 'user') return false;
    if (!subject.scopes) return true;
    return subject.scopes.has('user:admin') || (level === 'read' && subject.scopes.has('user:read'));
  }

  /** The subject's role in an organization (the best role of its teams), capped by token scopes; superusers are admins. */
  async organizationRole(subject: Subject, organizationName: string): Promise<TeamRole | undefined> {
    if (this.isSuperuser(subject)) return 'admin';
    const member = delegateOf(subject);
    if (!member) return undefined;
    const org = await this.store.findNamespace(organizationName);
    if (org?.kind !== 'organization') return undefined;
    const role = best(teamRank, ...(await this.store.teamRolesOf(org.id, member.kind, member.id)));
    return subject.kind === 'user' && subject.scopes
      ? least(teamRank, role, capOf(teamRank, teamCap, subject.scopes))
      : role;
  }

  /** The subject's effective role on an existing repository, or undefined when it may not see it. */
  async repositoryRole(subject: Subject, target: RepositoryTarget): Promise<RepositoryRole | undefined> {
    if (!target.id) return undefined;
    const everyone: RepositoryRole | undefined = target.visibility === 'public' ? 'read' : undefined;
    const member = delegateOf(subject);
    if (!member) return everyone;
    let role: RepositoryRole | undefined;
    if (this.isSuperuser(subject) || (subject.kind === 'user' && subject.name === target.namespace)) {
      role = 'admin';
    } else {
      const namespace = await this.store.findNamespace(target.namespace);
      const teamRoles =
        namespace?.kind === 'organization'
          ? await this.store.teamRolesOf(namespace.id, member.kind, member.id)
          : [];
      const orgAdmin = teamRoles.includes('admin') ? 'admin' : undefined;
      role = best(repoRank, orgAdmin, ...(await this.store.grantedRoles(target.id, member.kind, member.id)));
    }
    if (subject.kind === 'user' && subject.scopes)
      role = least(repoRank, role, capOf(repoRank, repoCap, subject.scopes));
    return best(repoRank, role, everyone);
  }

  /** May the subject create a repository in this namespace? Owners, superusers, organization admins and creators may. */
  async canCreateRepository(subject: Subject, namespaceName: string): Promise<boolean> {
    if (subject.kind === 'anonymous') return false;
    if (
      subject.kind === 'user' &&
      subject.scopes &&
      !subject.scopes.has('repo:create') &&
      !this.isSuperuser(subject)
    )
      return false;
    const namespace = await this.store.findNamespace(namespaceName);
    if (!namespace) return false;
    if (this.isSuperuser(subject)) return true;
    if (namespace.kind === 'user') return subject.kind === 'user' && namespace.id === subject.id;
    const role = await this.organizationRole(subject, namespaceName);
    return role === 'admin' || role === 'creator';
  }

  /**
   * Registry actions granted on a repository; on one that does not exist yet, those of whoever may create it.
   * Repositories in READ_ONLY or MIRROR state take no pushes or deletes.
   */
  async registryActions(subject: Subject, target: RepositoryTarget): Promise<Set<RegistryAction>> {
    if (!target.id) {
      return new Set((await this.canCreateRepository(subject, target.namespace)) ? actionsByRole.admin : []);
    }
    const role = await this.repositoryRole(subject, target);
    const actions = role ? actionsByRole[role] : [];
    return new Set(target.state && target.state !== 'NORMAL' ? actions.filter((a) => a === 'pull') : actions);
  }

  async visibleSet(subject: Subject): Promise<VisibleSet> {
    const member = delegateOf(subject);
    if (!member) return { all: false, repositoryIds: [], namespaces: [] };
    if (this.isSuperuser(subject)) return { all: true };
    return { all: false, ...(await this.store.visibilityGrants(member.kind, member.id)) };
  }
}
