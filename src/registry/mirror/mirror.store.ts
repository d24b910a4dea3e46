import type { Kysely, Selectable, Updateable } from 'kysely';
import type { RegistryTables } from '../tables.js';

export type SyncStatus = 'NEVER_RUN' | 'SUCCESS' | 'FAIL' | 'SYNCING' | 'SYNC_NOW' | 'CANCEL';

export interface MirrorTables {
  repository_mirrors: {
    repository_id: string;
    is_enabled: number;
    external_reference: string;
    username_sealed: string | null;
    password_sealed: string | null;
    /** JSON: `{verify_tls?, unsigned_images?, proxy?}` as Quay stores it. */
    registry_config: string;
    /** JSON array of tag globs. */
    root_rule: string;
    robot_id: string | null;
    sync_interval: number;
    sync_start_date: number | null;
    sync_expiration_date: number | null;
    sync_retries_remaining: number;
    sync_status: SyncStatus;
    sync_transaction_id: string;
    skopeo_timeout: number;
    /** JSON array of architectures. */
    architecture_filter: string;
    last_error: string | null;
    created_at: number;
  };
}

export type MirrorRow = Selectable<MirrorTables['repository_mirrors']>;
type Tables = MirrorTables & RegistryTables;

/** Queries of `repository_mirrors`. Every status change after creation is a compare-and-set on the transaction id. */
export class MirrorStore {
  constructor(private readonly db: Kysely<Tables>) {}

  find(repositoryId: string): Promise<MirrorRow | undefined> {
    return this.db
      .selectFrom('repository_mirrors')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .executeTakeFirst();
  }

  async insert(row: MirrorRow): Promise<boolean> {
    const result = await this.db
      .insertInto('repository_mirrors')
      .values(row)
      .onConflict((oc) => oc.column('repository_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async update(repositoryId: string, changes: Updateable<MirrorTables['repository_mirrors']>): Promise<void> {
    await this.db
      .updateTable('repository_mirrors')
      .set(changes)
      .where('repository_id', '=', repositoryId)
      .execute();
  }

  /** Applies `changes` only if the row still carries `transactionId`; false when someone changed it meanwhile. */
  async updateIf(
    repositoryId: string,
    transactionId: string,
    changes: Updateable<MirrorTables['repository_mirrors']>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('repository_mirrors')
      .set(changes)
      .where('repository_id', '=', repositoryId)
      .where('sync_transaction_id', '=', transactionId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Mirrors ready to run (Quay's get_eligible_mirrors), oldest start date first: asked to sync now;
   * or enabled, due, with retries left and not syncing; or syncing with an expired claim.
   * Only repositories in MIRROR state sync.
   */
  async due(now: number, limit: number): Promise<Array<MirrorRow & { repository: string }>> {
    return this.db
      .selectFrom('repository_mirrors')
      .innerJoin('repositories', 'repositories.id', 'repository_mirrors.repository_id')
      .selectAll('repository_mirrors')
      .select('repositories.name as repository')
      .where('repositories.state', '=', 'MIRROR')
      .where((eb) =>
        eb.or([
          eb.and([
            eb('repository_mirrors.sync_status', '=', 'SYNC_NOW'),
            eb('repository_mirrors.sync_expiration_date', 'is', null),
          ]),
          eb.and([
            eb('repository_mirrors.is_enabled', '=', 1),
            eb('repository_mirrors.sync_start_date', '<=', now),
            eb('repository_mirrors.sync_retries_remaining', '>', 0),
            eb.or([
              eb.and([
                eb('repository_mirrors.sync_status', 'not in', ['SYNCING', 'CANCEL']),
                eb('repository_mirrors.sync_expiration_date', 'is', null),
              ]),
              eb.and([
                eb('repository_mirrors.sync_status', '=', 'SYNCING'),
                eb('repository_mirrors.sync_expiration_date', '<=', now),
              ]),
            ]),
          ]),
        ]),
      )
      .orderBy('repository_mirrors.sync_start_date')
      .limit(limit)
      .execute();
  }

  async usesRobot(robotId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('repository_mirrors')
      .select('repository_id')
      .where('robot_id', '=', robotId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async robotOf(repositoryId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('repository_mirrors')
      .select('robot_id')
      .where('repository_id', '=', repositoryId)
      .executeTakeFirst();
    return row?.robot_id ?? undefined;
  }
}
