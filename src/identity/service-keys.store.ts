import type { Kysely, Selectable } from 'kysely';

export interface ServiceKeyTables {
  service_keys: {
    kid: string;
    service: string;
    name: string;
    /** The public key as a JWK (JSON); the private key is never stored. */
    public_jwk: string;
    /** JSON object of key/value pairs. */
    metadata: string;
    created_at: number;
    expires_at: number | null;
    rotation_duration_s: number | null;
    approver_id: string | null;
    approval_type: string | null;
    approved_at: number | null;
    approval_notes: string | null;
  };
  global_messages: {
    id: string;
    content: string;
    media_type: string;
    severity: string;
    created_at: number;
  };
}

export type ServiceKeyRow = Selectable<ServiceKeyTables['service_keys']>;

/** Queries of the `service_keys` table. */
export class ServiceKeysStore {
  constructor(private readonly db: Kysely<ServiceKeyTables>) {}

  listKeys() {
    return this.db.selectFrom('service_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
  }

  findKey(kid: string) {
    return this.db.selectFrom('service_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
  }

  async insertKey(row: ServiceKeyRow): Promise<void> {
    await this.db.insertInto('service_keys').values(row).execute();
  }

  async updateKey(
    kid: string,
    changes: Partial<Pick<ServiceKeyRow, 'name' | 'metadata' | 'expires_at'>>,
  ): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await this.db.updateTable('service_keys').set(changes).where('kid', '=', kid).execute();
  }

  /** Records the approval unless the key already has one; false when it had. */
  async approveKey(
    kid: string,
    approval: {
      approver_id: string | null;
      approval_type: string;
      approved_at: number;
      approval_notes: string;
    },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('service_keys')
      .set(approval)
      .where('kid', '=', kid)
      .where('approved_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deleteKey(kid: string): Promise<boolean> {
    const result = await this.db.deleteFrom('service_keys').where('kid', '=', kid).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
