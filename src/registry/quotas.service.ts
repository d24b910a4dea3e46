import type { IdentityService } from '../identity/index.js';
import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound, QuotaExceeded } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import { KeyedMutex } from '../platform/keyed-mutex.js';
import type { NamespacesService } from './namespaces.service.js';
import type { QuotaLimitType, QuotasStore } from './quotas.store.js';

export type { QuotaLimitType } from './quotas.store.js';

export interface QuotaLimit {
  id: number;
  type: QuotaLimitType;
  thresholdPercent: number;
}

export interface Quota {
  id: number;
  namespace: string;
  limitBytes: number;
  limits: QuotaLimit[];
}

/** What a namespace stores against what its quota allows (`configuredBytes` null without a quota). */
export interface QuotaReport {
  usageBytes: number;
  configuredBytes: number | null;
}

type NamespaceKind = 'user' | 'organization';

const quotaNotFound = () => new NotFound('QUOTA_NOT_FOUND', 'Not Found');
const limitNotFound = () => new NotFound('QUOTA_LIMIT_NOT_FOUND', 'Not Found');
/** The registry's refusal, worded as Quay's (endpoints/v2/errors.py QuotaExceeded). */
const quotaExceededMessage = 'Quota has been exceeded on namespace';

/** Bytes a limit allows: its percentage of the quota, rounded down as Quay does. */
const allowedBytes = (quota: Quota, limit: QuotaLimit) =>
  Math.floor((quota.limitBytes * limit.thresholdPercent) / 100);

function limitType(value: string): QuotaLimitType {
  const type = value.toLowerCase();
  if (type === 'warning') return 'Warning';
  if (type === 'reject') return 'Reject';
  throw new Invalid('INVALID_QUOTA_TYPE', 'Quota type must be one of [Warning, Reject]', { field: 'type' });
}

function thresholdPercent(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 100) {
    throw new Invalid('INVALID_QUOTA_THRESHOLD', 'Quota limit threshold must be between 1 and 100', {
      field: 'threshold_percent',
    });
  }
  return value;
}

function limitBytes(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Invalid('INVALID_QUOTA', `Invalid quota size limit value: '${value}'`, { field });
  }
  return value;
}

/**
 * Namespace quotas (Quay's namespacequota): one quota of `limitBytes` per user or organization,
 * with Warning and Reject limits at a percentage of it. Usage is what the namespace's
 * repositories store, each distinct blob counted once.
 *
 * The registry asks `admit` before every write that can grow a namespace (a finished blob
 * upload, a mount, a manifest push): a write after which usage would be above a Reject limit
 * is refused with QuotaExceeded; one that brings usage up to a Warning limit emits `quota.warning`.
 * Writes to the same namespace are serialized by this process while a limit is set, so two
 * concurrent uploads cannot both pass the check; across replicas each may overshoot by one write.
 */
export class QuotasService {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly store: QuotasStore,
    private readonly namespaces: NamespacesService,
    private readonly identity: IdentityService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** The namespace's quotas (none or one). `kind` restricts to users or organizations: the other kind is not found. */
  async list(namespace: string, kind?: NamespaceKind): Promise<Quota[]> {
    const ns = await this.namespace(namespace, kind);
    const row = await this.store.quotaOf(ns.id);
    if (!row) return [];
    return [await this.withLimits(namespace, row)];
  }

  async get(namespace: string, id: string | number, kind?: NamespaceKind): Promise<Quota> {
    const quota = (await this.list(namespace, kind)).find((q) => String(q.id) === String(id));
    if (!quota) throw quotaNotFound();
    return quota;
  }

  async create(namespace: string, bytes: number, kind?: NamespaceKind): Promise<Quota> {
    const ns = await this.namespace(namespace, kind);
    limitBytes(bytes, 'limit_bytes');
    const id = await this.store.insertQuota(ns.id, bytes, this.clock.now());
    if (id === undefined) {
      const message =
        ns.kind === 'organization'
          ? `Organization quota for '${namespace}' already exists`
          : `Quota for '${namespace}' already exists`;
      throw new Invalid('QUOTA_EXISTS', message);
    }
    this.events.emit({ type: 'quota.created', namespace, limitBytes: bytes });
    return this.get(namespace, id);
  }

