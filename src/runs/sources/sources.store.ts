import type { Insertable, Kysely, Selectable } from 'kysely';
import type { SourceTables } from './tables.js';

export type SourceProviderRow = Selectable<SourceTables['source_providers']>;
export type RemoteAccountRow = Selectable<SourceTables['remote_accounts']>;
export type GitRepoCacheRow = Selectable<SourceTables['git_repo_caches']>;

/** Queries of source providers, remote accounts and repository caches. Accounts are always read per user. */
export class SourcesStore {
  constructor(private readonly db: Kysely<SourceTables>) {}

  providers(): Promise<SourceProviderRow[]> {
    return this.db.selectFrom('source_providers').selectAll().orderBy('type').execute();
  }

  findProvider(type: string): Promise<SourceProviderRow | undefined> {
    return this.db.selectFrom('source_providers').selectAll().where('type', '=', type).executeTakeFirst();
  }

  /** Inserts or replaces the provider's settings; `created_*` of an existing row are kept. */
  async putProvider(row: Insertable<SourceTables['source_providers']>): Promise<void> {
    await this.db
      .insertInto('source_providers')
      .values(row)
      .onConflict((oc) =>
        oc.column('type').doUpdateSet({
          scheme: row.scheme,
          host: row.host,
          client_id: row.client_id,
          client_secret_sealed: row.client_secret_sealed ?? null,
          enabled: row.enabled,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  accountsOf(userId: string): Promise<RemoteAccountRow[]> {
    return this.db
      .selectFrom('remote_accounts')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('name')
      .execute();
  }

  findAccount(userId: string, name: string): Promise<RemoteAccountRow | undefined> {
    return this.db
      .selectFrom('remote_accounts')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /** Inserts the account, or replaces the profile and token of the user's account of the same name. */
  async putAccount(row: Insertable<SourceTables['remote_accounts']>): Promise<void> {
    await this.db
      .insertInto('remote_accounts')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['user_id', 'name']).doUpdateSet({
          login: row.login,
          display_name: row.display_name,
          avatar_url: row.avatar_url,
          html_url: row.html_url,
          access_token_sealed: row.access_token_sealed,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  /** True when a row was deleted; its repository cache goes with it. */
  async removeAccount(userId: string, name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('remote_accounts')
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async putRepoCache(row: Insertable<SourceTables['git_repo_caches']>): Promise<void> {
    await this.db
      .insertInto('git_repo_caches')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('remote_account_id')
          .doUpdateSet({ repositories: row.repositories, refreshed_at: row.refreshed_at }),
      )
      .execute();
  }

  /** The user's caches with the name and type of their account. */
  repoCachesOf(userId: string): Promise<Array<GitRepoCacheRow & { account_name: string; type: string }>> {
    return this.db
      .selectFrom('git_repo_caches')
      .innerJoin('remote_accounts', 'remote_accounts.id', 'git_repo_caches.remote_account_id')
      .selectAll('git_repo_caches')
      .select(['remote_accounts.name as account_name', 'remote_accounts.type'])
      .where('git_repo_caches.user_id', '=', userId)
      .orderBy('remote_accounts.name')
      .execute();
  }
}
