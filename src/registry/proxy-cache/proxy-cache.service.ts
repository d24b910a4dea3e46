import type { Clock } from '../../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import { KeyedMutex } from '../../platform/keyed-mutex.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { IdentityService, Subject } from '../../identity/index.js';
import type { ManifestsService } from '../manifests.service.js';
import { namespaceOf } from '../names.js';
import type { PullThrough } from '../pull-through.js';
import type { RepositoriesService, Repository } from '../repositories.service.js';
import type { ImageCopier } from '../mirror/image-copier.js';
import {
  assertRegistryAllowed,
  parseRegistryReference,
  type AddressPolicy,
  type RegistryReference,
} from '../mirror/registry-reference.js';
import { UpstreamError, UpstreamRegistry } from '../mirror/upstream.client.js';
import type { ProxyCacheRow, ProxyCacheStore } from './proxy-cache.store.js';

export interface ProxyCacheConfig {
  upstreamRegistry: string;
  expirationSeconds: number;
  insecure: boolean;
}

export interface ProxyCacheInput {
  upstreamRegistry: string;
  username?: string | null;
  password?: string | null;
  expirationSeconds?: number;
  insecure?: boolean;
}

export interface ProxyCacheSettings {
  policy: AddressPolicy;
  maxManifestBytes: number;
  /** A request to the upstream fails when its connection stays idle this long. */
  timeoutMs: number;
  /** Told about upstream failures that pulls do not surface (they answer from the cache, or 404). */
  onUpstreamError?: (err: unknown, context: { repository: string; reference: string }) => void;
}

/** Quay's DEFAULT_PROXY_CACHE_EXPIRATION: one day. */
export const defaultExpirationSeconds = 86400;

/** Docker Hub is named docker.io but served from registry-1.docker.io (Quay's REGISTRY_URLS). */
const registryHosts: Record<string, string> = { 'docker.io': 'registry-1.docker.io' };

/**
 * Organizations configured as proxy caches of an upstream registry (Quay's proxy cache).
 * A pull of a tag or digest the organization does not have fetches it from the upstream,
 * creating the repository on first pull (the puller gets read on it), and stores the manifest
 * with everything it references; later pulls are served from the store. A cached tag is checked
 * against the upstream again once `expiration_s` has passed since it was fetched (0: never);
 * when the upstream cannot be reached then, the cached copy keeps being served, and a tag the
 * upstream no longer has is removed.
 */
