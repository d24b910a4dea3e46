import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Denied, Invalid, NotFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { subjectName, type IdentityService, type Subject } from '../identity/index.js';
import { layersSizeOf, parseStoredManifest } from './manifest-details.service.js';
import { tagImmutable, type ManifestsService } from './manifests.service.js';
import type { RegistryStore } from './registry.store.js';
import type { Repository } from './repositories.service.js';
import { requireNormalState } from './repository-state.js';
import type { TagRow, TagsStore } from './tags.store.js';

/** One entry of a tag's history, as the Quay API lists it. */
export interface TagView {
  name: string;
  manifestDigest: string;
  /** Epoch milliseconds. */
  start: number;
  /** When the entry ended or will end (its expiration); null while it has no end. */
  end: number | null;
  reversion: boolean;
  immutable: boolean;
  /** Compressed size of the layers; null for a manifest list. */
  size: number | null;
  isManifestList: boolean;
  /** For a manifest list: which of its manifests the repository holds. */
  children?: Record<string, boolean>;
}

/** Quay's tag name rule (util/names.py TAG_REGEX), and its message. */
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const tagError =
  'Invalid tag: must match [A-Za-z0-9_.-], NOT start with "." or "-", and can contain 1-128 characters';
/** Bounds Quay puts on an expiration, from the tag's start (LABELED_EXPIRATION_MINIMUM/MAXIMUM: 1h, 104w). */
const minExpirationS = 3600;
const maxExpirationS = 104 * 7 * 24 * 3600;
const filterError =
  "Unsupported syntax for filter_tag_name. Expected <operation>:<tag_name> where <operation>can be 'like' or 'eq'.";

const notFound = () => new NotFound('TAG_NOT_FOUND', 'Not Found');
const messageError = (code: string, message: string, field?: string) =>
  new Invalid(code, message, { ...(field ? { field } : {}), payload: { message } });

export interface TagChanges {
  /** Present: point the tag at this manifest (null finds none: 404, as in Quay). */
  manifestDigest?: string | null;
  /** Present: expiration in epoch seconds, or null to remove it. */
  expiration?: number | null;
  immutable?: boolean;
}

/**
 * Tags as Quay manages them: a history of entries per name (each push, move, restore or delete
 * ends one and may start another), expiration (an expired tag is no longer served by `/v2/`),
 * immutability, restore from the time machine, and removal from it.
 */
export class TagsService {
  constructor(
    private readonly store: TagsStore,
    private readonly registry: RegistryStore,
    private readonly manifests: ManifestsService,
    private readonly identity: IdentityService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** How long ended tags stay restorable in the repository's namespace (Quay's time machine), in ms. */
  private async timeMachineMs(repo: Repository): Promise<number> {
    const namespace = await this.identity.findNamespace(repo.namespace);
    return (namespace?.tag_expiration_s ?? 1209600) * 1000;
  }

