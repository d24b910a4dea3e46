import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { DeliveryColumns, NotificationTables } from './tables.js';

export type NotificationRow = Selectable<NotificationTables['repository_notifications']>;
export type NamespaceNotificationRow = Selectable<NotificationTables['namespace_notifications']>;
export type DeliveryRow = Selectable<DeliveryColumns>;
type NewDelivery = Insertable<DeliveryColumns>;

/** Repository notifications and namespace notifications each have their own table and delivery queue. */
export type NotificationScope = 'repository' | 'namespace';
export const notificationScopes: readonly NotificationScope[] = ['repository', 'namespace'];

const notificationTables = {
  repository: 'repository_notifications',
  namespace: 'namespace_notifications',
} as const;
const deliveryTables = {
  repository: 'notification_deliveries',
  namespace: 'namespace_notification_deliveries',
} as const;

/** Quay stops firing a notification once this many deliveries in a row failed. */
export const maxFailures = 3;

export class NotificationsStore {
  constructor(private readonly db: Kysely<NotificationTables>) {}

  // Repository notifications

  async insert(row: Insertable<NotificationTables['repository_notifications']>): Promise<void> {
    await this.db.insertInto('repository_notifications').values(row).execute();
  }

  list(repositoryId: string): Promise<NotificationRow[]> {
    return this.db
      .selectFrom('repository_notifications')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  find(repositoryId: string, id: string): Promise<NotificationRow | undefined> {
    return this.db
      .selectFrom('repository_notifications')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Notifications of a repository for an event that still fire. */
  enabledFor(repositoryId: string, event: string): Promise<NotificationRow[]> {
    return this.db
      .selectFrom('repository_notifications')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('event', '=', event)
      .where('number_of_failures', '<', maxFailures)
      .execute();
  }

  async delete(repositoryId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_notifications')
      .where('repository_id', '=', repositoryId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // Namespace notifications

  async insertForNamespace(row: Insertable<NotificationTables['namespace_notifications']>): Promise<void> {
    await this.db.insertInto('namespace_notifications').values(row).execute();
  }

  listForNamespace(namespaceId: string): Promise<NamespaceNotificationRow[]> {
    return this.db
      .selectFrom('namespace_notifications')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  findForNamespace(namespaceId: string, id: string): Promise<NamespaceNotificationRow | undefined> {
    return this.db
      .selectFrom('namespace_notifications')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  enabledForNamespace(namespaceId: string, event: string): Promise<NamespaceNotificationRow[]> {
    return this.db
      .selectFrom('namespace_notifications')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .where('event', '=', event)
      .where('number_of_failures', '<', maxFailures)
      .execute();
  }

  async deleteForNamespace(namespaceId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('namespace_notifications')
      .where('namespace_id', '=', namespaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Takes the right to notify about a quota threshold of a namespace: true when it never
   * notified, or last did at or before `cutoff`. Concurrent callers (replicas) race on one row;
   * only one wins.
   */
  async claimQuotaThreshold(
    namespaceId: string,
    thresholdPercent: number,
    now: number,
    cutoff: number,
  ): Promise<boolean> {
    const inserted = await this.db
      .insertInto('quota_notification_state')
      .values({ namespace_id: namespaceId, threshold_percent: thresholdPercent, last_notified_at: now })
      .onConflict((oc) => oc.columns(['namespace_id', 'threshold_percent']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return true;
    const updated = await this.db
      .updateTable('quota_notification_state')
      .set({ last_notified_at: now })
      .where('namespace_id', '=', namespaceId)
      .where('threshold_percent', '=', thresholdPercent)
      .where('last_notified_at', '<=', cutoff)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) > 0;
  }

  /** Gives a claim back (nothing was queued), so the threshold notifies again next time. */
  async releaseQuotaThreshold(namespaceId: string, thresholdPercent: number): Promise<void> {
    await this.db
      .deleteFrom('quota_notification_state')
      .where('namespace_id', '=', namespaceId)
      .where('threshold_percent', '=', thresholdPercent)
      .execute();
  }

  // Both kinds

  findById(scope: 'repository', id: string): Promise<NotificationRow | undefined>;
  findById(
    scope: NotificationScope,
    id: string,
  ): Promise<NotificationRow | NamespaceNotificationRow | undefined>;
  findById(scope: NotificationScope, id: string) {
    return this.db.selectFrom(notificationTables[scope]).selectAll().where('id', '=', id).executeTakeFirst();
  }

  async setFailures(scope: NotificationScope, id: string, failures: number): Promise<void> {
    await this.db
      .updateTable(notificationTables[scope])
      .set({ number_of_failures: failures })
      .where('id', '=', id)
      .execute();
  }

  /** Adds one failure and returns the new count. */
  async addFailure(scope: NotificationScope, id: string): Promise<number> {
    await this.db
      .updateTable(notificationTables[scope])
      .set({ number_of_failures: sql`number_of_failures + 1` })
      .where('id', '=', id)
      .execute();
    return (await this.findById(scope, id))?.number_of_failures ?? maxFailures;
  }

  // Deliveries

  async enqueue(scope: NotificationScope, rows: NewDelivery[]): Promise<void> {
    if (rows.length > 0) await this.db.insertInto(deliveryTables[scope]).values(rows).execute();
  }

  /**
   * Takes up to `limit` due deliveries of one queue for this worker until `leaseUntil`. Each row
   * is claimed with a conditional update, so two workers (or replicas) never take the same one.
   */
  async claimDue(
    scope: NotificationScope,
    now: number,
    leaseUntil: number,
    limit: number,
  ): Promise<DeliveryRow[]> {
    const table = deliveryTables[scope];
    const due = await this.db
      .selectFrom(table)
      .selectAll()
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
    const claimed: DeliveryRow[] = [];
    for (const row of due) {
      const result = await this.db
        .updateTable(table)
        .set({ leased_until: leaseUntil })
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) claimed.push({ ...row, leased_until: leaseUntil });
    }
    return claimed;
  }

  async finish(scope: NotificationScope, id: string): Promise<void> {
    await this.db.deleteFrom(deliveryTables[scope]).where('id', '=', id).execute();
  }

  async retryLater(
    scope: NotificationScope,
    id: string,
    changes: { attempts: number; nextAttemptAt: number; error: string },
  ): Promise<void> {
    await this.db
      .updateTable(deliveryTables[scope])
      .set({
        attempts: changes.attempts,
        next_attempt_at: changes.nextAttemptAt,
        last_error: changes.error.slice(0, 1000),
        leased_until: null,
      })
      .where('id', '=', id)
      .execute();
  }

  async pending(notificationId: string): Promise<DeliveryRow[]> {
    const rows: DeliveryRow[] = [];
    for (const scope of notificationScopes)
      rows.push(
        ...(await this.db
          .selectFrom(deliveryTables[scope])
          .selectAll()
          .where('notification_id', '=', notificationId)
          .orderBy('created_at')
          .execute()),
      );
    return rows;
  }
}
