import { sql, type Kysely, type Migration } from 'kysely';
import { columnTypes } from '../platform/db/column-types.js';

export const registryMigrations: Record<string, Migration> = {
  '0002_registry': {
    async up(db: Kysely<unknown>) {
      const types = columnTypes(db);
      await db.schema
        .createTable('repositories')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => types.binaryText(c.notNull().unique()))
        .addColumn('visibility', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('state', 'text', (c) => c.notNull().defaultTo('NORMAL'))
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('image'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('repositories_namespace').on('repositories').column('namespace').execute();

      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema
        .createIndex('repository_blobs_digest')
        .on('repository_blobs')
        .column('digest')
        .execute();

      await db.schema
        .createTable('manifests')
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('bytes', types.bytes, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_subject')
        .on('manifests')
        .columns(['repository_id', 'subject_digest'])
        .execute();

      // A manifest's blobs; the foreign key to blobs makes gc and a manifest push that references the same blob exclude each other.
      await db.schema
        .createTable('manifest_blobs')
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('blob_digest', 'text', (c) => c.notNull().references('blobs.digest'))
        .addPrimaryKeyConstraint('manifest_blobs_pk', ['repository_id', 'manifest_digest', 'blob_digest'])
        .addForeignKeyConstraint(
          'manifest_blobs_manifest',
          ['repository_id', 'manifest_digest'],
          'manifests',
          ['repository_id', 'digest'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();
      await db.schema.createIndex('manifest_blobs_blob').on('manifest_blobs').column('blob_digest').execute();

      await db.schema
        .createTable('manifest_children')
        .addColumn('repository_id', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_children_pk', ['repository_id', 'manifest_digest', 'child_digest'])
        .addForeignKeyConstraint(
          'manifest_children_manifest',
          ['repository_id', 'manifest_digest'],
          'manifests',
          ['repository_id', 'digest'],
          (fk) => fk.onDelete('cascade'),
        )
        .execute();

      await db.schema
        .createTable('tags')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => types.binaryText(c.notNull()))
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('start_ts', 'bigint', (c) => c.notNull())
        .addColumn('end_ts', 'bigint')
        .execute();
      await db.schema
        .createIndex('tags_active')
        .on('tags')
        .columns(['repository_id', 'name'])
        .unique()
        .where(sql.ref('end_ts'), 'is', null)
        .execute();
      await db.schema
        .createIndex('tags_manifest')
        .on('tags')
        .columns(['repository_id', 'manifest_digest'])
        .execute();

      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) =>
          c.notNull().references('repositories.id').onDelete('cascade'),
        )
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};
