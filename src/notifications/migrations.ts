import type { Kysely, Migration } from 'kysely';

export const notificationMigrations: Record<string, Migration> = {
  '0021_notifications': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('repository_notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('title', 'text')
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('event_config', 'text', (c) => c.notNull())
        .addColumn('number_of_failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('repository_notifications_repository')
        .on('repository_notifications')
        .columns(['repository_id', 'event'])
        .execute();
      await db.schema
        .createTable('notification_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('notification_id', 'text', (c) =>
          c.notNull().references('repository_notifications.id').onDelete('cascade'),
        )
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('leased_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('notification_deliveries_due')
        .on('notification_deliveries')
        .column('next_attempt_at')
        .execute();
    },
  },
  '0050_namespace_notifications': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('namespace_notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('namespace_id', 'text', (c) => c.notNull().references('namespaces.id').onDelete('cascade'))
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('title', 'text')
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('event_config', 'text', (c) => c.notNull())
        .addColumn('number_of_failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('namespace_notifications_namespace')
        .on('namespace_notifications')
        .columns(['namespace_id', 'event'])
        .execute();
      await db.schema
        .createTable('namespace_notification_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('notification_id', 'text', (c) =>
          c.notNull().references('namespace_notifications.id').onDelete('cascade'),
        )
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('leased_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('namespace_notification_deliveries_due')
        .on('namespace_notification_deliveries')
        .column('next_attempt_at')
        .execute();
      await db.schema
        .createTable('quota_notification_state')
        .addColumn('namespace_id', 'text', (c) => c.notNull().references('namespaces.id').onDelete('cascade'))
        .addColumn('threshold_percent', 'integer', (c) => c.notNull())
        .addColumn('last_notified_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_notification_state_pk', ['namespace_id', 'threshold_percent'])
        .execute();
    },
  },
};
