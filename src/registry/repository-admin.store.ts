import type { Expression, Kysely, SqlBool } from 'kysely';
import type { RepositoryState, VisibleSet } from '../identity/index.js';
import type { RegistryTables } from './tables.js';

/** Queries behind the Quay repository endpoints: filtered listing and settings. */
export class RepositoryAdminStore {
  constructor(private readonly db: Kysely<RegistryTables>) {}

  /**
   * Repositories in name order after `after`: those in `visible`, plus public ones when
   * `includePublic`; narrowed to a namespace, a kind and (when given) a set of ids.
   */
  list(opts: {
    visible: VisibleSet;
    includePublic: boolean;
    namespace?: string;
    kind: string;
    onlyIds?: string[];
    after?: string;
    limit: number;
  }) {
    const { visible } = opts;
    let q = this.db
      .selectFrom('repositories')
      .selectAll()
      .where('kind', '=', opts.kind)
      .where((eb) => {
        const reach: Expression<SqlBool>[] = [];
        if (opts.includePublic) reach.push(eb('visibility', '=', 'public'));
        if (visible.all) reach.push(eb.lit(true));
        else {
          if (visible.repositoryIds.length) reach.push(eb('id', 'in', visible.repositoryIds));
          if (visible.namespaces.length) reach.push(eb('namespace', 'in', visible.namespaces));
        }
        return reach.length ? eb.or(reach) : eb.lit(false);
      });
    if (opts.namespace !== undefined) q = q.where('namespace', '=', opts.namespace);
    if (opts.onlyIds !== undefined) {
      if (opts.onlyIds.length === 0) return Promise.resolve([]);
      q = q.where('id', 'in', opts.onlyIds);
    }
    if (opts.after !== undefined) q = q.where('name', '>', opts.after);
    return q.orderBy('name').limit(opts.limit).execute();
  }

  async setDescription(id: string, description: string): Promise<void> {
    await this.db.updateTable('repositories').set({ description }).where('id', '=', id).execute();
  }

  async setState(id: string, state: RepositoryState): Promise<void> {
    await this.db.updateTable('repositories').set({ state }).where('id', '=', id).execute();
  }

  /** Deletes the repository; its manifests, tags, labels, blob links and uploads go with it (foreign keys). */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('repositories').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
