import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Conflict, NotFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import {
  delegateOf,
  subjectName,
  type IdentityService,
  type Policy,
  type RepositoryRole,
  type RepositoryState,
  type RepositoryTarget,
  type Subject,
  type Visibility,
} from '../identity/index.js';
import { namespaceOf, validateRepositoryName } from './names.js';
import type { RegistryStore } from './registry.store.js';

export interface Repository {
  id: string;
  name: string;
  namespace: string;
  visibility: Visibility;
  description: string;
  state: RepositoryState;
  kind: string;
  createdAt: number;
}

/** The domain view of a `repositories` row. */
export const toRepository = (row: {
  id: string;
  name: string;
  namespace: string;
  visibility: Visibility;
  description: string;
  state: RepositoryState;
  kind: string;
  created_at: number;
}): Repository => ({
  id: row.id,
  name: row.name,
  namespace: row.namespace,
  visibility: row.visibility,
  description: row.description,
  state: row.state,
  kind: row.kind,
  createdAt: row.created_at,
});

export class RepositoriesService {
  constructor(
    private readonly store: RegistryStore,
    private readonly identity: IdentityService,
    private readonly policy: Policy,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async find(name: string): Promise<Repository | undefined> {
    const row = await this.store.findRepository(validateRepositoryName(name));
    return row ? toRepository(row) : undefined;
  }

  async get(name: string): Promise<Repository> {
    const repo = await this.find(name);
    if (!repo) throw new NotFound('NAME_UNKNOWN', 'repository name not known to registry', { name });
    return repo;
  }

  /** Every repository of a namespace, by name. */
  async inNamespace(namespace: string): Promise<Repository[]> {
    return (await this.store.repositoriesInNamespace(namespace)).map(toRepository);
  }

  /** The repository as the policy sees it, whether or not it exists yet. */
  async target(name: string): Promise<RepositoryTarget> {
    const repo = await this.find(name);
    return repo
      ? { namespace: repo.namespace, id: repo.id, visibility: repo.visibility, state: repo.state }
      : { namespace: namespaceOf(name) };
  }

  /**
   * Creates a repository (private unless asked otherwise). In an organization the
   * creator gets admin on it and the organization's default permissions apply, as in Quay.
   * The caller has already asked the policy whether the subject may create here.
   */
  async create(
    name: string,
    subject: Subject,
    opts: { visibility?: Visibility; description?: string; kind?: string; creatorRole?: RepositoryRole } = {},
  ): Promise<Repository> {
    validateRepositoryName(name);
    const row = {
      id: newId(),
      name,
      namespace: namespaceOf(name),
      visibility: opts.visibility ?? ('private' as const),
      description: opts.description ?? '',
      state: 'NORMAL' as const,
      kind: opts.kind ?? 'image',
      created_at: this.clock.now(),
    };
    if (!(await this.store.insertRepository(row))) {
      throw new Conflict('REPOSITORY_EXISTS', 'Repository already exists', { field: 'repository' });
    }
    const delegate = delegateOf(subject);
    if (delegate && subjectName(subject) !== row.namespace) {
      await this.identity.grantRepository(row.id, delegate, opts.creatorRole ?? 'admin');
      await this.identity.applyPrototypes(row.namespace, row.id, subject);
    }
    this.events.emit({ type: 'repository.created', repository: name, actor: subjectName(subject) });
    return toRepository(row);
  }

  /** The repository, created on first push (or first pull through a proxy cache, with `opts`). */
  async ensure(
    name: string,
    subject: Subject,
    opts: { creatorRole?: RepositoryRole } = {},
  ): Promise<Repository> {
    const existing = await this.find(name);
    if (existing) return existing;
    try {
      return await this.create(name, subject, opts);
    } catch (err) {
      if (err instanceof Conflict) return this.get(name); // a concurrent push created it
      throw err;
    }
  }

  async setVisibility(name: string, visibility: Visibility): Promise<void> {
    await this.store.setVisibility((await this.get(name)).id, visibility);
  }

  /** Names the subject may see, in byte order, after `last`. */
  async list(subject: Subject, opts: { last?: string; limit: number }): Promise<string[]> {
    const visible = await this.policy.visibleSet(subject);
    return visible.all
      ? this.store.listRepositoryNames({ all: true, repositoryIds: [], namespaces: [], ...opts })
      : this.store.listRepositoryNames({
          all: false,
          repositoryIds: visible.repositoryIds,
          namespaces: visible.namespaces,
          ...opts,
        });
  }
}
