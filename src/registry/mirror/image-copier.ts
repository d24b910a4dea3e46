import type { Subject } from '../../identity/index.js';
import { parseManifest } from '../manifest-document.js';
import type { ManifestsService } from '../manifests.service.js';
import type { RegistryStore } from '../registry.store.js';
import type { RepositoriesService } from '../repositories.service.js';
import type { UploadsService } from '../uploads.service.js';
import type { UpstreamManifest, UpstreamRegistry } from './upstream.client.js';

/** Where a copy goes: an existing repository, written in the name of `subject`. */
export interface CopyTarget {
  repository: string;
  subject: Subject;
}

const parallelBlobs = 4;

/**
 * Copies images from an upstream registry into a repository through the registry services,
 * as a push would: missing blobs are uploaded (and verified against their digests), child
 * manifests of an index first, then the manifest itself, under a tag when one is given.
 * Blobs and manifests the repository already has are not fetched again. Used by repository
 * mirroring and by the organization proxy cache.
 */
export class ImageCopier {
  constructor(
    private readonly store: RegistryStore,
    private readonly repositories: RepositoriesService,
    private readonly uploads: UploadsService,
    private readonly manifests: ManifestsService,
  ) {}

  /** Copies `reference` (a tag or digest) of the upstream repository; returns the manifest digest. */
  async copy(
    upstream: UpstreamRegistry,
    upstreamRepository: string,
    reference: string,
    target: CopyTarget & { tag?: string },
  ): Promise<string> {
    const manifest = await upstream.manifest(upstreamRepository, reference);
    await this.copyManifest(upstream, upstreamRepository, manifest, target);
    return manifest.digest;
  }

  /** Stores a manifest already fetched from the upstream, after what it references. */
  async copyManifest(
    upstream: UpstreamRegistry,
    upstreamRepository: string,
    manifest: UpstreamManifest,
    target: CopyTarget & { tag?: string },
  ): Promise<void> {
    const doc = parseManifest(manifest.bytes, manifest.mediaType || undefined);
    const repo = await this.repositories.get(target.repository);

    const present = await this.store.existingManifests(repo.id, doc.children);
    for (const child of doc.children.filter((d) => !present.has(d)))
      await this.copy(upstream, upstreamRepository, child, {
        repository: target.repository,
        subject: target.subject,
      });

    const linked = await this.store.linkedDigests(repo.id, doc.blobs);
    const missing = [...new Set(doc.blobs.filter((d) => !linked.has(d)))];
    await inParallel(missing, parallelBlobs, (digest) =>
      this.copyBlob(upstream, upstreamRepository, digest, target),
    );

    await this.manifests.put(
      target.repository,
      target.tag ?? manifest.digest,
      manifest.bytes,
      manifest.mediaType || undefined,
      target.subject,
    );
  }

  /** Streams one blob from the upstream into an upload of the repository; a digest mismatch stores nothing. */
  async copyBlob(
    upstream: UpstreamRegistry,
    upstreamRepository: string,
    digest: string,
    target: CopyTarget,
  ): Promise<void> {
    const upload = await this.uploads.start(target.repository, target.subject);
    try {
      const body = await upstream.blob(upstreamRepository, digest);
      try {
        await this.uploads.finish(target.repository, upload.id, digest, body);
      } finally {
        body.destroy();
      }
    } catch (err) {
      await this.uploads.cancel(target.repository, upload.id).catch(() => undefined);
      throw err;
    }
  }
}

/** Runs `work` over `items`, at most `limit` at a time; the first failure rejects (after the others settle). */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  const results = await Promise.allSettled(lanes);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
