import type { Kysely, Migration } from 'kysely';

/** Organization proxy caches (Quay's ProxyCacheConfig) and when each cached tag was last fetched. */
export const proxyCacheMigrations: Record<string, Migration> = {
  '0041_proxy_cache': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('proxy_cache_configs')
        .addColumn('namespace_id', 'text', (c) =>
          c.primaryKey().references('namespaces.id').onDelete('cascade'),
        )
        .addColumn('upstream_registry', 'text', (c) => c.notNull())
        // Upstream credentials, sealed with the SecretBox.
        .addColumn('username_sealed', 'text')
        .addColumn('password_sealed', 'text')
        .addColumn('expiration_s', 'bigint', (c) => c.notNull())
        .addColumn('insecure', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('proxy_cache_tags')
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('fetched_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('proxy_cache_tags_pk', ['repository_id', 'tag'])
        .execute();
    },
  },
};
