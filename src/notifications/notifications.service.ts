import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound } from '../platform/errors.js';
import type { EventBus, EventOf } from '../platform/events.js';
import { newId } from '../platform/ids.js';
import { currentRequest } from '../platform/request-context.js';
import type { SecretBox } from '../platform/secrets.js';
import {
  buildPhaseData,
  buildQueuedData,
  describeEvent,
  isNamespaceNotificationEvent,
  isNotificationEvent,
  mirrorData,
  namespaceNotificationEvents,
  quotaEventData,
  repoPushData,
  shouldPerform,
  type AnyNotificationEvent,
  type EventData,
  type NamespaceNotificationEvent,
  type NotificationEvent,
  type QuotaUsage,
  type ServerAddress,
} from './notification-events.js';
import {
  notificationMethods,
  perform,
  validateMethodConfig,
  type MethodConfig,
  type MethodDeps,
  type NotificationMethod,
} from './notification-methods.js';
import {
  maxFailures,
  notificationScopes,
  type DeliveryRow,
  type NamespaceNotificationRow,
  type NotificationRow,
  type NotificationScope,
  type NotificationsStore,
} from './notifications.store.js';

/** The repository a notification belongs to, as the registry describes it. */
export interface RepositoryRef {
  id: string;
  name: string;
}

/** A user or organization whose namespace notifications are addressed (`/organization/{org}/notifications`, `/user/namespacenotifications`). */
export interface NamespaceTarget {
  name: string;
  kind: 'user' | 'organization';
}

export interface Notification {
  uuid: string;
  title: string | null;
  event: AnyNotificationEvent;
  method: NotificationMethod;
  config: MethodConfig;
  eventConfig: Record<string, unknown>;
  numberOfFailures: number;
}

export interface NotificationInput {
  event: string;
  method: string;
  config: MethodConfig;
  eventConfig: Record<string, unknown>;
  title?: string | null;
}

export interface NotificationsOptions {
  /** External base URL; else the URL of the request that caused the event. */
  publicUrl?: string;
  /** First retry delay; each further one is four times longer. */
  retryBaseMs?: number;
  /** A quota threshold of a namespace notifies again only after this long (Quay's QUOTA_NOTIFICATION_COOLDOWN_SECONDS). */
  quotaCooldownMs?: number;
  onError?: (message: string, err: unknown) => void;
}

/** A delivery is given up after this many attempts even if its notification keeps firing. */
const maxAttempts = 5;
const leaseMs = 60_000;
const claimBatch = 20;
const defaultQuotaCooldownMs = 24 * 3600 * 1000;

type AnyNotificationRow = NotificationRow | NamespaceNotificationRow;
type NamespaceRow = { id: string; name: string; kind: 'user' | 'organization' };

/**
 * Repository notifications (Quay's "events and notifications") and namespace notifications
 * (quota_warning, quota_error of a user or organization). Events are turned into deliveries in
 * durable queue tables; `drain` sends what is due, with retries and backoff. Each failed delivery
 * counts against its notification; after three in a row it stops firing until its failures are
 * reset, as in Quay. A quota threshold of a namespace notifies at most once per cooldown (a day),
 * however many pushes it refuses. `slipway serve` drains on an interval; tests call `drain`
 * themselves.
 */
export class NotificationsService {
  private readonly spawning = new Set<Promise<void>>();
  private draining?: Promise<number>;
  private readonly retryBaseMs: number;
  private readonly quotaCooldownMs: number;

  constructor(
    private readonly store: NotificationsStore,
    private readonly repositories: { find(name: string): Promise<RepositoryRef | undefined> },
    private readonly namespaces: { findNamespace(name: string): Promise<NamespaceRow | undefined> },
    private readonly events: EventBus,
    private readonly secrets: SecretBox,
    private readonly methods: MethodDeps,
    private readonly clock: Clock,
    private readonly options: NotificationsOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 30_000;
    this.quotaCooldownMs = options.quotaCooldownMs ?? defaultQuotaCooldownMs;
  }

  async create(repository: RepositoryRef, input: NotificationInput): Promise<Notification> {
    if (!isNotificationEvent(input.event))
      throw new Invalid('INVALID_EVENT', `event: unknown event ${input.event}`, { field: 'event' });
    const method = this.checkMethod(input, `method: unknown method ${input.method}`);
    validateEventConfig(input.event, input.eventConfig);
    const row = { ...this.newRow(input, method), repository_id: repository.id };
    await this.store.insert(row);
    this.events.emit({
      type: 'notification.created',
      repository: repository.name,
      uuid: row.id,
      event: row.event,
      method: row.method,
    });
    return this.toNotification(row);
  }

  async list(repository: RepositoryRef): Promise<Notification[]> {
    return (await this.store.list(repository.id)).map((row) => this.toNotification(row));
  }

