import type { Kysely, Migration } from 'kysely';

/** Repositories a user has starred (`/user/starred`, `GET /repository?starred=true`). */
export const starsMigrations: Record<string, Migration> = {
  '0011_stars': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('stars')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('stars_pk', ['user_id', 'repository_id'])
        .execute();
      await db.schema.createIndex('stars_repository').on('stars').column('repository_id').execute();
    },
  },
};
