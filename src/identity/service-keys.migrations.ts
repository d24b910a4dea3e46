import type { Kysely, Migration } from 'kysely';

/**
 * Instance administration by superusers: service keys (only the public JWK is stored; the private
 * key is returned once at creation) and the global messages every visitor of the UI sees.
 */
export const serviceKeyMigrations: Record<string, Migration> = {
  '0031_service_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('service_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('service', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('rotation_duration_s', 'bigint')
        .addColumn('approver_id', 'text')
        .addColumn('approval_type', 'text')
        .addColumn('approved_at', 'bigint')
        .addColumn('approval_notes', 'text')
        .execute();
      await db.schema.createIndex('service_keys_service').on('service_keys').column('service').execute();
      await db.schema
        .createTable('global_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};
