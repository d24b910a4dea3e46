import type { Kysely, Migration } from 'kysely';

/**
 * Source providers (the cluster-wide GitHub settings), users' remote accounts and their repository caches. An
 * account goes with its user, a cache with its account: foreign keys with `on delete cascade`.
 */
export const sourceMigrations: Record<string, Migration> = {
  '0073_source_accounts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('source_providers')
        .addColumn('type', 'text', (c) => c.primaryKey())
        .addColumn('scheme', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('client_secret_sealed', 'text')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('remote_accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('login', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('avatar_url', 'text', (c) => c.notNull())
        .addColumn('html_url', 'text', (c) => c.notNull())
        .addColumn('access_token_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('remote_accounts_user_name', ['user_id', 'name'])
        .execute();

      await db.schema
        .createTable('git_repo_caches')
        .addColumn('remote_account_id', 'text', (c) =>
          c.primaryKey().references('remote_accounts.id').onDelete('cascade'),
        )
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('repositories', 'text', (c) => c.notNull())
        .addColumn('refreshed_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('git_repo_caches_user').on('git_repo_caches').column('user_id').execute();
    },
  },
};
