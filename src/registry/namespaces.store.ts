import { sql, type Kysely } from 'kysely';
import type { RegistryTables } from './tables.js';

/** Queries over every repository of a namespace (a user or an organization). */
export class NamespacesStore {
  constructor(private readonly db: Kysely<RegistryTables>) {}

  /** The digests the namespace holds: blobs linked to any of its repositories or referenced by their manifests. */
  private heldDigests(namespace: string) {
    const linked = this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select('rb.digest as digest')
      .where('r.namespace', '=', namespace);
    const referenced = this.db
      .selectFrom('manifest_blobs as mb')
      .innerJoin('repositories as r', 'r.id', 'mb.repository_id')
      .select('mb.blob_digest as digest')
      .where('r.namespace', '=', namespace);
    return linked.union(referenced);
  }

  /** Bytes the namespace stores: each distinct blob counted once, however many of its repositories hold it. */
  async usage(namespace: string): Promise<number> {
    const row = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('size'), eb.lit(0)).as('bytes'))
      .where('digest', 'in', this.heldDigests(namespace))
      .executeTakeFirstOrThrow();
    return Number(row.bytes);
  }

  /** Bytes each repository stores (each distinct blob once); repositories holding nothing are left out. */
  async repositorySizes(repositoryIds: string[]): Promise<Map<string, number>> {
    if (repositoryIds.length === 0) return new Map();
    const linked = this.db
      .selectFrom('repository_blobs')
      .select(['repository_id', 'digest'])
      .where('repository_id', 'in', repositoryIds);
    const referenced = this.db
      .selectFrom('manifest_blobs')
      .select(['repository_id', 'blob_digest as digest'])
      .where('repository_id', 'in', repositoryIds);
    const rows = await this.db
      .selectFrom(linked.union(referenced).as('held'))
      .innerJoin('blobs', 'blobs.digest', 'held.digest')
      .select((eb) => ['held.repository_id', eb.fn.sum<number | string>('blobs.size').as('bytes')])
      .groupBy('held.repository_id')
      .execute();
    return new Map(rows.map((r) => [r.repository_id, Number(r.bytes)]));
  }

  async holdsBlob(namespace: string, digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom(this.heldDigests(namespace).as('held'))
      .select('held.digest')
      .where('held.digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  async repositoryIds(namespace: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repositories')
      .select('id')
      .where('namespace', '=', namespace)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Deletes the namespace's repositories; their tags, manifests, blob links and uploads go with them (cascade). */
  async deleteRepositories(namespace: string): Promise<void> {
    await this.db.deleteFrom('repositories').where('namespace', '=', namespace).execute();
  }

  /** Moves every repository `from/x` to `to/x`. */
  async renameNamespace(from: string, to: string): Promise<void> {
    await this.db
      .updateTable('repositories')
      .set({
        namespace: to,
        name: sql<string>`cast(${to} as text) || substr(name, cast(${from.length + 1} as integer))`,
      })
      .where('namespace', '=', from)
      .execute();
  }
}
