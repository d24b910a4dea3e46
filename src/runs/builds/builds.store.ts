import type { Insertable, Kysely } from 'kysely';
import type { BuildFileRow, RepositoryBuildRow, RepositoryBuildTables } from './tables.js';

/** Queries of repository builds and filedrop files. Run state is read through the runs service, never here. */
export class RepositoryBuildsStore {
  constructor(private readonly db: Kysely<RepositoryBuildTables>) {}

  async insertBuild(row: Insertable<RepositoryBuildTables['repository_builds']>): Promise<void> {
    await this.db.insertInto('repository_builds').values(row).execute();
  }

  findBuild(repository: string, id: string): Promise<RepositoryBuildRow | undefined> {
    return this.db
      .selectFrom('repository_builds')
      .selectAll()
      .where('repository', '=', repository)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  findBuildByRun(runId: string): Promise<RepositoryBuildRow | undefined> {
    return this.db.selectFrom('repository_builds').selectAll().where('run_id', '=', runId).executeTakeFirst();
  }

  /** Newest first. */
  listBuilds(
    repository: string,
    opts: { limit: number; sinceMs?: number; triggerId?: string },
  ): Promise<RepositoryBuildRow[]> {
    let query = this.db.selectFrom('repository_builds').selectAll().where('repository', '=', repository);
    if (opts.sinceMs !== undefined) query = query.where('created_at', '>=', opts.sinceMs);
    if (opts.triggerId !== undefined) query = query.where('trigger_id', '=', opts.triggerId);
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
  }

  async insertFile(row: Insertable<RepositoryBuildTables['build_files']>): Promise<void> {
    await this.db.insertInto('build_files').values(row).execute();
  }

  findFile(id: string): Promise<BuildFileRow | undefined> {
    return this.db.selectFrom('build_files').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Marks the file uploaded; false when it was already (a file is written once). */
  async markUploaded(id: string, size: number, sha256: string, at: number): Promise<boolean> {
    const result = await this.db
      .updateTable('build_files')
      .set({ size, sha256, uploaded_at: at })
      .where('id', '=', id)
      .where('uploaded_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
