import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { RancherPipelineTables } from './tables.js';

export type RancherPipelineRow = Selectable<RancherPipelineTables['rancher_pipelines']>;

export class RancherPipelinesStore {
  constructor(private readonly db: Kysely<RancherPipelineTables>) {}

  async insert(row: Insertable<RancherPipelineTables['rancher_pipelines']>): Promise<void> {
    await this.db.insertInto('rancher_pipelines').values(row).execute();
  }

  find(pipelineId: string): Promise<RancherPipelineRow | undefined> {
    return this.db
      .selectFrom('rancher_pipelines')
      .selectAll()
      .where('pipeline_id', '=', pipelineId)
      .executeTakeFirst();
  }

  findByDisplayName(namespace: string, displayName: string): Promise<RancherPipelineRow | undefined> {
    return this.db
      .selectFrom('rancher_pipelines')
      .selectAll()
      .where('namespace', '=', namespace)
      .where('display_name', '=', displayName)
      .executeTakeFirst();
  }

  list(namespace: string): Promise<RancherPipelineRow[]> {
    return this.db
      .selectFrom('rancher_pipelines')
      .selectAll()
      .where('namespace', '=', namespace)
      .orderBy('created_at')
      .orderBy('pipeline_id')
      .execute();
  }

  async update(
    pipelineId: string,
    changes: Updateable<RancherPipelineTables['rancher_pipelines']>,
  ): Promise<void> {
    await this.db
      .updateTable('rancher_pipelines')
      .set(changes)
      .where('pipeline_id', '=', pipelineId)
      .execute();
  }
}
