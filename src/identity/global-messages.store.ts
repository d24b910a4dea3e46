import type { Kysely, Selectable } from 'kysely';
import type { ServiceKeyTables } from './service-keys.store.js';

export type GlobalMessageRow = Selectable<ServiceKeyTables['global_messages']>;

/** Queries of the `global_messages` table (created with the service keys, migration 0031). */
export class GlobalMessagesStore {
  constructor(private readonly db: Kysely<ServiceKeyTables>) {}

  listMessages() {
    return this.db.selectFrom('global_messages').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  async insertMessage(row: GlobalMessageRow): Promise<void> {
    await this.db.insertInto('global_messages').values(row).execute();
  }

  async deleteMessage(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('global_messages').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
