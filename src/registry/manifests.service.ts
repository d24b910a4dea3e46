import { digestOf, parseDigest } from '../platform/blobs/digest.js';
import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Conflict, Invalid, NotFound, TooLarge } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { anonymous, subjectName, type Subject } from '../identity/index.js';
import { mediaTypes } from './media-types.js';
import { parseManifest } from './manifest-document.js';
import { parseReference, isTag } from './names.js';
import type { PullThrough } from './pull-through.js';
import type { QuotasService } from './quotas.service.js';
import type { RegistryStore } from './registry.store.js';
import type { RepositoriesService } from './repositories.service.js';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** Exactly the bytes that were pushed; absent when only the headers were asked for. */
  bytes?: Uint8Array;
}

export interface Referrer {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const manifestUnknown = (reference: string) =>
  new NotFound('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
/** Quay's refusal to change an immutable tag (409 tag_immutable on /api/v1). */
export const tagImmutable = (tag: string, operation: string) =>
  new Conflict('TAG_IMMUTABLE', `Cannot ${operation} immutable tag '${tag}'`, { tag });
const isForeignKeyViolation = (err: unknown) =>
  /FOREIGN KEY|foreign key/.test(String((err as Error)?.message));

export class ManifestsService {
  constructor(
    private readonly store: RegistryStore,
    private readonly repositories: RepositoriesService,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly maxBytes: number,
    private readonly quotas: QuotasService,
  ) {}

  get maxManifestBytes(): number {
    return this.maxBytes;
  }

  private pullThrough?: PullThrough;

  /** Connects the proxy cache, which is built after this service because it stores through it. */
  setPullThrough(pullThrough: PullThrough): void {
    this.pullThrough = pullThrough;
  }

  /**
   * Stores a pushed manifest under a tag or its digest. The bytes are kept exactly;
   * every blob and child manifest it references must already be in the repository
   * (a `subject` need not be: referrers may arrive before what they refer to).
   */
  async put(
    repositoryName: string,
    reference: string,
    bytes: Uint8Array,
    contentType: string | undefined,
    subject: Subject,
  ): Promise<{ digest: string; subject?: string }> {
    const ref = parseReference(reference);
    if (bytes.length > this.maxBytes) {
      throw new TooLarge('SIZE_INVALID', `manifest is larger than ${this.maxBytes} bytes`, {
        size: bytes.length,
        limit: this.maxBytes,
      });
    }
    const algorithm = ref.kind === 'digest' ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new Invalid('DIGEST_INVALID', 'provided digest did not match the manifest', {
        expected: ref.digest,
        actual: digest,
      });
    }
    const doc = parseManifest(bytes, contentType);
    const repo = await this.repositories.ensure(repositoryName, subject);

    const [linked, present] = await Promise.all([
      this.store.linkedDigests(repo.id, doc.blobs),
      this.store.existingManifests(repo.id, doc.children),
    ]);
    const missing = [
      ...doc.blobs.filter((d) => !linked.has(d)),
      ...doc.children.filter((d) => !present.has(d)),
    ];
    if (missing.length > 0) {
      throw new Invalid(
        'MANIFEST_BLOB_UNKNOWN',
        'manifest references blobs or manifests unknown to the repository',
        { missing },
      );
    }
    // Its blobs already count towards the namespace: a push is refused only when the namespace is over its quota.
    await this.quotas.ensureWithin(repo.namespace);

    const now = this.clock.now();
    try {
      await this.store.transaction(async (store) => {
        await store.insertManifest(
          {
            repository_id: repo.id,
            digest,
            media_type: doc.mediaType,
            artifact_type: doc.artifactType ?? null,
            subject_digest: doc.subject ?? null,
            annotations: doc.annotations ? JSON.stringify(doc.annotations) : null,
            size: bytes.length,
            bytes,
            created_at: now,
          },
          doc.blobs,
          doc.children,
        );
        if (
          ref.kind === 'tag' &&
          (await store.setTag(repo.id, ref.tag, digest, now, newId())) === 'immutable'
        )
          throw tagImmutable(ref.tag, 'overwrite');
      });
    } catch (err) {
      // gc removed a referenced blob between the check above and the insert.
      if (isForeignKeyViolation(err))
        throw new Invalid('MANIFEST_BLOB_UNKNOWN', 'manifest references a blob that was just removed', {
          digest,
        });
      throw err;
    }
    this.events.emit({
      type: 'manifest.pushed',
      repository: repositoryName,
      digest,
      mediaType: doc.mediaType,
      tag: ref.kind === 'tag' ? ref.tag : undefined,
      actor: subjectName(subject),
    });
    return { digest, subject: doc.subject };
  }

  /** `subject` is who pulls: a proxy cache may create the repository for them. */
  async get(
    repositoryName: string,
    reference: string,
    withBytes: boolean,
    subject: Subject = anonymous,
  ): Promise<StoredManifest> {
    // No manifest can be stored under an invalid tag: reading one is 404, as the conformance suite expects.
    if (!reference.includes(':') && !isTag(reference)) throw manifestUnknown(reference);
    const ref = parseReference(reference);
    const lookup = () =>
      ref.kind === 'tag'
        ? this.store.manifestByTag(repositoryName, ref.tag, withBytes, this.clock.now())
        : this.store.manifestByDigest(repositoryName, ref.digest, withBytes);
    let row = await lookup();
    // A stored digest never changes: only a miss or a tag (which may be due for a refresh) asks the proxy cache.
    if (
      this.pullThrough &&
      (!row || ref.kind === 'tag') &&
      (await this.pullThrough.manifest(repositoryName, reference, row?.digest, subject))
    )
      row = await lookup();
    if (!row) throw manifestUnknown(reference);
    return { digest: row.digest, mediaType: row.media_type, size: row.size, bytes: row.bytes };
  }

  /** By tag: removes only the tag. By digest: removes the manifest and every tag pointing at it. */
  async delete(repositoryName: string, reference: string, subject: Subject): Promise<void> {
    const ref = parseReference(reference);
    const repo = await this.repositories.find(repositoryName);
    if (!repo) throw manifestUnknown(reference);
    const now = this.clock.now();
    const actor = subjectName(subject);
    if (ref.kind === 'tag') {
      const ended = await this.store.endTag(repo.id, ref.tag, now);
      if (ended === 'immutable') throw tagImmutable(ref.tag, 'delete');
      if (ended === 'missing') throw manifestUnknown(reference);
      this.events.emit({ type: 'tag.deleted', repository: repositoryName, tag: ref.tag, actor });
      return;
    }
    if (await this.store.hasImmutableTag(repo.id, ref.digest, now))
      throw new Conflict('TAG_IMMUTABLE', 'Cannot delete a manifest an immutable tag points at', {
        digest: ref.digest,
      });
    if (!(await this.store.transaction((store) => store.deleteManifest(repo.id, ref.digest, now))))
      throw manifestUnknown(reference);
    this.events.emit({ type: 'manifest.deleted', repository: repositoryName, digest: ref.digest, actor });
  }

  /** Tags in byte order after `last`; `limit` undefined lists all. `more` tells whether another page follows. */
  async tags(
    repositoryName: string,
    opts: { last?: string; limit?: number },
  ): Promise<{ tags: string[]; more: boolean }> {
    const repo = await this.repositories.get(repositoryName);
    if (opts.last !== undefined && !isTag(opts.last))
      throw new Invalid('TAG_INVALID', 'last is not a valid tag', { last: opts.last });
    if (opts.limit === 0) return { tags: [], more: false };
    const tags = await this.store.activeTags(repo.id, {
      last: opts.last,
      limit: opts.limit === undefined ? undefined : opts.limit + 1,
      now: this.clock.now(),
    });
    const more = opts.limit !== undefined && tags.length > opts.limit;
    return { tags: more ? tags.slice(0, opts.limit) : tags, more };
  }

  /** Manifests whose subject is `digest`; an unknown repository or digest has none. */
  async referrers(repositoryName: string, digest: string, artifactType?: string): Promise<Referrer[]> {
    parseDigest(digest);
    const repo = await this.repositories.find(repositoryName);
    if (!repo) return [];
    const rows = await this.store.referrers(repo.id, digest, artifactType);
    return rows.map((r) => ({
      mediaType: r.media_type,
      digest: r.digest,
      size: r.size,
      ...(r.artifact_type ? { artifactType: r.artifact_type } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
    }));
  }
}

export const referrersIndexMediaType = mediaTypes.ociIndex;