export class ProxyCacheService implements PullThrough {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly store: ProxyCacheStore,
    private readonly identity: IdentityService,
    private readonly repositories: RepositoriesService,
    private readonly manifests: ManifestsService,
    private readonly copier: ImageCopier,
    private readonly secrets: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly settings: ProxyCacheSettings,
  ) {}

  async get(organization: string): Promise<ProxyCacheConfig | undefined> {
    const row = await this.store.find(organization);
    return (
      row && {
        upstreamRegistry: row.upstream_registry,
        expirationSeconds: row.expiration_s,
        insecure: row.insecure === 1,
      }
    );
  }

  /** Whether pulls in this namespace go through to an upstream (its members may pull any repository). */
  async isProxyCache(namespace: string): Promise<boolean> {
    return (await this.store.find(namespace)) !== undefined;
  }

  async create(organization: string, input: ProxyCacheInput): Promise<void> {
    const org = await this.identity.getOrganization(organization);
    if (await this.store.find(organization))
      throw new Invalid('PROXY_CACHE_EXISTS', 'Proxy Cache Configuration already exists');
    this.checkUpstream(input);
    const inserted = await this.store.insert({
      namespace_id: org.id,
      upstream_registry: input.upstreamRegistry,
      username_sealed: input.username != null ? this.secrets.seal(input.username) : null,
      password_sealed: input.password != null ? this.secrets.seal(input.password) : null,
      expiration_s: input.expirationSeconds ?? defaultExpirationSeconds,
      insecure: input.insecure ? 1 : 0,
      created_at: this.clock.now(),
    });
    if (!inserted) throw new Conflict('PROXY_CACHE_EXISTS', 'Proxy Cache Configuration already exists');
    this.events.emit({ type: 'proxy_cache.created', organization, upstreamRegistry: input.upstreamRegistry });
  }

  /** Removes the configuration; what was cached stays, as ordinary repositories of the organization. */
  async delete(organization: string): Promise<void> {
    const row = await this.store.find(organization);
    if (!row || !(await this.store.delete(row.namespace_id)))
      throw new NotFound('PROXY_CACHE_NOT_FOUND', 'Not Found');
    this.events.emit({ type: 'proxy_cache.deleted', organization });
  }

  /** Tries a configuration before it is saved: `Valid`, or `Anonymous` when the upstream wants credentials that were not given. */
  async validate(organization: string, input: ProxyCacheInput): Promise<'Valid' | 'Anonymous'> {
    await this.identity.getOrganization(organization);
    if (await this.store.find(organization))
      throw new Invalid('PROXY_CACHE_EXISTS', 'Proxy Cache Configuration already exists');
    const ref = this.checkUpstream(input);
    const upstream = this.client(ref, {
      insecure: input.insecure ?? false,
      credentials:
        input.username != null && input.password != null
          ? { username: input.username, password: input.password }
          : undefined,
    });
    try {
      return await upstream.ping();
    } catch {
      throw new Invalid(
        'PROXY_CACHE_INVALID',
        'Failed login to remote registry. Please verify entered details and try again.',
      );
    }
  }

  async manifest(
    repository: string,
    reference: string,
    cached: string | undefined,
    subject: Subject,
  ): Promise<boolean> {
    const isDigest = reference.includes(':');
    if (cached && isDigest) return false;
    const config = await this.store.find(namespaceOf(repository));
    if (!config) return false;
    let repo = await this.repositories.find(repository);
    if (cached && repo && !(await this.isStale(config, repo, reference))) return false;
    if (!repo && subject.kind === 'anonymous') return false;

    return this.locks.run(`${repository}@${reference}`, async () => {
      // Another pull may have fetched it while this one waited.
      repo ??= await this.repositories.find(repository);
      if (repo && !isDigest && cached && !(await this.isStale(config, repo, reference))) return true;
      try {
        const { upstream, path } = this.upstreamFor(config, repository);
        if (cached && !isDigest && repo) {
          const remote = await upstream.manifestDigest(path, reference);
          if (remote === cached) {
            await this.store.markFetched(repo.id, reference, this.clock.now());
            return false;
          }
        }
        const manifest = await upstream.manifest(path, reference);
        // Created for the first puller, who gets read on it (Quay's proxy_cache=True).
        repo ??= await this.repositories.ensure(repository, subject, { creatorRole: 'read' });
        await this.copier.copyManifest(upstream, path, manifest, {
          repository,
          subject,
          tag: isDigest ? undefined : reference,
        });
        if (!isDigest) await this.store.markFetched(repo.id, reference, this.clock.now());
        return true;
      } catch (err) {
        if (repo && cached && !isDigest && err instanceof UpstreamError && err.status === 404) {
          // The upstream no longer has the tag: neither does its cache.
          await this.manifests.delete(repository, reference, subject).catch(() => undefined);
          await this.store.forget(repo.id, reference);
          return true;
        }
        this.settings.onUpstreamError?.(err, { repository, reference });
        return false;
      }
    });
  }

  async blob(repository: string, digest: string): Promise<boolean> {
    const config = await this.store.find(namespaceOf(repository));
    if (!config) return false;
    const repo = await this.repositories.find(repository);
    if (!repo) return false;
    return this.locks.run(`${repository}@${digest}`, async () => {
      try {
        const { upstream, path } = this.upstreamFor(config, repository);
        await this.copier.copyBlob(upstream, path, digest, {
          repository,
          subject: { kind: 'anonymous' },
        });
        return true;
      } catch (err) {
        this.settings.onUpstreamError?.(err, { repository, reference: digest });
        return false;
      }
    });
  }

  private async isStale(config: ProxyCacheRow, repo: Repository, tag: string): Promise<boolean> {
    const fetchedAt = await this.store.fetchedAt(repo.id, tag);
    // A tag pushed here rather than fetched is not the cache's to refresh.
    if (fetchedAt === undefined || config.expiration_s === 0) return false;
    return this.clock.now() - fetchedAt >= config.expiration_s * 1000;
  }

  private checkUpstream(input: ProxyCacheInput): RegistryReference {
    const ref = parseRegistryReference(input.upstreamRegistry, 'upstream_registry', false);
    assertRegistryAllowed(ref, this.settings.policy, 'upstream_registry');
    return ref;
  }

  /**
   * The upstream repository behind a repository of the organization: `<upstream path>/<name>`,
   * or `library/<name>` for a one-part name on a whole Docker Hub.
   */
  private upstreamFor(
    config: ProxyCacheRow,
    repository: string,
  ): { upstream: UpstreamRegistry; path: string } {
    const ref = parseRegistryReference(config.upstream_registry, 'upstream_registry', false);
    const name = repository.slice(namespaceOf(repository).length + 1);
    const hub = ref.hostname === 'docker.io' || ref.hostname === 'registry-1.docker.io';
    const path = ref.path ? `${ref.path}/${name}` : hub && !name.includes('/') ? `library/${name}` : name;
    const credentials =
      config.username_sealed && config.password_sealed
        ? {
            username: this.secrets.open(config.username_sealed),
            password: this.secrets.open(config.password_sealed),
          }
        : undefined;
    return { upstream: this.client(ref, { insecure: config.insecure === 1, credentials }), path };
  }

  private client(
    ref: RegistryReference,
    opts: { insecure: boolean; credentials?: { username: string; password: string } },
  ): UpstreamRegistry {
    return new UpstreamRegistry({
      authority: registryHosts[ref.authority] ?? ref.authority,
      insecure: opts.insecure,
      credentials: opts.credentials,
      policy: this.settings.policy,
      timeoutMs: this.settings.timeoutMs,
      maxManifestBytes: this.settings.maxManifestBytes,
    });
  }
}
