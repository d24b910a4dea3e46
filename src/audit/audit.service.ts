import type { Clock } from '../platform/clock.js';
import { Invalid } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { Mailer } from '../platform/mailer.js';
import type { OutboundPolicy } from '../platform/outbound.js';
import type { SecretBox } from '../platform/secrets.js';
import type { AuditCursor, AuditFilter, AuditRow, AuditStore } from './audit.store.js';

export type PerformerKind = 'user' | 'robot';

/** One audited action, as services and subscribers record it. */
export interface AuditEntry {
  kind: string;
  namespace?: string;
  /** Full name, `namespace/name`. */
  repository?: string;
  performer?: { kind: PerformerKind; name: string };
  ip?: string;
  metadata: Record<string, unknown>;
  /** Epoch milliseconds; now when left out. */
  datetime?: number;
}

/** An entry read back, with its namespace's kind when the namespace still exists. */
export interface AuditRecord {
  kind: string;
  metadata: Record<string, unknown>;
  ip: string | null;
  datetime: number;
  performer?: { kind: PerformerKind; name: string };
  namespace?: { kind: 'user' | 'org'; name: string };
  repository?: string;
}

/**
 * Which logs a listing covers. `starttime` / `endtime` are Quay's `MM/DD/YYYY` (UTC) days;
 * unparseable ones fall back to the defaults, as Quay does: from a day ago to now, and the
 * end day is included.
 */
export interface LogScope {
  starttime?: string;
  endtime?: string;
  namespace?: string;
  repository?: string;
  performer?: string;
  excludeKinds?: readonly string[];
  /** Resolve each entry's namespace (the user and superuser listings show it). */
  withNamespace?: boolean;
}

export interface LogPage {
  start: number;
  end: number;
  logs: AuditRecord[];
  /** Opaque token for the following page, when there is one. */
  nextPage?: string;
}

export interface ExportDestination {
  callbackUrl?: string;
  callbackEmail?: string;
}

/** Makes the exported document of one page of entries (`terminated` on the last one). */
type ExportRenderer = (
  exportId: string,
  page: { start: number; end: number; logs: AuditRecord[] },
  terminated: boolean,
) => unknown;

/** Kinds only the superuser listing shows (Quay's SERVICE_LEVEL_LOG_KINDS). */
export const serviceLevelKinds = [
  'service_key_create',
  'service_key_approve',
  'service_key_delete',
  'service_key_modify',
  'service_key_extend',
  'service_key_rotate',
] as const;

const dayMs = 86_400_000;
const pageSize = 20;
const pageTokenTtlMs = 2 * dayMs;
const batchSize = 500;
const maxExportedEntries = 100_000;
const emailPattern = /^[^@\s]+@[^@\s]+$/;

