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

/** Scopes that imply another (Quay auth/scopes.py IMPLIED_SCOPES): repo:admin ⊃ repo:write ⊃ repo:read. */
const impliedBy: Partial<Record<Scope, Scope[]>> = {
  'repo:read': ['repo:write', 'repo:admin'],
  'repo:write': ['repo:admin'],
};

/**
 * What the policy needs to know about repositories and namespaces that other contexts own:
 * which organizations are proxy caches, which robot mirrors into a repository.
 */
export interface RegistryFacts {
  isProxyCache(namespace: string): Promise<boolean>;
  mirrorRobot(repositoryId: string): Promise<string | undefined>;
}
const noRegistryFacts: RegistryFacts = {
  isProxyCache: async () => false,
  mirrorRobot: async () => undefined,
};

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
  constructor(
    private readonly store: IdentityStore,
    private readonly facts: RegistryFacts = noRegistryFacts,
  ) {}

  /** A superuser acting with full powers: a password or session login, or a token with `super:user`. */
  isSuperuser(subject: Subject): boolean {
    return (
      subject.kind === 'user' && subject.superuser && (!subject.scopes || subject.scopes.has('super:user'))
    );
  }

  /**
   * May the subject read what belongs to a namespace as a whole (its pipelines, runs and their logs)? Superusers,
   * the user owning it, and members of the organization owning it may.
   */
  async canReadNamespace(subject: Subject, namespace: string): Promise<boolean> {
    if (this.isSuperuser(subject)) return true;
    if (subject.kind === 'user' && subject.name === namespace) return true;
    return (await this.organizationRole(subject, namespace)) !== undefined;
  }

  /**
   * May the subject administer a namespace as a whole (its secrets and stored credentials, its settings)?
   * Superusers, the user owning it (a token needs `repo:admin`) and admins of the organization owning it.
   */
  async canAdministerNamespace(subject: Subject, namespace: string): Promise<boolean> {
    if (this.isSuperuser(subject)) return true;
    if (subject.kind === 'user' && subject.name === namespace) {
      return !subject.scopes || subject.scopes.has('repo:admin');
    }
    return (await this.organizationRole(subject, namespace)) === 'admin';
  }

  /**
   * May the subject define and run a namespace's pipelines (create, change, delete, start, cancel, re-run)?
   * Superusers, the user owning it (a token needs `repo:write`), and members of the organization owning it
   * with the creator or admin team role — those who may also create its repositories.
   */
  async canRunPipelines(subject: Subject, namespace: string): Promise<boolean> {
    if (this.isSuperuser(subject)) return true;
    if (subject.kind === 'user' && subject.name === namespace) {
      return !subject.scopes || subject.scopes.has('repo:write') || subject.scopes.has('repo:admin');
    }
    const role = await this.organizationRole(subject, namespace);
    return role === 'creator' || role === 'admin';
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

  /**
   * May the subject see a team and its members? Organization admins and the team's own members may
   * (Quay's ViewTeamPermission); token scopes that cap away organization membership cap this too.
   */
  async canViewTeam(subject: Subject, organizationName: string, teamName: string): Promise<boolean> {
    const role = await this.organizationRole(subject, organizationName);
    if (role === 'admin') return true;
    const member = delegateOf(subject);
    const org = role && member ? await this.store.findNamespace(organizationName) : undefined;
    if (!org || !member) return false;
    return (await this.store.teamsOf(org.id, member.kind, member.id)).some((t) => t.name === teamName);
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
   * Repositories in READ_ONLY or MIRROR state take no pushes or deletes (but from a MIRROR's own robot);
   * members of a proxy-cache organization may pull from it.
   */
  async registryActions(subject: Subject, target: RepositoryTarget): Promise<Set<RegistryAction>> {
    if (!target.id) {
      if (await this.canCreateRepository(subject, target.namespace)) return new Set(actionsByRole.admin);
      return new Set((await this.pullsThrough(subject, target.namespace)) ? ['pull'] : []);
    }
    const role = await this.repositoryRole(subject, target);
    const actions = new Set(role ? actionsByRole[role] : []);
    // A MIRROR repository takes writes from its mirror robot only (Quay's v2auth).
    const mirrorRobot =
      target.state === 'MIRROR' &&
      subject.kind === 'robot' &&
      (await this.facts.mirrorRobot(target.id)) === subject.id;
    if (target.state && target.state !== 'NORMAL' && !mirrorRobot)
      for (const a of actions) if (a !== 'pull') actions.delete(a);
    if (!actions.has('pull') && (await this.pullsThrough(subject, target.namespace))) actions.add('pull');
    return actions;
  }

  /** Members of a proxy-cache organization may pull any repository in it, present or not (Quay's can_pullthru). */
  private async pullsThrough(subject: Subject, namespace: string): Promise<boolean> {
    if (subject.kind === 'anonymous' || !(await this.facts.isProxyCache(namespace))) return false;
    return (await this.organizationRole(subject, namespace)) !== undefined;
  }

  /**
   * May the subject mint a token with these scopes for an organization's application (Quay's
   * `_can_mint_scope`)? A token caller cannot mint scopes it does not hold itself; repository
   * scopes and org:admin need organization admin, repo:create a creator, super:user a superuser.
   */
  async canMintScopes(subject: Subject, organizationName: string, scopes: Iterable<Scope>): Promise<boolean> {
    if (subject.kind !== 'user') return false;
    const wanted = [...scopes];
    const held = subject.scopes;
    if (held && wanted.some((s) => !held.has(s) && !(impliedBy[s] ?? []).some((i) => held.has(i))))
      return false;
    const role = await this.organizationRole(subject, organizationName);
    return wanted.every((scope) => {
      switch (scope) {
        case 'repo:read':
        case 'repo:write':
        case 'repo:admin':
        case 'org:admin':
          return role === 'admin';
        case 'repo:create':
          return role === 'admin' || role === 'creator';
        case 'user:read':
        case 'user:admin':
          return true;
        case 'super:user':
          return this.isSuperuser(subject);
      }
    });
  }

  /** What the subject may list; a token without any repo:* scope reads (and so lists) public repositories only. */
  async visibleSet(subject: Subject): Promise<VisibleSet> {
    const member = delegateOf(subject);
    if (!member) return { all: false, repositoryIds: [], namespaces: [] };
    if (subject.kind === 'user' && subject.scopes && !capOf(repoRank, repoCap, subject.scopes))
      return { all: false, repositoryIds: [], namespaces: [] };
    if (this.isSuperuser(subject)) return { all: true };
    return { all: false, ...(await this.store.visibilityGrants(member.kind, member.id)) };
  }
}
