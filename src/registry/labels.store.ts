import { sql, type Kysely, type SqlBool } from 'kysely';
import type { RegistryTables } from './tables.js';

export type LabelSource = 'manifest' | 'api' | 'internal';

export interface LabelsTables {
  manifest_labels: {
    id: string;
    repository_id: string;
    manifest_digest: string;
    key: string;
    value: string;
    media_type: string;
    source_type: LabelSource;
    created_at: number;
  };
  /** Manifests whose own labels were copied into `manifest_labels`. */
  manifest_label_scans: {
    repository_id: string;
    manifest_digest: string;
  };
}

export type LabelRow = LabelsTables['manifest_labels'];

/** Queries of manifest labels. */
export class LabelsStore {
  constructor(private readonly db: Kysely<LabelsTables & RegistryTables>) {}

  async scanned(repositoryId: string, digest: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifest_label_scans')
      .select('manifest_digest')
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Records a manifest's own labels once: the scan marker and the labels are written together,
   * and a concurrent second writer finds the marker taken and writes nothing.
   */
  async recordScan(repositoryId: string, digest: string, labels: LabelRow[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const marked = await trx
        .insertInto('manifest_label_scans')
        .values({ repository_id: repositoryId, manifest_digest: digest })
        .onConflict((oc) => oc.columns(['repository_id', 'manifest_digest']).doNothing())
        .executeTakeFirst();
      if (Number(marked.numInsertedOrUpdatedRows ?? 0) === 0 || labels.length === 0) return;
      await trx.insertInto('manifest_labels').values(labels).execute();
    });
  }

  /** Labels of a manifest, oldest first; `prefix` keeps the keys starting with it (any case). */
  list(repositoryId: string, digest: string, prefix?: string): Promise<LabelRow[]> {
    let q = this.db
      .selectFrom('manifest_labels')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest);
    if (prefix) {
      const pattern = `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where(sql<SqlBool>`lower(${sql.ref('key')}) like ${pattern} escape '\\'`);
    }
    return q.orderBy('created_at').orderBy('key').orderBy('id').execute();
  }

  find(repositoryId: string, digest: string, id: string): Promise<LabelRow | undefined> {
    return this.db
      .selectFrom('manifest_labels')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async insert(label: LabelRow): Promise<void> {
    await this.db.insertInto('manifest_labels').values(label).execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('manifest_labels').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