  async get(repository: RepositoryRef, uuid: string): Promise<Notification> {
    const row = await this.store.find(repository.id, uuid);
    if (!row) throw new NotFound('NOTIFICATION_NOT_FOUND', 'Not Found');
    return this.toNotification(row);
  }

  async delete(repository: RepositoryRef, uuid: string): Promise<void> {
    const row = await this.store.find(repository.id, uuid);
    if (!row || !(await this.store.delete(repository.id, uuid))) throw notFoundFor(repository, uuid);
    this.events.emit({
      type: 'notification.deleted',
      repository: repository.name,
      uuid,
      event: row.event,
      method: row.method,
    });
  }

  /** Sets the failure count back to zero: the notification fires again. */
  async resetFailures(repository: RepositoryRef, uuid: string): Promise<void> {
    const row = await this.store.find(repository.id, uuid);
    if (!row) throw notFoundFor(repository, uuid);
    await this.store.setFailures('repository', row.id, 0);
    this.events.emit({
      type: 'notification.reset',
      repository: repository.name,
      uuid,
      event: row.event,
      method: row.method,
    });
  }

  /** Queues the event's sample payload for delivery by this notification. */
  async test(repository: RepositoryRef, uuid: string): Promise<void> {
    const row = await this.store.find(repository.id, uuid);
    if (!row || !isNotificationEvent(row.event)) throw notFoundFor(repository, uuid);
    const data = describeEvent(row.event).sample(this.serverAddress(), repository.name);
    await this.store.enqueue('repository', [this.delivery(row.id, data)]);
  }

  // Namespace notifications (endpoints/api/namespacenotification.py): unknown ones are 404.

  async createForNamespace(target: NamespaceTarget, input: NotificationInput): Promise<Notification> {
    const namespace = await this.namespace(target);
    if (!isNamespaceNotificationEvent(input.event))
      throw new Invalid(
        'INVALID_EVENT',
        `Invalid event '${input.event}'. Must be one of: ${[...namespaceNotificationEvents].sort().join(', ')}`,
        { field: 'event' },
      );
    const method = this.checkMethod(input, `Unknown notification method '${input.method}'`);
    const row = { ...this.newRow(input, method), namespace_id: namespace.id };
    await this.store.insertForNamespace(row);
    this.events.emit({
      type: 'namespace_notification.created',
      namespace: namespace.name,
      uuid: row.id,
      event: row.event,
      method: row.method,
    });
    return this.toNotification(row);
  }

  async listForNamespace(target: NamespaceTarget): Promise<Notification[]> {
    const namespace = await this.namespace(target);
    return (await this.store.listForNamespace(namespace.id)).map((row) => this.toNotification(row));
  }

  async getForNamespace(target: NamespaceTarget, uuid: string): Promise<Notification> {
    const { row } = await this.namespaceNotification(target, uuid);
    return this.toNotification(row);
  }

  async deleteForNamespace(target: NamespaceTarget, uuid: string): Promise<void> {
    const { namespace, row } = await this.namespaceNotification(target, uuid);
    if (!(await this.store.deleteForNamespace(namespace.id, uuid))) throw notificationNotFound();
    this.events.emit({
      type: 'namespace_notification.deleted',
      namespace: namespace.name,
      uuid,
      event: row.event,
      method: row.method,
    });
  }

  async resetForNamespace(target: NamespaceTarget, uuid: string): Promise<void> {
    const { namespace, row } = await this.namespaceNotification(target, uuid);
    await this.store.setFailures('namespace', row.id, 0);
    this.events.emit({
      type: 'namespace_notification.reset',
      namespace: namespace.name,
      uuid,
      event: row.event,
      method: row.method,
    });
  }

  /** Queues the event's sample payload (Quay's sample quota figures) for delivery by this notification. */
  async testForNamespace(target: NamespaceTarget, uuid: string): Promise<void> {
    const { namespace, row } = await this.namespaceNotification(target, uuid);
    if (!isNamespaceNotificationEvent(row.event)) throw notificationNotFound();
    const data = describeEvent(row.event).sample(this.serverAddress(), namespace.name);
    await this.store.enqueue('namespace', [this.delivery(row.id, data)]);
  }

