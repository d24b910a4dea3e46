import type { IdentityStore } from './identity.store.js';
import type { Subject } from './subject.js';
import type { RepositoryRole } from './tables.js';

export type RegistryAction = 'pull' | 'push' | 'delete';
export type Visibility = 'public' | 'private';

/** A repository as the policy sees it; `id` is absent when it does not exist yet. */
export interface RepositoryTarget {
  namespace: string;
  id?: string;
  visibility?: Visibility;
}

/** What a subject may list: everything, or public repositories plus these grants. */
export type VisibleSet = { all: true } | { all: false; repositoryIds: string[]; namespaces: string[] };

const rank: Record<RepositoryRole, number> = { read: 1, write: 2, admin: 3 };
const maxRole = (a: RepositoryRole | undefined, b: RepositoryRole | undefined) =>
  !a ? b : !b ? a : rank[a] >= rank[b] ? a : b;

const actionsByRole: Record<RepositoryRole, RegistryAction[]> = {
  read: ['pull'],
  write: ['pull', 'push', 'delete'],
  admin: ['pull', 'push', 'delete'],
};

/**
 * The one place that answers "may subject S do A on R". Every face asks it;
 * none re-implements a role check.
 */
export class Policy {
  constructor(private readonly store: IdentityStore) {}

  /** The subject's effective role on an existing repository, or undefined when it may not see it. */
  async repositoryRole(subject: Subject, target: RepositoryTarget): Promise<RepositoryRole | undefined> {
    if (!target.id) return undefined;
    const everyone: RepositoryRole | undefined = target.visibility === 'public' ? 'read' : undefined;
    if (subject.kind === 'anonymous') return everyone;
    if (subject.superuser) return 'admin';
    const namespace = await this.store.findNamespace(target.namespace);
    if (namespace?.kind === 'user' && namespace.id === subject.id) return 'admin';
    if (
      namespace?.kind === 'organization' &&
      (await this.store.memberRole(namespace.id, subject.id)) === 'admin'
    )
      return 'admin';
    return maxRole(await this.store.repositoryRole(target.id, subject.id), everyone);
  }

  /** May the subject create a repository in this namespace? Owners, superusers, organization admins and creators may. */
  async canCreateRepository(subject: Subject, namespaceName: string): Promise<boolean> {
    if (subject.kind === 'anonymous') return false;
    const namespace = await this.store.findNamespace(namespaceName);
    if (!namespace) return false;
    if (subject.superuser) return true;
    if (namespace.kind === 'user') return namespace.id === subject.id;
    const role = await this.store.memberRole(namespace.id, subject.id);
    return role === 'admin' || role === 'creator';
  }

  /** Registry actions granted on a repository; on one that does not exist yet, those of whoever may create it. */
  async registryActions(subject: Subject, target: RepositoryTarget): Promise<Set<RegistryAction>> {
    if (!target.id) {
      return new Set((await this.canCreateRepository(subject, target.namespace)) ? actionsByRole.admin : []);
    }
    const role = await this.repositoryRole(subject, target);
    return new Set(role ? actionsByRole[role] : []);
  }

  async visibleSet(subject: Subject): Promise<VisibleSet> {
    if (subject.kind === 'anonymous') return { all: false, repositoryIds: [], namespaces: [] };
    if (subject.superuser) return { all: true };
    return { all: false, ...(await this.store.visibilityGrants(subject.id)) };
  }
}