/** `MM/DD/YYYY` (one- or two-digit month and day) as UTC midnight, or undefined. */
export function parseLogDay(value: string | undefined): number | undefined {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  const [month, day, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return ms;
}

/**
 * The usage log (Quay's "logs"). Writes are buffered and inserted in batches off the
 * request path: `record` never waits for the database. Readers see every entry recorded
 * before they asked (they flush first). Exports run in the background and are delivered to
 * a callback URL (through the outbound policy) or by e-mail.
 */
export class AuditService {
  private buffer: Array<AuditEntry & { datetime: number }> = [];
  private flushing?: Promise<void>;
  private scheduled?: NodeJS.Timeout;
  private readonly exports = new Set<Promise<void>>();

  constructor(
    private readonly store: AuditStore,
    private readonly namespaceKind: (name: string) => Promise<'user' | 'org' | undefined>,
    private readonly secrets: SecretBox,
    private readonly outbound: OutboundPolicy,
    private readonly mailer: Mailer,
    private readonly clock: Clock,
    private readonly onError: (message: string, err: unknown) => void = () => undefined,
  ) {}

  /** Queues an entry; it is written within milliseconds, in a batch with its neighbours. */
  record(entry: AuditEntry): void {
    this.buffer.push({ ...entry, datetime: entry.datetime ?? this.clock.now() });
    if (this.buffer.length >= batchSize) void this.flush();
    else this.scheduled ??= setTimeout(() => void this.flush(), 20);
  }

  /** Writes every queued entry; resolves when they are stored. */
  async flush(): Promise<void> {
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.buffer.length);
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.buffer.length > 0) await this.flush();
  }

  private async write(batch: Array<AuditEntry & { datetime: number }>): Promise<void> {
    const rows = batch.map((e) => ({
      id: newId(),
      kind: e.kind,
      namespace: e.namespace ?? null,
      repository: e.repository ?? null,
      performer: e.performer?.name ?? null,
      performer_kind: e.performer?.kind ?? null,
      ip: e.ip ?? null,
      metadata: JSON.stringify(e.metadata),
      logged_at: e.datetime,
    }));
    try {
      for (let i = 0; i < rows.length; i += batchSize) await this.store.insert(rows.slice(i, i + batchSize));
    } catch (err) {
      this.onError('failed to write audit entries', err);
    }
  }

  /** The `[start, end)` window of a listing, in Quay's terms. */
  window(scope: Pick<LogScope, 'starttime' | 'endtime'>): { start: number; end: number } {
    const now = this.clock.now();
    const start = parseLogDay(scope.starttime) ?? now - dayMs;
    const end = (parseLogDay(scope.endtime) ?? now) + dayMs;
    if (end < start)
      throw new Invalid('INVALID_TIME_RANGE', 'endtime: must not be before starttime', { field: 'endtime' });
    return { start, end };
  }

  private filter(scope: LogScope): AuditFilter {
    return {
      ...this.window(scope),
      namespace: scope.namespace,
      repository: scope.repository,
      performer: scope.performer || undefined,
      excludeKinds: scope.excludeKinds,
    };
  }

  /** One page of entries, newest first. An invalid or expired page token reads the first page. */
  async list(scope: LogScope, pageToken?: string): Promise<LogPage> {
    await this.flush();
    const filter = this.filter(scope);
    const cursor = this.openToken(pageToken);
    const rows = await this.store.list(filter, pageSize + 1, cursor);
    const more = rows.length > pageSize;
    const page = more ? rows.slice(0, pageSize) : rows;
    const last = page.at(-1);
    return {
      start: filter.start,
      end: filter.end,
      logs: await this.records(page, scope.withNamespace ?? false),
      nextPage: more && last ? this.sealToken({ at: last.logged_at, id: last.id }) : undefined,
    };
  }

  /** Entry counts per kind per UTC day. */
  async aggregate(scope: LogScope): Promise<Array<{ kind: string; count: number; datetime: number }>> {
    await this.flush();
    const rows = await this.store.countsByDay(this.filter(scope));
    return rows.map((r) => ({ kind: r.kind, count: r.count, datetime: r.day }));
  }

  /**
   * Starts an export of the entries of `scope` and returns its id at once. When done, the
   * document `render` makes of the entries is POSTed to the callback URL and/or mailed.
   */
  queueExport(scope: LogScope, destination: ExportDestination, render: ExportRenderer): string {
    if (destination.callbackUrl) this.outbound.validateUrl(destination.callbackUrl, 'callback_url');
    if (destination.callbackEmail && !emailPattern.test(destination.callbackEmail))
      throw new Invalid('INVALID_EMAIL', 'callback_email: Invalid callback e-mail', {
        field: 'callback_email',
      });
    const filter = this.filter(scope);
    const exportId = newId();
    // An export is read outside of its listing: its entries always name their namespace.
    const job = this.runExport(exportId, filter, destination, render)
      .catch((err: unknown) => this.onError('failed to export logs', err))
      .finally(() => this.exports.delete(job));
    this.exports.add(job);
    return exportId;
  }

  private async runExport(
    exportId: string,
    filter: AuditFilter,
    destination: ExportDestination,
    render: ExportRenderer,
  ): Promise<void> {
    await this.flush();
    const logs: AuditRecord[] = [];
    let cursor: AuditCursor | undefined;
    let terminated = false;
    for (;;) {
      const rows = await this.store.list(filter, batchSize, cursor);
      logs.push(...(await this.records(rows, true)));
      if (rows.length < batchSize) break;
      if (logs.length >= maxExportedEntries) {
        terminated = true;
        break;
      }
      cursor = { at: rows.at(-1)!.logged_at, id: rows.at(-1)!.id };
    }
    const document = render(exportId, { start: filter.start, end: filter.end, logs }, terminated);
    const failures: string[] = [];
    if (destination.callbackUrl) {
      try {
        const res = await this.outbound.postJson(destination.callbackUrl, document, { timeoutMs: 30_000 });
        if (res.status < 200 || res.status >= 300) failures.push(`callback answered ${res.status}`);
      } catch (err) {
        failures.push(`callback failed: ${(err as Error).message}`);
      }
    }
    if (destination.callbackEmail) {
      try {
        await this.mailer.send({
          to: destination.callbackEmail,
          subject: 'Usage logs export',
          text: `The usage logs export ${exportId} (${logs.length} entries) is attached.`,
          attachments: [
            {
              filename: `export-${exportId}.json`,
              content: JSON.stringify(document, null, 1),
              contentType: 'application/json',
            },
          ],
        });
      } catch (err) {
        failures.push(`e-mail failed: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) this.onError('failed to deliver logs export', new Error(failures.join('; ')));
  }

  /** Waits for queued writes and exports in flight (tests; shutdown). */
  async settle(): Promise<void> {
    await this.flush();
    while (this.exports.size > 0) await Promise.all([...this.exports]);
    await this.flush();
  }

  private async records(rows: AuditRow[], withNamespace: boolean): Promise<AuditRecord[]> {
    const kinds = new Map<string, Promise<'user' | 'org' | undefined>>();
    if (withNamespace) {
      for (const row of rows)
        if (row.namespace && !kinds.has(row.namespace))
          kinds.set(row.namespace, this.namespaceKind(row.namespace));
    }
    return Promise.all(
      rows.map(async (row) => {
        const record: AuditRecord = {
          kind: row.kind,
          metadata: JSON.parse(row.metadata) as Record<string, unknown>,
          ip: row.ip,
          datetime: row.logged_at,
        };
        if (row.performer) record.performer = { kind: row.performer_kind ?? 'user', name: row.performer };
        if (row.repository) record.repository = row.repository;
        const nsKind = row.namespace ? await kinds.get(row.namespace) : undefined;
        if (nsKind && row.namespace) record.namespace = { kind: nsKind, name: row.namespace };
        return record;
      }),
    );
  }

  private sealToken(cursor: AuditCursor): string {
    return this.secrets.seal(JSON.stringify({ ...cursor, exp: this.clock.now() + pageTokenTtlMs }));
  }

  private openToken(token: string | undefined): AuditCursor | undefined {
    if (!token) return undefined;
    try {
      const parsed = JSON.parse(this.secrets.open(token)) as { at?: unknown; id?: unknown; exp?: unknown };
      if (typeof parsed.at !== 'number' || typeof parsed.id !== 'string' || typeof parsed.exp !== 'number')
        return undefined;
      if (parsed.exp < this.clock.now()) return undefined;
      return { at: parsed.at, id: parsed.id };
    } catch {
      return undefined;
    }
  }
}
