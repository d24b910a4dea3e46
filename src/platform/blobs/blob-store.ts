import type { Readable } from 'node:stream';

export interface StoredBlob {
  digest: string;
  size: number;
  modifiedAt: number;
}

/**
 * Content-addressed bytes for the whole service, and the staging area uploads
 * are written to before they become blobs.
 *
 * Contract (every implementation passes test/contracts/blob-store.contract.ts):
 * - A blob is visible only once complete: `finishUpload` moves the staged bytes
 *   into place atomically; readers never see a partial blob.
 * - Digests given to the store are already validated (see `parseDigest`); the
 *   store trusts them to build keys. It does not verify content: the caller hashed it.
 * - One upload is written by one caller at a time (the registry serializes PATCHes
 *   of a session); different uploads and blobs may be used concurrently.
 * - Operations on missing blobs or uploads: `stat` gives undefined, `read` and
 *   `appendUpload` throw NotFound, `delete` and `abortUpload` are no-ops.
 */
export interface BlobStore {
  stat(digest: string): Promise<{ size: number } | undefined>;
  /** Bytes `start..end` inclusive, or the whole blob. */
  read(digest: string, range?: { start: number; end: number }): Promise<Readable>;
  delete(digest: string): Promise<void>;
  list(): AsyncIterable<StoredBlob>;

  startUpload(id: string): Promise<void>;
  /** Writes `data` at `offset` and returns the number of bytes written; bytes past `offset` from an earlier failed write are overwritten. */
  appendUpload(id: string, offset: number, data: Readable): Promise<number>;
  /** The first `size` bytes of an upload, for hashing it again (after a restart, or for another algorithm). */
  readUpload(id: string, size: number): Promise<Readable>;
  /** Makes the first `size` bytes of the upload the blob `digest` and removes the upload. Idempotent if the blob already exists. */
  finishUpload(id: string, size: number, digest: string): Promise<void>;
  abortUpload(id: string): Promise<void>;
  listUploads(): AsyncIterable<{ id: string; modifiedAt: number }>;

  /** True when the store can be written to (readiness). */
  healthy(): Promise<boolean>;
}
