import type { Kysely, Migration } from 'kysely';

/** Repository mirroring (Quay's RepoMirrorConfig): one configuration per repository in MIRROR state. */
export const mirrorMigrations: Record<string, Migration> = {
  '0040_mirror': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('repository_mirrors')
        .addColumn('repository_id', 'text', (c) =>
          c.primaryKey().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('is_enabled', 'integer', (c) => c.notNull())
        .addColumn('external_reference', 'text', (c) => c.notNull())
        // Upstream credentials, sealed with the SecretBox.
        .addColumn('username_sealed', 'text')
        .addColumn('password_sealed', 'text')
        .addColumn('registry_config', 'text', (c) => c.notNull())
        .addColumn('root_rule', 'text', (c) => c.notNull())
        .addColumn('robot_id', 'text')
        .addColumn('sync_interval', 'bigint', (c) => c.notNull())
        .addColumn('sync_start_date', 'bigint')
        .addColumn('sync_expiration_date', 'bigint')
        .addColumn('sync_retries_remaining', 'integer', (c) => c.notNull())
        .addColumn('sync_status', 'text', (c) => c.notNull())
        // Changes on every claim and release: a worker only releases the claim it holds.
        .addColumn('sync_transaction_id', 'text', (c) => c.notNull())
        .addColumn('skopeo_timeout', 'integer', (c) => c.notNull())
        .addColumn('architecture_filter', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('repository_mirrors_due')
        .on('repository_mirrors')
        .columns(['sync_status', 'sync_start_date'])
        .execute();
    },
  },
};
