import { type Insertable, type Kysely, type Transaction } from 'kysely';
import type { Visibility } from '../identity/index.js';
import type { RegistryTables } from './tables.js';

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  bytes: Uint8Array;
}

const referrerColumns = ['digest', 'media_type', 'size', 'artifact_type', 'annotations'] as const;

export class RegistryStore {
  constructor(private readonly db: Kysely<RegistryTables>) {}

  transaction<T>(fn: (store: RegistryStore, trx: Transaction<RegistryTables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new RegistryStore(trx), trx));
  }

  // Repositories

  findRepository(name: string) {
    return this.db.selectFrom('repositories').selectAll().where('name', '=', name).executeTakeFirst();
  }

  repositoriesInNamespace(namespace: string) {
    return this.db
      .selectFrom('repositories')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('name')
      .execute();
  }

  async insertRepository(repo: Insertable<RegistryTables['repositories']>): Promise<boolean> {
    const result = await this.db
      .insertInto('repositories')
      .values(repo)
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async listRepositoryNames(opts: {
    all: boolean;
    repositoryIds: string[];
    namespaces: string[];
    last?: string;
    limit: number;
  }): Promise<string[]> {
    let q = this.db.selectFrom('repositories').select('name');
    if (!opts.all) {
      q = q.where((eb) =>
        eb.or([
          eb('visibility', '=', 'public'),
          ...(opts.repositoryIds.length ? [eb('id', 'in', opts.repositoryIds)] : []),
          ...(opts.namespaces.length ? [eb('namespace', 'in', opts.namespaces)] : []),
        ]),
      );
    }
    if (opts.last !== undefined) q = q.where('name', '>', opts.last);
    const rows = await q.orderBy('name').limit(opts.limit).execute();
    return rows.map((r) => r.name);
  }

  async setVisibility(id: string, visibility: Visibility): Promise<void> {
    await this.db.updateTable('repositories').set({ visibility }).where('id', '=', id).execute();
  }

  // Blobs

  /** Size and last use of a blob the repository may see. */
  repositoryBlob(repositoryName: string, digest: string) {
    return this.db
      .selectFrom('repositories as r')
      .innerJoin('repository_blobs as rb', 'rb.repository_id', 'r.id')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['b.size', 'b.last_used_at'])
      .where('r.name', '=', repositoryName)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
  }

  findBlob(digest: string) {
    return this.db.selectFrom('blobs').selectAll().where('digest', '=', digest).executeTakeFirst();
  }

  async touchBlob(digest: string, now: number): Promise<void> {
    await this.db.updateTable('blobs').set({ last_used_at: now }).where('digest', '=', digest).execute();
  }

  /** Records a blob (or refreshes its last use) and links it to the repository. */
  async linkBlob(repositoryId: string, digest: string, size: number, now: number): Promise<void> {
    await this.db
      .insertInto('blobs')
      .values({ digest, size, created_at: now, last_used_at: now })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ last_used_at: now }))
      .execute();
    await this.db
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest, created_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .execute();
  }

  async unlinkBlob(repositoryId: string, digest: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async blobReferencedInRepository(repositoryId: string, digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifest_blobs')
      .select('blob_digest')
      .where('repository_id', '=', repositoryId)
      .where('blob_digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Repositories (names) that hold a blob, for mounting without `from`. */
  async repositoriesWithBlob(
    digest: string,
    limit: number,
  ): Promise<Array<{ id: string; name: string; namespace: string; visibility: Visibility }>> {
    return this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select(['r.id', 'r.name', 'r.namespace', 'r.visibility'])
      .where('rb.digest', '=', digest)
      .limit(limit)
      .execute();
  }

  async linkedDigests(repositoryId: string, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('repository_blobs')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  // Manifests and tags

  manifestByDigest(
    repositoryName: string,
    digest: string,
    withBytes: boolean,
  ): Promise<ManifestRow | undefined> {
    return this.db
      .selectFrom('repositories as r')
      .innerJoin('manifests as m', 'm.repository_id', 'r.id')
      .select(['m.digest', 'm.media_type', 'm.size'])
      .$if(withBytes, (q) => q.select('m.bytes'))
      .where('r.name', '=', repositoryName)
      .where('m.digest', '=', digest)
      .executeTakeFirst() as Promise<ManifestRow | undefined>;
  }

  /** The manifest a tag points at, unless the tag expired before `now`. */
  manifestByTag(
    repositoryName: string,
    tag: string,
    withBytes: boolean,
    now: number,
  ): Promise<ManifestRow | undefined> {
    return this.db
      .selectFrom('repositories as r')
      .innerJoin('tags as t', 't.repository_id', 'r.id')
      .innerJoin('manifests as m', (j) =>
        j.onRef('m.repository_id', '=', 'r.id').onRef('m.digest', '=', 't.manifest_digest'),
      )
      .select(['m.digest', 'm.media_type', 'm.size'])
      .$if(withBytes, (q) => q.select('m.bytes'))
      .where('r.name', '=', repositoryName)
      .where('t.name', '=', tag)
      .where('t.end_ts', 'is', null)
      .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]))
      .executeTakeFirst() as Promise<ManifestRow | undefined>;
  }

  async existingManifests(repositoryId: string, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('manifests')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  /** Inserts the manifest with its references unless the repository already has it (same digest: same bytes). */
  async insertManifest(
    manifest: RegistryTables['manifests'],
    blobs: string[],
    children: string[],
  ): Promise<void> {
    const inserted = await this.db
      .insertInto('manifests')
      .values(manifest)
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return;
    const key = { repository_id: manifest.repository_id, manifest_digest: manifest.digest };
    if (blobs.length)
      await this.db
        .insertInto('manifest_blobs')
        .values(blobs.map((blob_digest) => ({ ...key, blob_digest })))
        .execute();
    if (children.length) {
      await this.db
        .insertInto('manifest_children')
        .values(children.map((child_digest) => ({ ...key, child_digest })))
        .execute();
    }
  }

  /** The tag's open history row; it is alive when it has not expired by `now`. */
  private async openTag(repositoryId: string, name: string, now: number) {
    const row = await this.db
      .selectFrom('tags')
      .select(['id', 'manifest_digest', 'expires_at', 'immutable'])
      .where('repository_id', '=', repositoryId)
      .where('name', '=', name)
      .where('end_ts', 'is', null)
      .executeTakeFirst();
    return row && { ...row, alive: row.expires_at === null || row.expires_at > now };
  }

  /**
   * Points a tag at a manifest, closing the tag's previous history entry (at its expiration if it
   * already expired). Pointing a live tag at its own manifest changes nothing unless `always`
   * (a restore records a new entry); an immutable live tag is left alone.
   */
  async setTag(
    repositoryId: string,
    name: string,
    digest: string,
    now: number,
    id: string,
    opts: { reversion?: boolean; always?: boolean } = {},
  ): Promise<'set' | 'unchanged' | 'immutable'> {
    const current = await this.openTag(repositoryId, name, now);
    if (current?.alive && current.manifest_digest === digest && !opts.always) return 'unchanged';
    if (current?.alive && current.immutable) return 'immutable';
    if (current)
      await this.db
        .updateTable('tags')
        .set({ end_ts: current.alive ? now : current.expires_at })
        .where('id', '=', current.id)
        .execute();
    await this.db
      .insertInto('tags')
      .values({
        id,
        repository_id: repositoryId,
        name,
        manifest_digest: digest,
        start_ts: now,
        end_ts: null,
        reversion: opts.reversion ? 1 : 0,
      })
      .execute();
    return 'set';
  }

  /** Ends a live tag; an expired tag is already gone and an immutable one stays. */
  async endTag(repositoryId: string, name: string, now: number): Promise<'ended' | 'missing' | 'immutable'> {
    const current = await this.openTag(repositoryId, name, now);
    if (!current?.alive) return 'missing';
    if (current.immutable) return 'immutable';
    const result = await this.db
      .updateTable('tags')
      .set({ end_ts: now })
      .where('id', '=', current.id)
      .where('end_ts', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0 ? 'ended' : 'missing';
  }

  /** Whether a live immutable tag points at the manifest (which then may not be deleted). */
  async hasImmutableTag(repositoryId: string, digest: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .where('end_ts', 'is', null)
      .where('immutable', '=', 1)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Deletes a manifest and ends every tag pointing at it. */
  async deleteManifest(repositoryId: string, digest: string, now: number): Promise<boolean> {
    await this.db
      .updateTable('tags')
      .set({ end_ts: now })
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .where('end_ts', 'is', null)
      .execute();
    const result = await this.db
      .deleteFrom('manifests')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Names of the tags alive at `now`. */
  async activeTags(
    repositoryId: string,
    opts: { last?: string; limit?: number; now: number },
  ): Promise<string[]> {
    let q = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryId)
      .where('end_ts', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', opts.now)]));
    if (opts.last !== undefined) q = q.where('name', '>', opts.last);
    q = q.orderBy('name');
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    return (await q.execute()).map((r) => r.name);
  }

  referrers(repositoryId: string, subject: string, artifactType?: string) {
    let q = this.db
      .selectFrom('manifests')
      .select(referrerColumns)
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject);
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return q.orderBy('created_at').orderBy('digest').execute();
  }

  // Uploads

  async insertUpload(upload: RegistryTables['uploads']): Promise<void> {
    await this.db.insertInto('uploads').values(upload).execute();
  }

  findUpload(id: string) {
    return this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Moves the upload's offset forward only from the size the writer started at. */
  async advanceUpload(id: string, from: number, to: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ size: to, updated_at: now })
      .where('id', '=', id)
      .where('size', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  expiredUploads(before: number) {
    return this.db.selectFrom('uploads').select('id').where('updated_at', '<', before).execute();
  }

  async uploadIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.selectFrom('uploads').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((r) => r.id));
  }

  // Garbage collection

  /** Blobs no manifest references whose last use is older than `before`. */
  async unreferencedBlobs(before: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('blobs as b')
      .select('b.digest')
      .where('b.last_used_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_blobs as mb')
              .select('mb.blob_digest')
              .whereRef('mb.blob_digest', '=', 'b.digest'),
          ),
        ),
      )
      .limit(limit)
      .execute();
    return rows.map((r) => r.digest);
  }

  /** Deletes the blob row if it is still unreferenced and unused since `before`; the check and delete are one statement. */
  async deleteBlobIfUnreferenced(digest: string, before: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('blobs')
      .where('digest', '=', digest)
      .where('last_used_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifest_blobs').select('blob_digest').where('blob_digest', '=', digest))),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async knownDigests(digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute();
    return new Set(rows.map((r) => r.digest));
  }
}
