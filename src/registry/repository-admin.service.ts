import type { EventBus } from '../platform/events.js';
import { Invalid } from '../platform/errors.js';
import {
  subjectName,
  type IdentityService,
  type Policy,
  type RepositoryState,
  type Subject,
  type Visibility,
} from '../identity/index.js';
import { validateRepositoryName } from './names.js';
import { toRepository, type RepositoriesService, type Repository } from './repositories.service.js';
import type { RepositoryAdminStore } from './repository-admin.store.js';
import type { StarsService } from './stars.service.js';
import type { TagView, TagsService } from './tags.service.js';

/** Quay's repository name rule (util/names.py REPOSITORY_NAME_REGEX): one path segment. */
const quayNamePattern = /^[a-z0-9][.a-z0-9_-]{0,254}$/;

export interface RepositoryListItem extends Repository {
  /** Start of the newest alive tag (epoch ms), when asked for; null without tags. */
  lastModified?: number | null;
  starred: boolean;
}

export interface RepositoryDetails {
  isOrganization: boolean;
  tagExpirationSeconds: number;
  starred: boolean;
  /** The alive tags, newest first, when asked for. */
  tags?: TagView[];
}

/** The repository use cases of the Quay API: create, list, describe, settings and delete. */
export class RepositoryAdminService {
  constructor(
    private readonly store: RepositoryAdminStore,
    private readonly repositories: RepositoriesService,
    private readonly identity: IdentityService,
    private readonly policy: Policy,
    private readonly tags: TagsService,
    private readonly stars: StarsService,
    private readonly events: EventBus,
  ) {}

  /**
   * Creates `namespace/name` for a subject the caller found allowed to create there. Quay's
   * checks, in its order: the name is free, then it is valid (one lower-case segment that is
   * also a valid OCI name).
   */
  async create(
    subject: Subject,
    input: { namespace: string; name: string; visibility: Visibility; description: string },
  ): Promise<Repository> {
    const fullName = `${input.namespace}/${input.name}`;
    const valid = quayNamePattern.test(input.name) && isOciName(fullName);
    if (valid && (await this.repositories.find(fullName)))
      throw new Invalid('REPOSITORY_EXISTS', 'Repository already exists');
    if (!valid)
      throw new Invalid('INVALID_REPOSITORY_NAME', 'Invalid repository name', { field: 'repository' });
    return this.repositories.create(fullName, subject, {
      visibility: input.visibility,
      description: input.description,
    });
  }

  /**
   * One page (by name) of the repositories the subject may see, narrowed like Quay's `listRepos`:
   * to a namespace, to public ones added (`includePublic`), or to the starred ones.
   */
  async list(
    subject: Subject,
    query: {
      namespace?: string;
      includePublic: boolean;
      starred: boolean;
      kind: string;
      lastModified: boolean;
      after?: string;
      limit: number;
    },
  ): Promise<{ repositories: RepositoryListItem[]; nextAfter?: string }> {
    const starredIds = subject.kind === 'user' ? await this.stars.starredIds(subject.id) : new Set<string>();
    const visible = await this.policy.visibleSet(subject);
    const rows = await this.store.list({
      visible,
      // Starred repositories stay listed while public, as Quay's `can_view_repo` does.
      includePublic: query.includePublic || query.starred,
      namespace: query.namespace,
      kind: query.kind,
      onlyIds: query.starred ? [...starredIds] : undefined,
      after: query.after,
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const modified = query.lastModified ? await this.tags.lastModified(page.map((r) => r.id)) : undefined;
    return {
      repositories: page.map((row) => ({
        ...toRepository(row),
        starred: starredIds.has(row.id),
        ...(modified ? { lastModified: modified.get(row.id) ?? null } : {}),
      })),
      nextAfter: rows.length > query.limit ? page.at(-1)?.name : undefined,
    };
  }

  async describe(
    repo: Repository,
    subject: Subject,
    opts: { includeTags: boolean },
  ): Promise<RepositoryDetails> {
    const namespace = await this.identity.findNamespace(repo.namespace);
    const starred = subject.kind === 'user' && (await this.stars.starredIds(subject.id)).has(repo.id);
    return {
      isOrganization: namespace?.kind === 'organization',
      tagExpirationSeconds: namespace?.tag_expiration_s ?? 1209600,
      starred,
      ...(opts.includeTags ? { tags: await this.tags.active(repo, 500) } : {}),
    };
  }

  async setDescription(repo: Repository, description: string, subject: Subject): Promise<void> {
    await this.store.setDescription(repo.id, description);
    this.events.emit({
      type: 'repository.description_changed',
      repository: repo.name,
      actor: subjectName(subject),
    });
  }

  async setVisibility(repo: Repository, visibility: Visibility, subject: Subject): Promise<void> {
    await this.repositories.setVisibility(repo.name, visibility);
    this.events.emit({
      type: 'repository.visibility_changed',
      repository: repo.name,
      visibility,
      actor: subjectName(subject),
    });
  }

  /** NORMAL, READ_ONLY or MIRROR; only NORMAL repositories take pushes and tag changes. */
  async setState(repo: Repository, state: RepositoryState, subject: Subject): Promise<void> {
    await this.store.setState(repo.id, state);
    this.events.emit({
      type: 'repository.state_changed',
      repository: repo.name,
      state,
      actor: subjectName(subject),
    });
  }

  /** Deletes the repository with its manifests, tags, labels and permissions; gc frees blobs nothing references. */
  async delete(repo: Repository, subject: Subject): Promise<void> {
    await this.identity.revokeRepositoryPermissions(repo.id);
    await this.store.delete(repo.id);
    this.events.emit({ type: 'repository.deleted', repository: repo.name, actor: subjectName(subject) });
  }
}

function isOciName(name: string): boolean {
  try {
    validateRepositoryName(name);
    return true;
  } catch {
    return false;
  }
}
