import type { BlobStore } from '../platform/blobs/blob-store.js';
import { isDigest } from '../platform/blobs/digest.js';
import type { Clock } from '../platform/clock.js';
import type { KeyedMutex } from '../platform/keyed-mutex.js';
import type { RegistryStore } from './registry.store.js';
import type { UploadsService } from './uploads.service.js';

export interface GcReport {
  deletedBlobs: number;
  freedBytes: number;
  orphanFiles: number;
  expiredUploads: number;
}

const batch = 500;

/**
 * Mark and sweep of blob bytes. The mark is the database itself: a blob is live
 * while a manifest references it (manifest_blobs) or while it was used (uploaded,
 * mounted, found by HEAD) within the grace period. The sweep deletes the row only
 * if both still hold at that instant (one statement), and the file only after it,
 * holding the digest's lock so an upload finishing the same digest waits.
 */
export class GarbageCollector {
  constructor(
    private readonly store: RegistryStore,
    private readonly blobs: BlobStore,
    private readonly uploads: UploadsService,
    private readonly digestLocks: KeyedMutex,
    private readonly clock: Clock,
    private readonly graceMs: number,
  ) {}

  async collect(opts: { dryRun?: boolean } = {}): Promise<GcReport> {
    const report: GcReport = { deletedBlobs: 0, freedBytes: 0, orphanFiles: 0, expiredUploads: 0 };
    const cutoff = this.clock.now() - this.graceMs;
    if (!opts.dryRun) report.expiredUploads = await this.uploads.expire();

    const seen = new Set<string>();
    for (;;) {
      const candidates = (await this.store.unreferencedBlobs(cutoff, batch)).filter((d) => !seen.has(d));
      if (candidates.length === 0) break;
      for (const digest of candidates) {
        seen.add(digest);
        const size = (await this.store.findBlob(digest))?.size ?? 0;
        if (opts.dryRun) {
          report.deletedBlobs++;
          report.freedBytes += size;
          continue;
        }
        const deleted = await this.digestLocks.run(digest, async () => {
          const gone = await this.store.deleteBlobIfUnreferenced(digest, cutoff).catch(() => false);
          if (gone) await this.blobs.delete(digest);
          return gone;
        });
        if (deleted) {
          report.deletedBlobs++;
          report.freedBytes += size;
        }
      }
      if (opts.dryRun && candidates.length < batch) break;
    }

    // Files without a row: left by a crash between writing the bytes and recording them.
    let page: Array<{ digest: string; size: number }> = [];
    const sweepPage = async () => {
      const known = await this.store.knownDigests(page.map((p) => p.digest));
      for (const file of page.filter((p) => !known.has(p.digest))) {
        report.orphanFiles++;
        report.freedBytes += file.size;
        if (!opts.dryRun) {
          await this.digestLocks.run(file.digest, async () => {
            if (!(await this.store.findBlob(file.digest))) await this.blobs.delete(file.digest);
          });
        }
      }
      page = [];
    };
    for await (const file of this.blobs.list()) {
      if (file.modifiedAt >= cutoff || !isDigest(file.digest)) continue;
      page.push(file);
      if (page.length >= batch) await sweepPage();
    }
    await sweepPage();
    return report;
  }
}
