import type { Insertable, Kysely, Selectable } from 'kysely';
import type { TriggerTables } from './tables.js';

export type WebhookTriggerRow = Selectable<TriggerTables['webhook_triggers']>;
export type CronTriggerRow = Selectable<TriggerTables['cron_triggers']>;
export type ImageTriggerRow = Selectable<TriggerTables['image_triggers']>;
export type PipelineTriggerRow = Selectable<TriggerTables['pipeline_triggers']>;

type TriggerTable = keyof TriggerTables;

/** Queries of the trigger tables. The only write that races is the claim of a cron tick (`claimCronTick`). */
export class TriggersStore {
  constructor(private readonly db: Kysely<TriggerTables>) {}

  async insertWebhook(row: Insertable<TriggerTables['webhook_triggers']>): Promise<void> {
    await this.db.insertInto('webhook_triggers').values(row).execute();
  }

  findWebhook(id: string): Promise<WebhookTriggerRow | undefined> {
    return this.db.selectFrom('webhook_triggers').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertCron(row: Insertable<TriggerTables['cron_triggers']>): Promise<void> {
    await this.db.insertInto('cron_triggers').values(row).execute();
  }

  findCron(id: string): Promise<CronTriggerRow | undefined> {
    return this.db.selectFrom('cron_triggers').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Enabled schedules whose next tick is at or before `now`, earliest first. */
  dueCrons(now: number, limit: number): Promise<CronTriggerRow[]> {
    return this.db
      .selectFrom('cron_triggers')
      .selectAll()
      .where('enabled', '=', 1)
      .where('next_fire_at', '<=', now)
      .orderBy('next_fire_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * Moves the schedule from the tick `expected` to `next` if it still is at `expected`: true for exactly one
   * of several workers claiming the same tick.
   */
  async claimCronTick(id: string, expected: number, next: number | null): Promise<boolean> {
    const result = await this.db
      .updateTable('cron_triggers')
      .set({ next_fire_at: next })
      .where('id', '=', id)
      .where('enabled', '=', 1)
      .where('next_fire_at', '=', expected)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async updateCron(
    id: string,
    changes: Partial<Pick<CronTriggerRow, 'enabled' | 'next_fire_at' | 'schedule' | 'timezone' | 'branch'>>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('cron_triggers')
      .set(changes)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async insertImage(row: Insertable<TriggerTables['image_triggers']>): Promise<void> {
    await this.db.insertInto('image_triggers').values(row).execute();
  }

  imageTriggersOf(repository: string): Promise<ImageTriggerRow[]> {
    return this.db
      .selectFrom('image_triggers')
      .selectAll()
      .where('repository', '=', repository)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async insertPipeline(row: Insertable<TriggerTables['pipeline_triggers']>): Promise<void> {
    await this.db.insertInto('pipeline_triggers').values(row).execute();
  }

  followersOf(upstreamPipelineId: string): Promise<PipelineTriggerRow[]> {
    return this.db
      .selectFrom('pipeline_triggers')
      .selectAll()
      .where('upstream_pipeline_id', '=', upstreamPipelineId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** Every (follower, upstream) edge: small, read to refuse cycles when an edge is added. */
  pipelineEdges(): Promise<Pick<PipelineTriggerRow, 'pipeline_id' | 'upstream_pipeline_id'>[]> {
    return this.db.selectFrom('pipeline_triggers').select(['pipeline_id', 'upstream_pipeline_id']).execute();
  }

  /** The triggers of every kind of one pipeline. */
  async ofPipeline(pipelineId: string): Promise<{
    webhooks: WebhookTriggerRow[];
    crons: CronTriggerRow[];
    images: ImageTriggerRow[];
    pipelines: PipelineTriggerRow[];
  }> {
    const [webhooks, crons, images, pipelines] = await Promise.all([
      this.db
        .selectFrom('webhook_triggers')
        .selectAll()
        .where('pipeline_id', '=', pipelineId)
        .orderBy('created_at')
        .execute(),
      this.db
        .selectFrom('cron_triggers')
        .selectAll()
        .where('pipeline_id', '=', pipelineId)
        .orderBy('created_at')
        .execute(),
      this.db
        .selectFrom('image_triggers')
        .selectAll()
        .where('pipeline_id', '=', pipelineId)
        .orderBy('created_at')
        .execute(),
      this.db
        .selectFrom('pipeline_triggers')
        .selectAll()
        .where('pipeline_id', '=', pipelineId)
        .orderBy('created_at')
        .execute(),
    ]);
    return { webhooks, crons, images, pipelines };
  }

  /** Deletes trigger `id` of `pipelineId` from `table`; false when there was none. */
  async delete(table: TriggerTable, pipelineId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom(table)
      .where('id', '=', id)
      .where('pipeline_id', '=', pipelineId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