  /** Raises the notification events of domain events (pushes, builds, mirror syncs, quota limits). */
  listen(): () => void {
    const offs = [
      this.events.on('quota.warning', (e) => this.spawnQuota(e.namespace, 'quota_warning', e)),
      this.events.on('quota.exceeded', (e) => this.spawnQuota(e.namespace, 'quota_error', e)),
      this.events.on('manifest.pushed', (e) => {
        if (e.tag) this.spawn(e.repository, 'repo_push', (s) => repoPushData(s, e.repository, [e.tag!]));
      }),
      ...(
        [
          ['build.queued', 'build_queued'],
          ['build.started', 'build_start'],
          ['build.succeeded', 'build_success'],
          ['build.failed', 'build_failure'],
          ['build.cancelled', 'build_cancelled'],
        ] as const
      ).map(([type, event]) =>
        this.events.on(type, (e: EventOf<typeof type>) =>
          this.spawn(e.repository, event, (s) =>
            event === 'build_queued'
              ? buildQueuedData(s, e.repository, e.build)
              : buildPhaseData(s, e.repository, e.build),
          ),
        ),
      ),
      ...(
        [
          ['mirror.sync_started', 'repo_mirror_sync_started'],
          ['mirror.sync_succeeded', 'repo_mirror_sync_success'],
          ['mirror.sync_failed', 'repo_mirror_sync_failed'],
        ] as const
      ).map(([type, event]) =>
        this.events.on(type, (e: EventOf<typeof type>) =>
          this.spawn(e.repository, event, (s) => mirrorData(s, e.repository, e.message)),
        ),
      ),
    ];
    return () => offs.forEach((off) => off());
  }

  /**
   * Queues a delivery for every enabled notification of the repository for `event`. Runs in
   * the background: the caller (an event handler inside a request) does not wait.
   */
  spawn(repositoryName: string, event: NotificationEvent, build: (server: ServerAddress) => EventData): void {
    const server = this.serverAddress();
    this.background(async () => {
      const repository = await this.repositories.find(repositoryName);
      if (!repository) return;
      const rows = await this.store.enabledFor(repository.id, event);
      if (rows.length === 0) return;
      const data = build(server);
      await this.store.enqueue(
        'repository',
        rows
          .filter((row) => shouldPerform(event, data, parseObject(row.event_config)))
          .map((row) => this.delivery(row.id, data)),
      );
    });
  }

  /**
   * Queues a quota event for every enabled notification of the namespace, unless the same
   * threshold already notified within the cooldown (Quay's quota_notification_state): a push
   * refused blob after blob raises one quota_error, not one per blob.
   */
  private spawnQuota(namespaceName: string, event: NamespaceNotificationEvent, usage: QuotaUsage): void {
    const server = this.serverAddress();
    this.background(async () => {
      const namespace = await this.namespaces.findNamespace(namespaceName);
      if (!namespace) return;
      const rows = await this.store.enabledForNamespace(namespace.id, event);
      if (rows.length === 0) return;
      const now = this.clock.now();
      const threshold = usage.thresholdPercent;
      if (!(await this.store.claimQuotaThreshold(namespace.id, threshold, now, now - this.quotaCooldownMs)))
        return;
      const data = quotaEventData(server, namespace.name, usage);
      try {
        await this.store.enqueue(
          'namespace',
          rows.map((row) => this.delivery(row.id, data)),
        );
      } catch (err) {
        await this.store.releaseQuotaThreshold(namespace.id, threshold);
        throw err;
      }
    });
  }

  /** Runs queueing work after the event handler returned; `drain` and `settle` wait for it. */
  private background(work: () => Promise<void>): void {
    const job: Promise<void> = work()
      .catch((err: unknown) => this.options.onError?.('failed to queue notifications', err))
      .finally(() => this.spawning.delete(job));
    this.spawning.add(job);
  }

  /** Sends every due delivery; returns how many were attempted. Concurrent calls run one after another. */
  async drain(): Promise<number> {
    while (this.spawning.size > 0) await Promise.all([...this.spawning]);
    while (this.draining) await this.draining;
    this.draining = this.drainDue().finally(() => (this.draining = undefined));
    return this.draining;
  }

  /** Waits for queued spawns and a drain in flight (shutdown). */
  async settle(): Promise<void> {
    while (this.spawning.size > 0) await Promise.all([...this.spawning]);
    if (this.draining) await this.draining;
  }

  /** Deliveries still queued for a notification (attempts, next attempt, last error). */
  async pendingDeliveries(
    uuid: string,
  ): Promise<Array<{ attempts: number; nextAttemptAt: number; lastError: string | null }>> {
    return (await this.store.pending(uuid)).map((d) => ({
      attempts: d.attempts,
      nextAttemptAt: d.next_attempt_at,
      lastError: d.last_error,
    }));
  }

  private async drainDue(): Promise<number> {
    let attempted = 0;
    for (const scope of notificationScopes) {
      for (;;) {
        const now = this.clock.now();
        const batch = await this.store.claimDue(scope, now, now + leaseMs, claimBatch);
        if (batch.length === 0) break;
        await Promise.all(batch.map((delivery) => this.deliver(scope, delivery)));
        attempted += batch.length;
      }
    }
    return attempted;
  }

