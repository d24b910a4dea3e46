import type { Kysely, Selectable } from 'kysely';
import type { IdentityTables } from '../../identity/index.js';

export interface ProxyCacheTables {
  proxy_cache_configs: {
    namespace_id: string;
    upstream_registry: string;
    username_sealed: string | null;
    password_sealed: string | null;
    /** How long a cached tag is served before it is checked against the upstream again; 0: never. */
    expiration_s: number;
    insecure: number;
    created_at: number;
  };
  proxy_cache_tags: {
    repository_id: string;
    tag: string;
    fetched_at: number;
  };
}

export type ProxyCacheRow = Selectable<ProxyCacheTables['proxy_cache_configs']>;
type Tables = ProxyCacheTables & IdentityTables;

/** Queries of the proxy cache tables. */
export class ProxyCacheStore {
  constructor(private readonly db: Kysely<Tables>) {}

  /** The configuration of an organization (by name), if it is a proxy cache. */
  find(organization: string): Promise<ProxyCacheRow | undefined> {
    return this.db
      .selectFrom('proxy_cache_configs')
      .innerJoin('namespaces', 'namespaces.id', 'proxy_cache_configs.namespace_id')
      .selectAll('proxy_cache_configs')
      .where('namespaces.name', '=', organization)
      .where('namespaces.kind', '=', 'organization')
      .executeTakeFirst();
  }

  async insert(row: ProxyCacheRow): Promise<boolean> {
    const result = await this.db
      .insertInto('proxy_cache_configs')
      .values(row)
      .onConflict((oc) => oc.column('namespace_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async delete(namespaceId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('proxy_cache_configs')
      .where('namespace_id', '=', namespaceId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async fetchedAt(repositoryId: string, tag: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('proxy_cache_tags')
      .select('fetched_at')
      .where('repository_id', '=', repositoryId)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return row?.fetched_at;
  }

  async markFetched(repositoryId: string, tag: string, now: number): Promise<void> {
    await this.db
      .insertInto('proxy_cache_tags')
      .values({ repository_id: repositoryId, tag, fetched_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'tag']).doUpdateSet({ fetched_at: now }))
      .execute();
  }

  async forget(repositoryId: string, tag: string): Promise<void> {
    await this.db
      .deleteFrom('proxy_cache_tags')
      .where('repository_id', '=', repositoryId)
      .where('tag', '=', tag)
      .execute();
  }
}
