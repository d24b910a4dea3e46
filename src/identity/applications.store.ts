import type { Kysely } from 'kysely';
import type { IdentityTables } from './tables.js';

export type ApplicationRow = IdentityTables['oauth_applications'];

/** Queries of OAuth applications and of the access tokens issued through them. */
export class ApplicationsStore {
  constructor(private readonly db: Kysely<IdentityTables>) {}

  async insert(row: ApplicationRow): Promise<void> {
    await this.db.insertInto('oauth_applications').values(row).execute();
  }

  /** The application with the name of the organization it belongs to. */
  findByClientId(clientId: string) {
    return this.db
      .selectFrom('oauth_applications')
      .innerJoin('namespaces', 'namespaces.id', 'oauth_applications.organization_id')
      .selectAll('oauth_applications')
      .select('namespaces.name as organization_name')
      .where('oauth_applications.client_id', '=', clientId)
      .executeTakeFirst();
  }

  listByOrganization(organizationId: string) {
    return this.db
      .selectFrom('oauth_applications')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async update(
    id: string,
    changes: Partial<
      Pick<
        ApplicationRow,
        'name' | 'description' | 'application_uri' | 'redirect_uri' | 'avatar_email' | 'client_secret_sealed'
      >
    >,
  ): Promise<void> {
    await this.db.updateTable('oauth_applications').set(changes).where('id', '=', id).execute();
  }

  /** Deletes the application; its tokens go with it (foreign key cascade). */
  async delete(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('access_tokens').where('application_id', '=', id).execute();
      await trx.deleteFrom('oauth_applications').where('id', '=', id).execute();
    });
  }

  /** OAuth tokens issued through an application, oldest first, with the name of the user each acts as. */
  tokens(applicationId: string, opts: { offset: number; limit: number }) {
    return this.db
      .selectFrom('access_tokens')
      .innerJoin('namespaces', 'namespaces.id', 'access_tokens.user_id')
      .select([
        'access_tokens.id',
        'access_tokens.title',
        'access_tokens.scopes',
        'access_tokens.created_at',
        'access_tokens.expires_at',
        'access_tokens.last_accessed',
        'namespaces.name as user_name',
      ])
      .where('access_tokens.application_id', '=', applicationId)
      .where('access_tokens.kind', '=', 'oauth')
      .orderBy('access_tokens.created_at')
      .orderBy('access_tokens.id')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
  }

  async deleteToken(applicationId: string, tokenId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('access_tokens')
      .where('application_id', '=', applicationId)
      .where('id', '=', tokenId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