  private async deliver(scope: NotificationScope, delivery: DeliveryRow): Promise<void> {
    const notification = await this.store.findById(scope, delivery.notification_id);
    const known = scope === 'repository' ? isNotificationEvent : isNamespaceNotificationEvent;
    if (!notification || notification.number_of_failures >= maxFailures || !known(notification.event)) {
      await this.store.finish(scope, delivery.id);
      return;
    }
    const { method, config, event } = this.toNotification(notification);
    try {
      await perform(
        this.methods,
        method,
        config,
        event,
        JSON.parse(delivery.payload) as Record<string, unknown>,
      );
    } catch (err) {
      const failures = await this.store.addFailure(scope, notification.id);
      const attempts = delivery.attempts + 1;
      if (failures >= maxFailures || attempts >= maxAttempts) await this.store.finish(scope, delivery.id);
      else
        await this.store.retryLater(scope, delivery.id, {
          attempts,
          nextAttemptAt: this.clock.now() + this.retryBaseMs * 4 ** (attempts - 1),
          error: (err as Error).message,
        });
      this.options.onError?.('notification delivery failed', err);
      return;
    }
    await this.store.finish(scope, delivery.id);
    if (notification.number_of_failures > 0) await this.store.setFailures(scope, notification.id, 0);
  }

  /** Checks the method and its configuration of a new notification; `unknown` is the message for an unknown method. */
  private checkMethod(input: NotificationInput, unknown: string): NotificationMethod {
    if (!(notificationMethods as readonly string[]).includes(input.method))
      throw new Invalid('INVALID_METHOD', unknown, { field: 'method' });
    const method = input.method as NotificationMethod;
    validateMethodConfig(method, input.config, this.methods.outbound);
    return method;
  }

  /** The columns of a new repository or namespace notification; its method configuration is sealed. */
  private newRow(input: NotificationInput, method: NotificationMethod) {
    return {
      id: newId(),
      event: input.event,
      method,
      title: input.title ?? null,
      config: this.secrets.seal(JSON.stringify(input.config)),
      event_config: JSON.stringify(input.eventConfig),
      number_of_failures: 0,
      created_at: this.clock.now(),
    };
  }

  /** The namespace a target names, if it is of the target's kind. */
  private async namespace(target: NamespaceTarget): Promise<NamespaceRow> {
    const namespace = await this.namespaces.findNamespace(target.name);
    if (!namespace || namespace.kind !== target.kind)
      throw new NotFound('NAMESPACE_NOT_FOUND', 'Not Found', { name: target.name });
    return namespace;
  }

  private async namespaceNotification(
    target: NamespaceTarget,
    uuid: string,
  ): Promise<{ namespace: NamespaceRow; row: NamespaceNotificationRow }> {
    const namespace = await this.namespace(target);
    const row = await this.store.findForNamespace(namespace.id, uuid);
    if (!row) throw notificationNotFound();
    return { namespace, row };
  }

  private delivery(notificationId: string, data: Record<string, unknown>) {
    const now = this.clock.now();
    return {
      id: newId(),
      notification_id: notificationId,
      payload: JSON.stringify(data),
      attempts: 0,
      next_attempt_at: now,
      leased_until: null,
      last_error: null,
      created_at: now,
    };
  }

  private serverAddress(): ServerAddress {
    return { baseUrl: this.options.publicUrl ?? currentRequest()?.baseUrl ?? 'http://localhost' };
  }

  private toNotification(row: AnyNotificationRow): Notification {
    return {
      uuid: row.id,
      title: row.title,
      event: row.event as AnyNotificationEvent,
      method: row.method as NotificationMethod,
      config: parseObject(this.secrets.open(row.config)),
      eventConfig: parseObject(row.event_config),
      numberOfFailures: row.number_of_failures,
    };
  }
}

function parseObject(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

const notificationNotFound = () => new NotFound('NOTIFICATION_NOT_FOUND', 'Not Found');

/** Quay answers 400 (not 404) when deleting, resetting or testing an unknown repository notification. */
const notFoundFor = (repository: RepositoryRef, uuid: string) =>
  new Invalid(
    'NOTIFICATION_NOT_FOUND',
    `No repository notification found for: ${repository.name.split('/', 1)[0]}, ${repository.name.slice(repository.name.indexOf('/') + 1)}, ${uuid}`,
  );

function validateEventConfig(event: NotificationEvent, config: Record<string, unknown>): void {
  const regex = config['ref-regex'];
  if (regex === undefined || regex === null || regex === '') return;
  // Quay ignores event settings that do not apply to the event.
  if (!event.startsWith('build_')) return;
  if (typeof regex !== 'string')
    throw new Invalid('INVALID_EVENT_CONFIG', 'eventConfig.ref-regex: must be a string', {
      field: 'eventConfig.ref-regex',
    });
  try {
    new RegExp(regex);
  } catch {
    throw new Invalid('INVALID_EVENT_CONFIG', 'eventConfig.ref-regex: invalid regular expression', {
      field: 'eventConfig.ref-regex',
    });
  }
}
