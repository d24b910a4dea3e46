import type { Readable } from 'node:stream';
import type { BlobStore } from '../platform/blobs/blob-store.js';
import { parseDigest } from '../platform/blobs/digest.js';
import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { NotFound, RangeNotSatisfiable, Unsupported } from '../platform/errors.js';
import type { KeyedMutex } from '../platform/keyed-mutex.js';
import { subjectName, type Policy, type Subject } from '../identity/index.js';
import type { PullThrough } from './pull-through.js';
import type { QuotasService } from './quotas.service.js';
import type { RegistryStore } from './registry.store.js';
import type { RepositoriesService } from './repositories.service.js';

/** A byte range as asked for: `start-end`, `start-` (end open) or `-suffix` (last bytes). */
export type ByteRangeRequest = { start: number; end?: number } | { suffix: number };

const blobUnknown = (digest: string) => new NotFound('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
const mountCandidates = 50;

export class BlobsService {
  constructor(
    private readonly store: RegistryStore,
    private readonly blobs: BlobStore,
    private readonly repositories: RepositoriesService,
    private readonly policy: Policy,
    private readonly digestLocks: KeyedMutex,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly graceMs: number,
    private readonly quotas: QuotasService,
  ) {}

  private pullThrough?: PullThrough;

  /** Connects the proxy cache, which is built after this service because it stores through the uploads. */
  setPullThrough(pullThrough: PullThrough): void {
    this.pullThrough = pullThrough;
  }

  /** Size of a blob the repository may see. Also marks the blob as in use, so gc spares a blob a client just found. */
  async stat(repositoryName: string, digest: string): Promise<{ size: number }> {
    parseDigest(digest);
    let row = await this.store.repositoryBlob(repositoryName, digest);
    if (!row && this.pullThrough && (await this.pullThrough.blob(repositoryName, digest)))
      row = await this.store.repositoryBlob(repositoryName, digest);
    if (!row) throw blobUnknown(digest);
    const now = this.clock.now();
    // Written at most once per half grace period per blob, to keep HEAD cheap.
    if (now - row.last_used_at > this.graceMs / 2) await this.store.touchBlob(digest, now);
    return { size: row.size };
  }

  /** The blob's bytes, or the asked range of them (clamped to the end; 416 when it starts past the end or is inverted). */
  async open(
    repositoryName: string,
    digest: string,
    range?: ByteRangeRequest,
  ): Promise<{ size: number; range?: { start: number; end: number }; stream: Readable }> {
    const { size } = await this.stat(repositoryName, digest);
    const span = range ? resolveRange(range, size) : undefined;
    const stream = await this.blobs.read(digest, span);
    return { size, range: span, stream };
  }

  /**
   * Makes a blob of another repository visible in this one without copying it.
   * Only from repositories the subject may pull from; without `from`, any such repository
   * that has it. Returns false when there is nothing the subject may mount (the client then uploads).
   */
  async mount(repositoryName: string, digest: string, subject: Subject, from?: string): Promise<boolean> {
    parseDigest(digest);
    const candidates = from
      ? [await this.repositories.find(from)].filter((r) => r !== undefined)
      : await this.store.repositoriesWithBlob(digest, mountCandidates);
    for (const source of candidates) {
      const target = { namespace: source.namespace, id: source.id, visibility: source.visibility };
      if (!(await this.policy.registryActions(subject, target)).has('pull')) continue;
      const row = await this.store.repositoryBlob(source.name, digest);
      if (!row || !(await this.blobs.stat(digest))) continue;
      const repo = await this.repositories.ensure(repositoryName, subject);
      await this.quotas.admit(repo.namespace, { digest, size: row.size }, () =>
        this.digestLocks.run(digest, () => this.store.linkBlob(repo.id, digest, row.size, this.clock.now())),
      );
      return true;
    }
    return false;
  }

  /** Unlinks the blob from the repository; gc frees the bytes once nothing references them. */
  async delete(repositoryName: string, digest: string, subject: Subject): Promise<void> {
    parseDigest(digest);
    const repo = await this.repositories.find(repositoryName);
    if (!repo) throw blobUnknown(digest);
    if (await this.store.blobReferencedInRepository(repo.id, digest)) {
      throw new Unsupported(
        'UNSUPPORTED',
        'the blob is referenced by a manifest of this repository; delete the manifest first',
        { digest },
      );
    }
    if (!(await this.store.unlinkBlob(repo.id, digest))) throw blobUnknown(digest);
    this.events.emit({
      type: 'blob.deleted',
      repository: repositoryName,
      digest,
      actor: subjectName(subject),
    });
  }
}

export function resolveRange(range: ByteRangeRequest, size: number): { start: number; end: number } {
  let start: number;
  let end: number;
  if ('suffix' in range) {
    if (range.suffix === 0 || size === 0) throw unsatisfiable(size);
    start = Math.max(0, size - range.suffix);
    end = size - 1;
  } else {
    start = range.start;
    end = Math.min(range.end ?? size - 1, size - 1);
    if (start >= size || (range.end !== undefined && range.end < range.start)) throw unsatisfiable(size);
  }
  return { start, end };
}

const unsatisfiable = (size: number) =>
  new RangeNotSatisfiable('RANGE_INVALID', 'requested range not satisfiable', { size });
