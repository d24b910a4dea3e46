import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { RegistryTables } from './tables.js';

type TagsScope = ExpressionBuilder<RegistryTables, 'tags'>;

/** Alive at `now`: the row is open and its expiration (if any) is still ahead. */
const aliveAt =
  (now: number) =>
  (eb: TagsScope): Expression<SqlBool> =>
    eb.and([
      eb('tags.end_ts', 'is', null),
      eb.or([eb('tags.expires_at', 'is', null), eb('tags.expires_at', '>', now)]),
    ]);

/** Still in the time machine: alive, or ended after `since`. */
const visibleSince =
  (since: number) =>
  (eb: TagsScope): Expression<SqlBool> => {
    const end = eb.fn.coalesce('tags.end_ts', 'tags.expires_at');
    return eb.or([eb(end, 'is', null), eb(end, '>', since)]);
  };

/** `value` as a LIKE pattern matched literally (`%`, `_` and `\` escaped). */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

const tagColumns = [
  'tags.id',
  'tags.name',
  'tags.manifest_digest',
  'tags.start_ts',
  'tags.end_ts',
  'tags.expires_at',
  'tags.reversion',
  'tags.immutable',
] as const;

export type TagRow = Pick<
  RegistryTables['tags'],
  'id' | 'name' | 'manifest_digest' | 'start_ts' | 'end_ts' | 'expires_at'
> & { reversion: number; immutable: number };

/** Queries of tag history and lifecycle (expiration, immutability, the time machine). */
export class TagsStore {
  constructor(private readonly db: Kysely<RegistryTables>) {}

  /**
   * One page of a repository's tag history, newest first (Quay's order: start desc, then name).
   * Rows whose manifest was deleted are gone with it. One extra row tells whether more follow.
   */
  async history(
    repositoryId: string,
    opts: {
      now: number;
      /** Ended rows are kept while they ended after this instant (the time machine window). */
      visibleSince: number;
      activeOnly: boolean;
      name?: string;
      nameContains?: string;
      offset: number;
      limit: number;
    },
  ): Promise<TagRow[]> {
    let q = this.db
      .selectFrom('tags')
      .innerJoin('manifests', (j) =>
        j
          .onRef('manifests.repository_id', '=', 'tags.repository_id')
          .onRef('manifests.digest', '=', 'tags.manifest_digest'),
      )
      .select(tagColumns)
      .where('tags.repository_id', '=', repositoryId)
      .where(opts.activeOnly ? aliveAt(opts.now) : visibleSince(opts.visibleSince));
    if (opts.name !== undefined) q = q.where('tags.name', '=', opts.name);
    if (opts.nameContains !== undefined) {
      const pattern = `%${likeLiteral(opts.nameContains.toLowerCase())}%`;
      q = q.where(sql<SqlBool>`lower(${sql.ref('tags.name')}) like ${pattern} escape '\\'`);
    }
    return q
      .orderBy('tags.start_ts', 'desc')
      .orderBy('tags.name')
      .orderBy('tags.id')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
  }

  /** The tag's row if it is alive at `now`. */
  alive(repositoryId: string, name: string, now: number): Promise<TagRow | undefined> {
    return this.db
      .selectFrom('tags')
      .select(tagColumns)
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.name', '=', name)
      .where(aliveAt(now))
      .executeTakeFirst();
  }

  /** Changes an open row's expiration; false when the row was closed meanwhile. */
  async setExpiration(id: string, expiresAt: number | null): Promise<boolean> {
    const result = await this.db
      .updateTable('tags')
      .set({ expires_at: expiresAt })
      .where('id', '=', id)
      .where('end_ts', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async setImmutable(id: string, immutable: boolean): Promise<boolean> {
    const result = await this.db
      .updateTable('tags')
      .set({ immutable: immutable ? 1 : 0 })
      .where('id', '=', id)
      .where('end_ts', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Ended rows of a tag on a manifest that ended inside the time machine window `(since, now]`. */
  restorable(repositoryId: string, name: string, digest: string, now: number, since: number) {
    return this.db
      .selectFrom('tags')
      .select(['id', 'immutable'])
      .where('repository_id', '=', repositoryId)
      .where('name', '=', name)
      .where('manifest_digest', '=', digest)
      .where((eb) => {
        const end = eb.fn.coalesce('tags.end_ts', 'tags.expires_at');
        return eb.and([eb(end, '<=', now), eb(end, '>', since)]);
      })
      .orderBy('id')
      .execute();
  }

  /** Closes a row at `endTs` (which may lie before the window, so it is no longer restorable). */
  async closeAt(id: string, endTs: number): Promise<void> {
    await this.db.updateTable('tags').set({ end_ts: endTs }).where('id', '=', id).execute();
  }

  /** Start of the newest alive tag of each repository, for `last_modified` in repository lists. */
  async lastModified(repositoryIds: string[], now: number): Promise<Map<string, number>> {
    if (repositoryIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('tags')
      .select(['tags.repository_id', (eb) => eb.fn.max('tags.start_ts').as('latest')])
      .where('tags.repository_id', 'in', repositoryIds)
      .where(aliveAt(now))
      .groupBy('tags.repository_id')
      .execute();
    return new Map(rows.map((r) => [r.repository_id, Number(r.latest)]));
  }

  /** Media type and bytes of some manifests of a repository (to size and classify tags). */
  manifests(repositoryId: string, digests: string[]) {
    if (digests.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'bytes'])
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests)
      .execute();
  }
}
