import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { NotificationTables } from './tables.js';

export type NotificationRow = Selectable<NotificationTables['repository_notifications']>;
export type DeliveryRow = Selectable<NotificationTables['notification_deliveries']>;

/** Quay stops firing a notification once this many deliveries in a row failed. */
export const maxFailures = 3;

export class NotificationsStore {
  constructor(private readonly db: Kysely<NotificationTables>) {}

  // Notifications

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

  findById(id: string): Promise<NotificationRow | undefined> {
    return this.db.selectFrom('repository_notifications').selectAll().where('id', '=', id).executeTakeFirst();
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

  async setFailures(id: string, failures: number): Promise<void> {
    await this.db
      .updateTable('repository_notifications')
      .set({ number_of_failures: failures })
      .where('id', '=', id)
      .execute();
  }

  /** Adds one failure and returns the new count. */
  async addFailure(id: string): Promise<number> {
    await this.db
      .updateTable('repository_notifications')
      .set({ number_of_failures: sql`number_of_failures + 1` })
      .where('id', '=', id)
      .execute();
    return (await this.findById(id))?.number_of_failures ?? maxFailures;
  }

  // Deliveries

  async enqueue(rows: Array<Insertable<NotificationTables['notification_deliveries']>>): Promise<void> {
    if (rows.length > 0) await this.db.insertInto('notification_deliveries').values(rows).execute();
  }

  /**
   * Takes up to `limit` due deliveries for this worker until `leaseUntil`. Each row is
   * claimed with a conditional update, so two workers (or replicas) never take the same one.
   */
  async claimDue(now: number, leaseUntil: number, limit: number): Promise<DeliveryRow[]> {
    const due = await this.db
      .selectFrom('notification_deliveries')
      .selectAll()
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
    const claimed: DeliveryRow[] = [];
    for (const row of due) {
      const result = await this.db
        .updateTable('notification_deliveries')
        .set({ leased_until: leaseUntil })
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<', now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) claimed.push({ ...row, leased_until: leaseUntil });
    }
    return claimed;
  }

  async finish(id: string): Promise<void> {
    await this.db.deleteFrom('notification_deliveries').where('id', '=', id).execute();
  }

  async retryLater(
    id: string,
    changes: { attempts: number; nextAttemptAt: number; error: string },
  ): Promise<void> {
    await this.db
      .updateTable('notification_deliveries')
      .set({
        attempts: changes.attempts,
        next_attempt_at: changes.nextAttemptAt,
        last_error: changes.error.slice(0, 1000),
        leased_until: null,
      })
      .where('id', '=', id)
      .execute();
  }

  pending(notificationId: string): Promise<DeliveryRow[]> {
    return this.db
      .selectFrom('notification_deliveries')
      .selectAll()
      .where('notification_id', '=', notificationId)
      .orderBy('created_at')
      .execute();
  }
}
