import { sql, type Insertable, type Kysely, type Selectable, type SelectQueryBuilder } from 'kysely';
import type { AuditTables } from './tables.js';

export type AuditRow = Selectable<AuditTables['audit_log']>;

/** Which entries a listing covers: `start <= logged_at < end`, narrowed by the optional fields. */
export interface AuditFilter {
  start: number;
  end: number;
  namespace?: string;
  repository?: string;
  performer?: string;
  excludeKinds?: readonly string[];
}

/** Position after the last entry of a page (entries are ordered newest first, then by id). */
export interface AuditCursor {
  at: number;
  id: string;
}

const dayMs = 86_400_000;

export class AuditStore {
  constructor(private readonly db: Kysely<AuditTables>) {}

  async insert(rows: Array<Insertable<AuditTables['audit_log']>>): Promise<void> {
    if (rows.length > 0) await this.db.insertInto('audit_log').values(rows).execute();
  }

  private filtered<O>(
    query: SelectQueryBuilder<AuditTables, 'audit_log', O>,
    filter: AuditFilter,
  ): SelectQueryBuilder<AuditTables, 'audit_log', O> {
    let q = query.where('logged_at', '>=', filter.start).where('logged_at', '<', filter.end);
    if (filter.repository !== undefined) q = q.where('repository', '=', filter.repository);
    if (filter.namespace !== undefined) q = q.where('namespace', '=', filter.namespace);
    if (filter.performer !== undefined) q = q.where('performer', '=', filter.performer);
    if (filter.excludeKinds?.length) q = q.where('kind', 'not in', filter.excludeKinds);
    return q;
  }

  /** Newest first, `limit` rows after `cursor`. */
  list(filter: AuditFilter, limit: number, cursor?: AuditCursor): Promise<AuditRow[]> {
    let q = this.filtered(this.db.selectFrom('audit_log').selectAll(), filter);
    if (cursor) {
      q = q.where((eb) =>
        eb.or([
          eb('logged_at', '<', cursor.at),
          eb.and([eb('logged_at', '=', cursor.at), eb('id', '<', cursor.id)]),
        ]),
      );
    }
    return q.orderBy('logged_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** Entry counts per kind per UTC day (`day` = the day's first millisecond). */
  async countsByDay(filter: AuditFilter): Promise<Array<{ kind: string; day: number; count: number }>> {
    const day = sql<number>`(logged_at / ${sql.lit(dayMs)}) * ${sql.lit(dayMs)}`;
    const rows = await this.filtered(
      this.db
        .selectFrom('audit_log')
        .select(['kind', day.as('day'), (eb) => eb.fn.countAll<number | string>().as('count')]),
      filter,
    )
      .groupBy(['kind', day])
      .orderBy(day)
      .orderBy('kind')
      .execute();
    return rows.map((r) => ({ kind: r.kind, day: Number(r.day), count: Number(r.count) }));
  }
}
