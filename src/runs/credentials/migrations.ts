import type { Kysely, Migration } from 'kysely';

/** Secrets, git credentials and registry credentials stored per namespace for runs. */
export const runCredentialMigrations: Record<string, Migration> = {
  '0072_run_credentials': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('run_secrets')
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('keys', 'text', (c) => c.notNull())
        .addColumn('data_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_secrets_pk', ['namespace', 'name'])
        .execute();
      await db.schema
        .createTable('source_credentials')
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('username', 'text')
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('source_credentials_pk', ['namespace', 'name'])
        .execute();
      await db.schema
        .createTable('registry_credentials')
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('password_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('registry_credentials_pk', ['namespace', 'name'])
        .execute();
      await db.schema
        .createIndex('registry_credentials_host')
        .on('registry_credentials')
        .columns(['namespace', 'host'])
        .execute();
    },
  },
};
