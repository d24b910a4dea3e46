import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { NotFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import {
  subjectName,
  type IdentityService,
  type Policy,
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
}

export class RepositoriesService {
  constructor(
    private readonly store: RegistryStore,
    private readonly identity: IdentityService,
    private readonly policy: Policy,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async find(name: string): Promise<Repository | undefined> {
    return this.store.findRepository(validateRepositoryName(name));
  }

  async get(name: string): Promise<Repository> {
    const repo = await this.find(name);
    if (!repo) throw new NotFound('NAME_UNKNOWN', 'repository name not known to registry', { name });
    return repo;
  }

  /** The repository as the policy sees it, whether or not it exists yet. */
  async target(name: string): Promise<RepositoryTarget> {
    const repo = await this.find(name);
    return repo
      ? { namespace: repo.namespace, id: repo.id, visibility: repo.visibility }
      : { namespace: namespaceOf(name) };
  }

  /**
   * The repository, created (private) on first push. The caller's token already
   * proved the subject may push here. In an organization, the creator gets admin on it, as in Quay.
   */
  async ensure(name: string, subject: Subject): Promise<Repository> {
    const existing = await this.find(name);
    if (existing) return existing;
    const repo: Repository = { id: newId(), name, namespace: namespaceOf(name), visibility: 'private' };
    const created = await this.store.insertRepository({ ...repo, created_at: this.clock.now() });
    if (!created) return this.get(name);
    if (subject.kind === 'user' && subject.name !== repo.namespace) {
      await this.identity.grantRepository(repo.id, subject.id, 'admin');
    }
    this.events.emit({ type: 'repository.created', repository: name, actor: subjectName(subject) });
    return repo;
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
