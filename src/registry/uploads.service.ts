import { Transform, type Readable } from 'node:stream';
import type { Hash } from 'node:crypto';
import type { BlobStore } from '../platform/blobs/blob-store.js';
import { newHash, parseDigest, type DigestAlgorithm } from '../platform/blobs/digest.js';
import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound, QuotaExceeded, RangeNotSatisfiable } from '../platform/errors.js';
import { randomToken } from '../platform/ids.js';
import { KeyedMutex } from '../platform/keyed-mutex.js';
import type { Subject } from '../identity/index.js';
import { namespaceOf } from './names.js';
import type { QuotasService } from './quotas.service.js';
import type { RegistryStore } from './registry.store.js';
import type { RepositoriesService } from './repositories.service.js';

/** Byte positions a client says a chunk covers (`Content-Range: start-end`, inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface UploadState {
  id: string;
  /** Bytes received so far. */
  size: number;
}

const unknownUpload = (id: string) =>
  new NotFound('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { id });

/**
 * Blob upload sessions: chunks appended in order, the digest computed while the
 * bytes stream in, the blob made visible only when the final PUT's digest matches.
 * Sessions live in the database, so they survive a restart: the running hash is
 * only in memory, and is rebuilt from the stored bytes when it is missing.
 */
export class UploadsService {
  private readonly hashes = new Map<string, { hash: Hash; size: number }>();
  private readonly sessionLocks = new KeyedMutex();

  constructor(
    private readonly store: RegistryStore,
    private readonly blobs: BlobStore,
    private readonly repositories: RepositoriesService,
    private readonly digestLocks: KeyedMutex,
    private readonly clock: Clock,
    private readonly uploadTtlMs: number,
    private readonly quotas: QuotasService,
  ) {}

  async start(repositoryName: string, subject: Subject): Promise<UploadState> {
    const repo = await this.repositories.ensure(repositoryName, subject);
    const id = randomToken(16);
    await this.blobs.startUpload(id);
    const now = this.clock.now();
    await this.store.insertUpload({ id, repository_id: repo.id, size: 0, created_at: now, updated_at: now });
    return { id, size: 0 };
  }

  async status(repositoryName: string, id: string): Promise<UploadState> {
    const upload = await this.load(repositoryName, id);
    return { id, size: upload.size };
  }

  async append(repositoryName: string, id: string, data: Readable, range?: ChunkRange): Promise<UploadState> {
    return this.sessionLocks.run(id, async () => {
      const upload = await this.load(repositoryName, id);
      return { id, size: await this.write(id, upload.size, data, range) };
    });
  }

  /**
   * Finishes the upload with its last chunk (if any) and makes it the blob `digest`.
   * A digest that does not match the bytes is DIGEST_INVALID and stores nothing.
   */
  async finish(
    repositoryName: string,
    id: string,
    digest: string,
    data?: Readable,
    range?: ChunkRange,
  ): Promise<string> {
    const { algorithm } = parseDigest(digest);
    return this.sessionLocks.run(id, async () => {
      const upload = await this.load(repositoryName, id);
      const size = data || range ? await this.write(id, upload.size, data, range) : upload.size;
      const actual = await this.digestOf(id, size, algorithm);
      if (actual !== digest) {
        throw new Invalid('DIGEST_INVALID', 'provided digest did not match uploaded content', {
          expected: digest,
          actual,
        });
      }
      // The namespace's quota may refuse the new blob; the refused upload is discarded, as in Quay.
      await this.quotas
        .admit(namespaceOf(repositoryName), { digest, size }, () =>
          this.digestLocks.run(digest, async () => {
            await this.blobs.finishUpload(id, size, digest);
            await this.store.transaction(async (store) => {
              await store.linkBlob(upload.repository_id, digest, size, this.clock.now());
              await store.deleteUpload(id);
            });
          }),
        )
        .catch(async (err: unknown) => {
          if (err instanceof QuotaExceeded) {
            await this.store.deleteUpload(id);
            await this.blobs.abortUpload(id);
          }
          throw err;
        });
      this.hashes.delete(id);
      return digest;
    });
  }

  async cancel(repositoryName: string, id: string): Promise<void> {
    await this.sessionLocks.run(id, async () => {
      await this.load(repositoryName, id);
      await this.store.deleteUpload(id);
      await this.blobs.abortUpload(id);
      this.hashes.delete(id);
    });
  }

  /** Removes sessions idle for longer than the upload TTL, and staged files no session owns. */
  async expire(): Promise<number> {
    const cutoff = this.clock.now() - this.uploadTtlMs;
    const expired = await this.store.expiredUploads(cutoff);
    for (const { id } of expired) {
      await this.sessionLocks.run(id, async () => {
        await this.store.deleteUpload(id);
        await this.blobs.abortUpload(id);
        this.hashes.delete(id);
      });
    }
    let orphans = 0;
    const stale: string[] = [];
    for await (const file of this.blobs.listUploads()) if (file.modifiedAt < cutoff) stale.push(file.id);
    const live = await this.store.uploadIds(stale);
    for (const id of stale.filter((s) => !live.has(s))) {
      await this.blobs.abortUpload(id);
      orphans++;
    }
    return expired.length + orphans;
  }

  private async load(repositoryName: string, id: string) {
    if (!/^[a-f0-9]{32}$/.test(id)) throw unknownUpload(id);
    const [upload, repo] = await Promise.all([
      this.store.findUpload(id),
      this.repositories.find(repositoryName),
    ]);
    // A session is bound to the repository it was started in, and idle sessions expire.
    if (
      !upload ||
      !repo ||
      upload.repository_id !== repo.id ||
      upload.updated_at < this.clock.now() - this.uploadTtlMs
    ) {
      throw unknownUpload(id);
    }
    return upload;
  }

  /** Appends at `offset`, hashing on the way; returns the new size. Only whole, in-order chunks move the offset. */
  private async write(
    id: string,
    offset: number,
    data: Readable | undefined,
    range?: ChunkRange,
  ): Promise<number> {
    if (range && (range.start !== offset || range.end < range.start)) {
      data?.resume();
      throw new RangeNotSatisfiable('BLOB_UPLOAD_INVALID', `chunk must start at offset ${offset}`, {
        offset,
        range,
      });
    }
    if (!data) return offset;
    const state = await this.runningHash(id, offset);
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        state.hash.update(chunk);
        done(null, chunk);
      },
    });
    let written: number;
    try {
      written = await this.blobs.appendUpload(id, offset, data.pipe(hashing));
      if (range && written !== range.end - range.start + 1) {
        throw new RangeNotSatisfiable('BLOB_UPLOAD_INVALID', 'chunk length does not match Content-Range', {
          range,
          received: written,
        });
      }
    } catch (err) {
      this.hashes.delete(id); // the hash saw bytes the offset will not keep
      throw err;
    }
    const size = offset + written;
    if (!(await this.store.advanceUpload(id, offset, size, this.clock.now()))) {
      this.hashes.delete(id);
      throw unknownUpload(id);
    }
    state.size = size;
    return size;
  }

  /** The sha256 state for the first `size` bytes: kept from the previous chunk, or rebuilt from the stored bytes. */
  private async runningHash(id: string, size: number): Promise<{ hash: Hash; size: number }> {
    const kept = this.hashes.get(id);
    if (kept && kept.size === size) return kept;
    const hash = newHash('sha256');
    for await (const chunk of await this.blobs.readUpload(id, size)) hash.update(chunk as Buffer);
    const state = { hash, size };
    this.hashes.set(id, state);
    return state;
  }

  private async digestOf(id: string, size: number, algorithm: DigestAlgorithm): Promise<string> {
    if (algorithm === 'sha256') {
      const state = await this.runningHash(id, size);
      this.hashes.delete(id);
      return `sha256:${state.hash.digest('hex')}`;
    }
    // Other algorithms are known only now: read the bytes once more.
    const hash = newHash(algorithm);
    for await (const chunk of await this.blobs.readUpload(id, size)) hash.update(chunk as Buffer);
    return `${algorithm}:${hash.digest('hex')}`;
  }
}
