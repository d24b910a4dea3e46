import type { Insertable, Kysely, Selectable } from 'kysely';
import type { RunCredentialTables } from './tables.js';

export type RunSecretRow = Selectable<RunCredentialTables['run_secrets']>;
export type SourceCredentialRow = Selectable<RunCredentialTables['source_credentials']>;
export type RegistryCredentialRow = Selectable<RunCredentialTables['registry_credentials']>;

type Table = keyof RunCredentialTables;

/** Queries of the stored run credentials. A put replaces the row of (namespace, name) whole. */
export class RunCredentialsStore {
  constructor(private readonly db: Kysely<RunCredentialTables>) {}

  async putSecret(row: Insertable<RunCredentialTables['run_secrets']>): Promise<void> {
    await this.db
      .insertInto('run_secrets')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['namespace', 'name'])
          .doUpdateSet({ keys: row.keys, data_sealed: row.data_sealed, updated_at: row.updated_at }),
      )
      .execute();
  }

  findSecret(namespace: string, name: string): Promise<RunSecretRow | undefined> {
    return this.db
      .selectFrom('run_secrets')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  secretsOf(namespace: string): Promise<RunSecretRow[]> {
    return this.db
      .selectFrom('run_secrets')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('name')
      .execute();
  }

  async putSourceCredential(row: Insertable<RunCredentialTables['source_credentials']>): Promise<void> {
    await this.db
      .insertInto('source_credentials')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['namespace', 'name']).doUpdateSet({
          kind: row.kind,
          username: row.username ?? null,
          secret_sealed: row.secret_sealed,
          public_key: row.public_key ?? null,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  findSourceCredential(namespace: string, name: string): Promise<SourceCredentialRow | undefined> {
    return this.db
      .selectFrom('source_credentials')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  sourceCredentialsOf(namespace: string): Promise<SourceCredentialRow[]> {
    return this.db
      .selectFrom('source_credentials')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('name')
      .execute();
  }

  async putRegistryCredential(row: Insertable<RunCredentialTables['registry_credentials']>): Promise<void> {
    await this.db
      .insertInto('registry_credentials')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['namespace', 'name']).doUpdateSet({
          host: row.host,
          username: row.username,
          password_sealed: row.password_sealed,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  findRegistryCredential(namespace: string, name: string): Promise<RegistryCredentialRow | undefined> {
    return this.db
      .selectFrom('registry_credentials')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  /** The oldest credential of the namespace for `host` (several may name the same host). */
  findRegistryCredentialByHost(namespace: string, host: string): Promise<RegistryCredentialRow | undefined> {
    return this.db
      .selectFrom('registry_credentials')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('host', '=', host)
      .orderBy('created_at')
      .orderBy('name')
      .limit(1)
      .executeTakeFirst();
  }

  registryCredentialsOf(namespace: string): Promise<RegistryCredentialRow[]> {
    return this.db
      .selectFrom('registry_credentials')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('name')
      .execute();
  }

  /** True when a row was deleted. */
  async remove(table: Table, namespace: string, name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom(table)
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