  async setLimitBytes(namespace: string, id: string, bytes: number, kind?: NamespaceKind): Promise<Quota> {
    const quota = await this.get(namespace, id, kind);
    limitBytes(bytes, 'limit_bytes');
    await this.store.updateQuota(quota.id, bytes);
    this.events.emit({
      type: 'quota.changed',
      namespace,
      limitBytes: bytes,
      previousLimitBytes: quota.limitBytes,
    });
    const changed = await this.get(namespace, id);
    await this.warnIfReached(changed, changed.limits);
    return changed;
  }

  async delete(namespace: string, id: string, kind?: NamespaceKind): Promise<void> {
    const quota = await this.get(namespace, id, kind);
    await this.store.deleteQuota(quota.id);
    this.events.emit({ type: 'quota.deleted', namespace, limitBytes: quota.limitBytes });
  }

  async getLimit(
    namespace: string,
    quotaId: string,
    limitId: string,
    kind?: NamespaceKind,
  ): Promise<QuotaLimit> {
    const quota = await this.get(namespace, quotaId, kind);
    const limit = quota.limits.find((l) => String(l.id) === String(limitId));
    if (!limit) throw limitNotFound();
    return limit;
  }

  /** Adds a limit; the same type at the same percentage twice is refused. */
  async addLimit(
    namespace: string,
    quotaId: string,
    input: { type: string; thresholdPercent: number },
    kind?: NamespaceKind,
  ): Promise<QuotaLimit> {
    const quota = await this.get(namespace, quotaId, kind);
    const type = limitType(input.type);
    const percent = thresholdPercent(input.thresholdPercent);
    if (quota.limits.some((l) => l.type === type && l.thresholdPercent === percent))
      throw new Invalid('QUOTA_LIMIT_EXISTS', 'Quota limit already exists');
    const id = await this.store.insertLimit(quota.id, type, percent, this.clock.now());
    const limit = { id, type, thresholdPercent: percent };
    this.events.emit({ type: 'quota_limit.created', namespace, limitType: type, thresholdPercent: percent });
    await this.warnIfReached(quota, [limit]);
    return limit;
  }

  async updateLimit(
    namespace: string,
    quotaId: string,
    limitId: string,
    changes: { type?: string; thresholdPercent?: number },
    kind?: NamespaceKind,
  ): Promise<Quota> {
    const limit = await this.getLimit(namespace, quotaId, limitId, kind);
    const type = changes.type === undefined ? undefined : limitType(changes.type);
    const percent =
      changes.thresholdPercent === undefined ? undefined : thresholdPercent(changes.thresholdPercent);
    await this.store.updateLimit(limit.id, { type, threshold_percent: percent });
    const quota = await this.get(namespace, quotaId);
    const updated = quota.limits.find((l) => l.id === limit.id)!;
    this.events.emit({
      type: 'quota_limit.changed',
      namespace,
      limitType: updated.type,
      thresholdPercent: updated.thresholdPercent,
      previousLimitType: limit.type,
      previousThresholdPercent: limit.thresholdPercent,
    });
    await this.warnIfReached(quota, [updated]);
    return quota;
  }

  async deleteLimit(
    namespace: string,
    quotaId: string,
    limitId: string,
    kind?: NamespaceKind,
  ): Promise<void> {
    const limit = await this.getLimit(namespace, quotaId, limitId, kind);
    await this.store.deleteLimit(limit.id);
    this.events.emit({
      type: 'quota_limit.deleted',
      namespace,
      limitType: limit.type,
      thresholdPercent: limit.thresholdPercent,
    });
  }

