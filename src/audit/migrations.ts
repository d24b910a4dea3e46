import type { Kysely, Migration } from 'kysely';

export const auditMigrations: Record<string, Migration> = {
  '0020_audit': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text')
        .addColumn('repository', 'text')
        .addColumn('performer', 'text')
        .addColumn('performer_kind', 'text')
        .addColumn('ip', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('logged_at', 'bigint', (c) => c.notNull())
        .execute();
      // Each listing filters one of these and pages newest first.
      await db.schema.createIndex('audit_log_time').on('audit_log').columns(['logged_at', 'id']).execute();
      await db.schema
        .createIndex('audit_log_namespace')
        .on('audit_log')
        .columns(['namespace', 'logged_at'])
        .execute();
      await db.schema
        .createIndex('audit_log_repository')
        .on('audit_log')
        .columns(['repository', 'logged_at'])
        .execute();
    },
  },
};
