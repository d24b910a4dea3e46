import type { Generated, Kysely } from 'kysely';

export type QuotaLimitType = 'Warning' | 'Reject';

export interface QuotaTables {
  /** At most one quota per namespace (user or organization), as Quay supports. */
  namespace_quotas: {
    id: Generated<number>;
    namespace_id: string;
    limit_bytes: number;
    created_at: number;
  };
  quota_limits: {
    id: Generated<number>;
    quota_id: number;
    type: QuotaLimitType;
    threshold_percent: number;
    created_at: number;
  };
}

const limitColumns = ['id', 'quota_id', 'type', 'threshold_percent'] as const;

/** Queries of the quota tables. */
export class QuotasStore {
  constructor(private readonly db: Kysely<QuotaTables>) {}

  quotaOf(namespaceId: string) {
    return this.db
      .selectFrom('namespace_quotas')
      .select(['id', 'namespace_id', 'limit_bytes'])
      .where('namespace_id', '=', namespaceId)
      .executeTakeFirst();
  }

  /** Inserts the namespace's quota unless it has one; undefined when it already had one. */
  async insertQuota(namespaceId: string, limitBytes: number, now: number): Promise<number | undefined> {
    const row = await this.db
      .insertInto('namespace_quotas')
      .values({ namespace_id: namespaceId, limit_bytes: limitBytes, created_at: now })
      .onConflict((oc) => oc.column('namespace_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    return row?.id;
  }

  async updateQuota(id: number, limitBytes: number): Promise<void> {
    await this.db
      .updateTable('namespace_quotas')
      .set({ limit_bytes: limitBytes })
      .where('id', '=', id)
      .execute();
  }

  async deleteQuota(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('quota_limits').where('quota_id', '=', id).execute();
      await trx.deleteFrom('namespace_quotas').where('id', '=', id).execute();
    });
  }

  limitsOf(quotaIds: number[]) {
    if (quotaIds.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('quota_limits')
      .select(limitColumns)
      .where('quota_id', 'in', quotaIds)
      .orderBy('id')
      .execute();
  }

  async insertLimit(quotaId: number, type: QuotaLimitType, percent: number, now: number): Promise<number> {
    const row = await this.db
      .insertInto('quota_limits')
      .values({ quota_id: quotaId, type, threshold_percent: percent, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async updateLimit(
    id: number,
    changes: { type?: QuotaLimitType; threshold_percent?: number },
  ): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await this.db.updateTable('quota_limits').set(changes).where('id', '=', id).execute();
  }

  async deleteLimit(id: number): Promise<void> {
    await this.db.deleteFrom('quota_limits').where('id', '=', id).execute();
  }
}
