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
};
