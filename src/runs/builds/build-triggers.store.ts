import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { BuildTriggerTables } from './build-triggers.tables.js';

export type BuildTriggerRow = Selectable<BuildTriggerTables['build_triggers']>;
type Counter = 'successive_failures' | 'successive_internal_errors';

/** Queries of `build_triggers`. Build outcomes update the counters in place, so concurrent builds add up. */
export class BuildTriggersStore {
  constructor(private readonly db: Kysely<BuildTriggerTables>) {}

  async insert(row: Insertable<BuildTriggerTables['build_triggers']>): Promise<void> {
    await this.db.insertInto('build_triggers').values(row).execute();
  }

  find(id: string): Promise<BuildTriggerRow | undefined> {
    return this.db.selectFrom('build_triggers').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listOfRepository(repositoryId: string): Promise<BuildTriggerRow[]> {
    return this.db
      .selectFrom('build_triggers')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async update(id: string, changes: Updateable<BuildTriggerTables['build_triggers']>): Promise<void> {
    await this.db.updateTable('build_triggers').set(changes).where('id', '=', id).execute();
  }

  /**
   * Activates an inactive trigger: true for exactly one of several concurrent activations (the row still had
   * no token).
   */
  async activate(
    id: string,
    changes: Updateable<BuildTriggerTables['build_triggers']> & { token_hash: string },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('build_triggers')
      .set(changes)
      .where('id', '=', id)
      .where('token_hash', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('build_triggers').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** A successful build clears both counters. */
  async resetCounters(id: string): Promise<void> {
    await this.update(id, { successive_failures: 0, successive_internal_errors: 0 });
  }

  /**
   * Adds one to `counter` and disables the trigger with `reason` once it reaches `threshold`; true when this
   * call disabled it.
   */
  async countAndMaybeDisable(
    id: string,
    counter: Counter,
    threshold: number,
    reason: string,
  ): Promise<boolean> {
    await this.db
      .updateTable('build_triggers')
      .set({ [counter]: sql`${sql.ref(counter)} + 1` })
      .where('id', '=', id)
      .execute();
    const result = await this.db
      .updateTable('build_triggers')
      .set({ enabled: 0, disabled_reason: reason })
      .where('id', '=', id)
      .where('enabled', '=', 1)
      .where(counter, '>=', threshold)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