  /**
   * A page of the history, newest first. `filter` is Quay's `filter_tag_name`: `like:<text>`
   * (name contains, any case) or `eq:<name>`; another operation filters nothing, as in Quay.
   */
  async history(
    repo: Repository,
    query: { page: number; limit: number; specificTag?: string; filter?: string; activeOnly: boolean },
  ): Promise<{ tags: TagView[]; hasAdditional: boolean }> {
    let nameContains: string | undefined;
    let name = query.specificTag;
    if (query.filter) {
      const colon = query.filter.indexOf(':');
      if (colon < 0) throw messageError('INVALID_TAG_FILTER', filterError, 'filter_tag_name');
      const [operation, value] = [query.filter.slice(0, colon), query.filter.slice(colon + 1)];
      if (operation === 'like') nameContains = value;
      else if (operation === 'eq') {
        if (name !== undefined && name !== value) return { tags: [], hasAdditional: false };
        name = value;
      }
    }
    const now = this.clock.now();
    const rows = await this.store.history(repo.id, {
      now,
      visibleSince: now - (await this.timeMachineMs(repo)),
      activeOnly: query.activeOnly,
      name,
      nameContains,
      offset: (query.page - 1) * query.limit,
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    return { tags: await this.views(repo, page), hasAdditional: rows.length > query.limit };
  }

  /** The tags alive now (at most `limit`), newest first. */
  async active(repo: Repository, limit: number): Promise<TagView[]> {
    const now = this.clock.now();
    const rows = await this.store.history(repo.id, {
      now,
      visibleSince: now,
      activeOnly: true,
      offset: 0,
      limit,
    });
    return this.views(repo, rows);
  }

  /** Start (epoch ms) of each repository's newest alive tag. */
  lastModified(repositoryIds: string[]): Promise<Map<string, number>> {
    return this.store.lastModified(repositoryIds, this.clock.now());
  }

  private async views(repo: Repository, rows: TagRow[]): Promise<TagView[]> {
    const digests = [...new Set(rows.map((r) => r.manifest_digest))];
    const manifests = new Map(
      (await this.store.manifests(repo.id, digests)).map((m) => [
        m.digest,
        parseStoredManifest(m.bytes, m.media_type),
      ]),
    );
    const childDigests = [...new Set([...manifests.values()].flatMap((m) => m.children))];
    const present = await this.registry.existingManifests(repo.id, childDigests);
    return rows.map((row) => {
      const manifest = manifests.get(row.manifest_digest);
      const isList = manifest?.isList ?? false;
      return {
        name: row.name,
        manifestDigest: row.manifest_digest,
        start: row.start_ts,
        end: row.end_ts ?? row.expires_at,
        reversion: row.reversion === 1,
        immutable: row.immutable === 1,
        size: manifest ? layersSizeOf(manifest) : null,
        isManifestList: isList,
        ...(isList && manifest
          ? { children: Object.fromEntries(manifest.children.map((d) => [d, present.has(d)])) }
          : {}),
      };
    });
  }

  /**
   * Quay's `changeTag`: sets the expiration, the immutability and the target, in that order,
   * each only when given. Removing immutability takes `mayAdminister`.
   */
  async change(
    repo: Repository,
    tag: string,
    changes: TagChanges,
    subject: Subject,
    mayAdminister: boolean,
  ): Promise<void> {
    requireNormalState(repo);
    if (!tagPattern.test(tag)) throw messageError('TAG_INVALID', tagError, 'tag');
    const actor = subjectName(subject);
    const now = this.clock.now();

    if ('expiration' in changes) {
      const current = await this.store.alive(repo.id, tag, now);
      if (!current) throw notFound();
      let expiresAt: number | null = null;
      if (changes.expiration !== null && changes.expiration !== undefined) {
        if (changes.expiration * 1000 <= now)
          throw new Invalid('INVALID_EXPIRATION', 'expiration must be in the future', {
            field: 'expiration',
          });
        if (current.immutable === 1) throw tagImmutable(tag, 'set expiration on');
        const startS = Math.floor(current.start_ts / 1000);
        const offset = Math.min(Math.max(changes.expiration - startS, minExpirationS), maxExpirationS);
        expiresAt = current.start_ts + Math.round(offset * 1000);
      }
      if (current.expires_at !== expiresAt) {
        if (!(await this.store.setExpiration(current.id, expiresAt)))
          throw new Invalid('TAG_CHANGED', 'Could not update tag expiration; Tag has probably changed');
        this.events.emit({
          type: 'tag.expiration_changed',
          repository: repo.name,
          tag,
          expiration: expiresAt,
          actor,
        });
      }
    }

    if (changes.immutable !== undefined) {
      const current = await this.store.alive(repo.id, tag, now);
      if (!current) throw notFound();
      if (!changes.immutable && current.immutable === 1 && !mayAdminister)
        throw new Denied('UNAUTHORIZED', 'Unauthorized');
      if (!(await this.store.setImmutable(current.id, changes.immutable)))
        throw new Invalid('TAG_CHANGED', 'Could not update tag immutability; Tag has probably changed');
      this.events.emit({
        type: 'tag.immutability_changed',
        repository: repo.name,
        tag,
        immutable: changes.immutable,
        actor,
      });
    }

    if ('manifestDigest' in changes) {
      const digest = changes.manifestDigest;
      if (!digest || !(await this.registry.existingManifests(repo.id, [digest])).has(digest))
        throw notFound();
      const previous = await this.store.alive(repo.id, tag, now);
      await this.retarget(repo, tag, digest, 'overwrite', {});
      this.events.emit(
        previous
          ? {
              type: 'tag.moved',
              repository: repo.name,
              tag,
              digest,
              previousDigest: previous.manifest_digest,
              actor,
            }
          : { type: 'tag.created', repository: repo.name, tag, digest, actor },
      );
    }
  }

  private async retarget(
    repo: Repository,
    tag: string,
    digest: string,
    operation: string,
    opts: { reversion?: boolean },
  ): Promise<void> {
    const result = await this.registry.transaction((store) =>
      store.setTag(repo.id, tag, digest, this.clock.now(), newId(), { ...opts, always: true }),
    );
    if (result === 'immutable') throw tagImmutable(tag, operation);
  }

  /** Deletes a tag exactly as `DELETE /v2/<name>/manifests/<tag>` does (same history, same event). */
  async delete(repo: Repository, tag: string, subject: Subject): Promise<void> {
    requireNormalState(repo);
    if (!tagPattern.test(tag)) throw notFound();
    try {
      await this.manifests.delete(repo.name, tag, subject);
    } catch (err) {
      if (err instanceof NotFound) throw notFound();
      throw err;
    }
  }

  /** Points the tag back at a manifest of the repository (one from its history); the new entry is a reversion. */
  async restore(repo: Repository, tag: string, digest: string | undefined, subject: Subject): Promise<void> {
    requireNormalState(repo);
    if (!tagPattern.test(tag)) throw messageError('TAG_INVALID', tagError, 'tag');
    if (!digest) throw new Invalid('MISSING_DIGEST', 'Missing manifest_digest', { field: 'manifest_digest' });
    if (!(await this.registry.existingManifests(repo.id, [digest])).has(digest)) throw notFound();
    await this.retarget(repo, tag, digest, 'overwrite', { reversion: true });
    this.events.emit({
      type: 'tag.restored',
      repository: repo.name,
      tag,
      digest,
      actor: subjectName(subject),
    });
  }

  /**
   * Quay's `removeTagFromTimemachine`: with `isAlive`, ends the live tag outside the time machine
   * window; otherwise moves the ended entries of the tag on `manifestDigest` out of it. Either way
   * they can no longer be restored and leave the history. Immutable entries are skipped.
   */
  async expire(
    repo: Repository,
    tag: string,
    input: { manifestDigest?: string; isAlive?: boolean },
    subject: Subject,
  ): Promise<void> {
    if (!input.isAlive && !input.manifestDigest)
      throw new Invalid('MISSING_DIGEST', 'manifest_digest required when is_alive set to false', {
        field: 'manifest_digest',
      });
    const now = this.clock.now();
    const windowMs = await this.timeMachineMs(repo);
    let digest: string;
    if (input.isAlive) {
      const current = await this.store.alive(repo.id, tag, now);
      if (!current || current.immutable === 1) throw notFound();
      digest = current.manifest_digest;
      await this.store.closeAt(current.id, now - windowMs);
    } else {
      digest = input.manifestDigest!;
      if (!(await this.registry.existingManifests(repo.id, [digest])).has(digest)) throw notFound();
      const rows =
        windowMs === 0 ? [] : await this.store.restorable(repo.id, tag, digest, now, now - windowMs);
      const mutable = rows.filter((r) => r.immutable !== 1);
      if (mutable.length === 0) throw notFound();
      let increment = 1;
      for (const row of mutable) await this.store.closeAt(row.id, now - windowMs - increment++);
    }
    this.events.emit({
      type: 'tag.permanently_deleted',
      repository: repo.name,
      tag,
      digest,
      actor: subjectName(subject),
    });
  }
}
