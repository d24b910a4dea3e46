import type { Kysely, Migration } from 'kysely';

/**
 * Tag lifecycle (expiration, restores, immutability) and manifest labels.
 * `manifest_label_scans` records that a manifest's own labels (annotations, image config labels)
 * were copied into `manifest_labels`, which happens once, on first use.
 */
export const tagLifecycleMigrations: Record<string, Migration> = {
  '0012_tag_lifecycle_labels': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tags').addColumn('expires_at', 'bigint').execute();
      await db.schema
        .alterTable('tags')
        .addColumn('reversion', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('tags')
        .addColumn('immutable', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();

      await db.schema
        .createTable('manifest_labels')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('source_type', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addForeignKeyConstraint(
          'manifest_labels_manifest',
          ['repository_id', 'manifest_digest'],
          'manifests',
          ['repository_id', 'digest'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createIndex('manifest_labels_manifest')
        .on('manifest_labels')
        .columns(['repository_id', 'manifest_digest'])
        .execute();

      await db.schema
        .createTable('manifest_label_scans')
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_label_scans_pk', ['repository_id', 'manifest_digest'])
        .addForeignKeyConstraint(
          'manifest_label_scans_manifest',
          ['repository_id', 'manifest_digest'],
          'manifests',
          ['repository_id', 'digest'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
    },
  },
};
