import type { IdentityService } from '../identity/index.js';
import type { NamespacesStore } from './namespaces.store.js';

/**
 * What the registry holds for a whole namespace: its storage use (for quotas), and the
 * removal or renaming of all its repositories when the namespace itself is deleted or renamed.
 */
export class NamespacesService {
  constructor(
    private readonly store: NamespacesStore,
    private readonly identity: IdentityService,
  ) {}

  /** Bytes stored by the namespace's repositories, each distinct blob once. */
  usage(namespace: string): Promise<number> {
    return this.store.usage(namespace);
  }

  /** Bytes each repository stores, each distinct blob once (0 for those holding nothing). */
  async repositorySizes(repositoryIds: string[]): Promise<Map<string, number>> {
    const sizes = await this.store.repositorySizes(repositoryIds);
    return new Map(repositoryIds.map((id) => [id, sizes.get(id) ?? 0]));
  }

  /** Whether a blob already counts towards the namespace's usage. */
  holdsBlob(namespace: string, digest: string): Promise<boolean> {
    return this.store.holdsBlob(namespace, digest);
  }

  /** Deletes every repository of the namespace and the permissions granted on them; gc frees the bytes. */
  async removeNamespace(namespace: string): Promise<void> {
    for (const id of await this.store.repositoryIds(namespace))
      await this.identity.revokeRepositoryPermissions(id);
    await this.store.deleteRepositories(namespace);
  }

  renameNamespace(from: string, to: string): Promise<void> {
    return this.store.renameNamespace(from, to);
  }
}