  /** Usage and configured size of a namespace, for the `quota_report` of user and organization views. */
  async report(namespace: string): Promise<QuotaReport> {
    const [quota] = await this.list(namespace);
    return { usageBytes: await this.namespaces.usage(namespace), configuredBytes: quota?.limitBytes ?? null };
  }

  /**
   * Runs `commit` (a write into `namespace` that may add `blob`) unless it would take the namespace
   * above a Reject limit, in which case it throws QuotaExceeded and `commit` does not run.
   */
  async admit<T>(
    namespace: string,
    blob: { digest: string; size: number } | undefined,
    commit: () => Promise<T>,
  ): Promise<T> {
    const quota = await this.enforced(namespace);
    if (!quota) return commit();
    return this.locks.run(namespace, async () => {
      const before = await this.namespaces.usage(namespace);
      const grows = blob !== undefined && !(await this.namespaces.holdsBlob(namespace, blob.digest));
      const after = before + (grows ? blob.size : 0);
      const refusing = quota.limits
        .filter((l) => l.type === 'Reject')
        .sort((a, b) => a.thresholdPercent - b.thresholdPercent)
        .find((l) => after > allowedBytes(quota, l));
      if (refusing) {
        this.events.emit({
          type: 'quota.exceeded',
          namespace,
          thresholdPercent: refusing.thresholdPercent,
          usageBytes: after,
          limitBytes: quota.limitBytes,
        });
        throw new QuotaExceeded('DENIED', quotaExceededMessage, undefined);
      }
      const result = await commit();
      const reached = quota.limits
        .filter(
          (l) => l.type === 'Warning' && before < allowedBytes(quota, l) && after >= allowedBytes(quota, l),
        )
        .sort((a, b) => b.thresholdPercent - a.thresholdPercent)[0];
      if (reached) this.warn(quota, reached, after);
      return result;
    });
  }

  /** Refuses a write that stores no new blob (a manifest push) when the namespace is already above a Reject limit. */
  async ensureWithin(namespace: string): Promise<void> {
    await this.admit(namespace, undefined, async () => undefined);
  }

  /** The namespace's quota when it has limits to enforce. */
  private async enforced(namespace: string): Promise<Quota | undefined> {
    const ns = await this.identity.findNamespace(namespace);
    const row = ns ? await this.store.quotaOf(ns.id) : undefined;
    if (!row) return undefined;
    const quota = await this.withLimits(namespace, row);
    return quota.limits.length > 0 ? quota : undefined;
  }

  /** After a limit or the quota changed: a Warning limit the namespace is already above is announced now. */
  private async warnIfReached(quota: Quota, limits: QuotaLimit[]): Promise<void> {
    const usage = await this.namespaces.usage(quota.namespace);
    const reached = limits
      .filter((l) => l.type === 'Warning' && usage > allowedBytes(quota, l))
      .sort((a, b) => b.thresholdPercent - a.thresholdPercent)[0];
    if (reached) this.warn(quota, reached, usage);
  }

  private warn(quota: Quota, limit: QuotaLimit, usageBytes: number): void {
    this.events.emit({
      type: 'quota.warning',
      namespace: quota.namespace,
      thresholdPercent: limit.thresholdPercent,
      usageBytes,
      limitBytes: quota.limitBytes,
    });
  }

  private async withLimits(namespace: string, row: { id: number; limit_bytes: number }): Promise<Quota> {
    const limits = await this.store.limitsOf([row.id]);
    return {
      id: row.id,
      namespace,
      limitBytes: Number(row.limit_bytes),
      limits: limits.map((l) => ({ id: l.id, type: l.type, thresholdPercent: l.threshold_percent })),
    };
  }

  private async namespace(name: string, kind?: NamespaceKind) {
    const ns = await this.identity.findNamespace(name);
    if (!ns || (kind && ns.kind !== kind)) throw new NotFound('NAMESPACE_NOT_FOUND', 'Not Found', { name });
    return ns;
  }
}
