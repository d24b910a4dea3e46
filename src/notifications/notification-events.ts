import type { BuildEventInfo } from '../platform/events.js';

/** Quay's repository notification events (notifications/notificationevent.py) that Slipway raises. */
export const notificationEvents = [
  'repo_push',
  'build_queued',
  'build_start',
  'build_success',
  'build_failure',
  'build_cancelled',
  'repo_mirror_sync_started',
  'repo_mirror_sync_success',
  'repo_mirror_sync_failed',
] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

/** Quay's namespace notification events (endpoints/api/namespacenotification.py VALID_NAMESPACE_EVENTS). */
export const namespaceNotificationEvents = ['quota_warning', 'quota_error'] as const;
export type NamespaceNotificationEvent = (typeof namespaceNotificationEvents)[number];

export type AnyNotificationEvent = NotificationEvent | NamespaceNotificationEvent;

export type Level = 'info' | 'warning' | 'error' | 'primary' | 'success';

/** Quay's `event_data`: what a webhook receives as its JSON body. */
export type EventData = Record<string, unknown> & {
  repository: string;
  namespace: string;
  name: string;
  docker_url: string;
  homepage: string;
};

/** Quay's build_namespace_event_data plus the quota fields: what a namespace webhook receives. */
export type NamespaceEventData = Record<string, unknown> & { namespace: string; homepage: string };

/** Where the server is reached; `docker_url` and `homepage` are built from it. */
export interface ServerAddress {
  /** `scheme://host[:port]` */
  baseUrl: string;
}

/** Quay's build_repository_event_data: the fields every repository event carries. */
export function repositoryEventData(
  server: ServerAddress,
  repository: string,
  extra: Record<string, unknown> = {},
  subpage?: string,
): EventData {
  const base = new URL(server.baseUrl);
  const slash = repository.indexOf('/');
  const homepage = `${base.origin}/repository/${repository}`;
  return {
    repository,
    namespace: repository.slice(0, slash),
    name: repository.slice(slash + 1),
    docker_url: `${base.host}/${repository}`,
    homepage: subpage ? `${homepage}/${subpage}` : homepage,
    ...extra,
  };
}

export function repoPushData(server: ServerAddress, repository: string, updatedTags: string[]): EventData {
  return repositoryEventData(server, repository, { updated_tags: updatedTags });
}

/** build_queued (endpoints/building.py). */
export function buildQueuedData(server: ServerAddress, repository: string, build: BuildEventInfo): EventData {
  const data: Record<string, unknown> = {
    build_id: build.id,
    build_name: build.name,
    docker_tags: build.dockerTags,
    repo: repository.slice(repository.indexOf('/') + 1),
    namespace: repository.slice(0, repository.indexOf('/')),
    is_manual: build.isManual ?? !build.triggerId,
    manual_user: build.manualUser ?? null,
  };
  if (build.triggerId) {
    data.trigger_id = build.triggerId;
    data.trigger_kind = build.triggerKind;
    data.trigger_metadata = build.triggerMetadata ?? {};
  }
  return repositoryEventData(server, repository, data, `build/${build.id}`);
}

/** build_start, build_success, build_failure, build_cancelled (buildman/jobutil/buildjob.py). */
export function buildPhaseData(server: ServerAddress, repository: string, build: BuildEventInfo): EventData {
  const data: Record<string, unknown> = {
    build_id: build.id,
    build_name: build.name,
    docker_tags: build.dockerTags,
    trigger_id: build.triggerId ?? null,
    trigger_kind: build.triggerKind ?? null,
    trigger_metadata: build.triggerMetadata ?? {},
  };
  if (build.imageId) data.image_id = build.imageId;
  if (build.manifestDigests) data.manifest_digests = build.manifestDigests;
  if (build.errorMessage !== undefined) data.error_message = build.errorMessage;
  return repositoryEventData(server, repository, data, `build/${build.id}`);
}

export function mirrorData(server: ServerAddress, repository: string, message: string): EventData {
  return repositoryEventData(server, repository, { message });
}

/** Quay's _format_bytes (data/model/namespacequota.py): `512 bytes`, `819.20 MB`, `1.00 GB`. */
export function formatBytes(bytes: number): string {
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${twoDecimals(value)} ${units[unit]}`;
}

/** Python's `f"{value:.2f}"`: an exact tie rounds to even (JavaScript's toFixed would round it up). */
function twoDecimals(value: number): string {
  const scaled = value * 100;
  const floor = Math.floor(scaled);
  const rounded = scaled - floor === 0.5 ? floor + (floor % 2) : Math.round(scaled);
  return (rounded / 100).toFixed(2);
}

/** What a quota event tells about the namespace's storage. */
export interface QuotaUsage {
  thresholdPercent: number;
  usageBytes: number;
  /** The quota's size. */
  limitBytes: number;
}

/** quota_warning and quota_error (data/model/namespacequota.py maybe_trigger_quota_notification). */
export function quotaEventData(
  server: ServerAddress,
  namespace: string,
  usage: QuotaUsage,
): NamespaceEventData {
  return {
    namespace,
    homepage: `${new URL(server.baseUrl).origin}/organization/${namespace}`,
    threshold_percent: usage.thresholdPercent,
    usage_bytes: usage.usageBytes,
    limit_bytes: usage.limitBytes,
    usage_percent: usage.limitBytes > 0 ? Math.floor((usage.usageBytes * 100) / usage.limitBytes) : 0,
    usage_bytes_formatted: formatBytes(usage.usageBytes),
    limit_bytes_formatted: formatBytes(usage.limitBytes),
  };
}

const sampleBuild: BuildEventInfo = {
  id: 'fake-build-id',
  name: 'some-fake-build',
  dockerTags: ['latest', 'foo', 'bar'],
  triggerId: '1245634',
  triggerKind: 'GitHub',
  triggerMetadata: {
    default_branch: 'master',
    ref: 'refs/heads/somebranch',
    commit: '42d4a62c53350993ea41069e9f2cfdefb0df097d',
  },
};

interface EventDescription<D extends Record<string, unknown> = Record<string, unknown>> {
  level: Level;
  summary: (data: D) => string;
  /** Body of e-mails and Slack attachments, in Slack's markup (`<url|text>`, `*bold*`). */
  message: (data: D) => string;
  /** What `POST .../notification/{uuid}/test` sends; `owner` is the repository or the namespace. */
  sample: (server: ServerAddress, owner: string) => D;
  /** Build events fire only for refs matching the notification's `ref-regex`, when it has one. */
  filtered?: boolean;
}

const buildSummary = (data: EventData) =>
  `for repository ${data.repository} [${String(data.build_id).slice(0, 7)}]`;
const link = (data: EventData) => `<${data.homepage}|${data.repository}>`;
const buildMessage = (verb: string) => (data: EventData) =>
  `Build ${verb} for repository ${link(data)}: tags ${((data.docker_tags as string[] | undefined) ?? []).join(', ')}` +
  (data.error_message ? `\nError: ${String(data.error_message)}` : '');

const events: { [E in NotificationEvent]: EventDescription<EventData> } & {
  [E in NamespaceNotificationEvent]: EventDescription<NamespaceEventData>;
} = {
  repo_push: {
    level: 'primary',
    summary: (d) => `Repository ${d.repository} updated`,
    message: (d) =>
      `Repository ${link(d)} has been pushed with the following tags updated: ${((d.updated_tags as string[] | undefined) ?? []).join(', ')}`,
    sample: (server, repository) =>
      repositoryEventData(server, repository, { updated_tags: ['latest', 'foo'], pruned_image_count: 3 }),
  },
  build_queued: {
    level: 'info',
    summary: (d) => `Build queued ${buildSummary(d)}`,
    message: buildMessage('queued'),
    sample: (server, repository) =>
      buildQueuedData(server, repository, {
        ...sampleBuild,
        isManual: false,
        triggerMetadata: {
          ...sampleBuild.triggerMetadata,
          commit_info: {
            url: 'http://path/to/the/commit',
            message: 'Some commit message',
            date: Math.floor(Date.now() / 1000),
            author: {
              username: 'fakeauthor',
              url: 'http://path/to/fake/author/in/scm',
              avatar_url: 'http://www.gravatar.com/avatar/fakehash',
            },
          },
        },
      }),
    filtered: true,
  },
  build_start: {
    level: 'info',
    summary: (d) => `Build started ${buildSummary(d)}`,
    message: buildMessage('started'),
    sample: (server, repository) => buildPhaseData(server, repository, sampleBuild),
    filtered: true,
  },
  build_success: {
    level: 'success',
    summary: (d) => `Build succeeded ${buildSummary(d)}`,
    message: buildMessage('succeeded'),
    sample: (server, repository) =>
      buildPhaseData(server, repository, { ...sampleBuild, imageId: '1245657346' }),
    filtered: true,
  },
  build_failure: {
    level: 'error',
    summary: (d) => `Build failure ${buildSummary(d)}`,
    message: buildMessage('failed'),
    sample: (server, repository) =>
      buildPhaseData(server, repository, { ...sampleBuild, errorMessage: 'This is a fake error message' }),
    filtered: true,
  },
  build_cancelled: {
    level: 'info',
    summary: (d) => `Build cancelled ${buildSummary(d)}`,
    message: buildMessage('cancelled'),
    sample: (server, repository) =>
      buildPhaseData(server, repository, { ...sampleBuild, imageId: '1245657346' }),
    filtered: true,
  },
  repo_mirror_sync_started: {
    level: 'info',
    summary: (d) => `Repository Mirror started for ${String(d.message)}`,
    message: (d) => `Repository mirror of ${link(d)} started: ${String(d.message)}`,
    sample: (server, repository) => mirrorData(server, repository, 'TEST NOTIFICATION'),
  },
  repo_mirror_sync_success: {
    level: 'success',
    summary: (d) => `Repository Mirror success for ${String(d.message)}`,
    message: (d) => `Repository mirror of ${link(d)} succeeded: ${String(d.message)}`,
    sample: (server, repository) => mirrorData(server, repository, 'TEST NOTIFICATION'),
  },
  repo_mirror_sync_failed: {
    level: 'error',
    summary: (d) => `Repository Mirror failed for ${String(d.message)}`,
    message: (d) => `Repository mirror of ${link(d)} failed: ${String(d.message)}`,
    sample: (server, repository) => mirrorData(server, repository, 'TEST NOTIFICATION'),
  },
  quota_warning: {
    level: 'warning',
    summary: (d) =>
      `Namespace ${d.namespace} storage usage has reached ${String(d.threshold_percent)}% of its quota limit`,
    message: (d) =>
      `Namespace <${d.homepage}|${d.namespace}> uses ${String(d.usage_bytes_formatted)} of its ` +
      `${String(d.limit_bytes_formatted)} quota (${String(d.usage_percent)}%), past its warning limit at ` +
      `${String(d.threshold_percent)}%.`,
    // Quay's sample figures, with its rounded usage_percent.
    sample: (server, namespace) => ({
      ...quotaEventData(server, namespace, {
        thresholdPercent: 80,
        usageBytes: 858993459,
        limitBytes: 1073741824,
      }),
      usage_percent: 80,
    }),
  },
  quota_error: {
    level: 'error',
    summary: (d) =>
      `Namespace ${d.namespace} storage usage has exceeded its quota limit (${String(d.usage_percent)}%)`,
    message: (d) =>
      `Namespace <${d.homepage}|${d.namespace}> would use ${String(d.usage_bytes_formatted)} of its ` +
      `${String(d.limit_bytes_formatted)} quota (${String(d.usage_percent)}%): pushes past its limit at ` +
      `${String(d.threshold_percent)}% are refused.`,
    sample: (server, namespace) => ({
      ...quotaEventData(server, namespace, {
        thresholdPercent: 100,
        usageBytes: 1127428915,
        limitBytes: 1073741824,
      }),
      usage_percent: 105,
    }),
  },
};

/**
 * How an event reads in Slack and e-mail, and its sample. Payloads of an event are only ever
 * built by its own entry, so each entry sees the data shape it was written for.
 */
export function describeEvent(event: AnyNotificationEvent): EventDescription {
  return events[event] as unknown as EventDescription;
}

export const isNotificationEvent = (value: string): value is NotificationEvent =>
  (notificationEvents as readonly string[]).includes(value);

export const isNamespaceNotificationEvent = (value: string): value is NamespaceNotificationEvent =>
  (namespaceNotificationEvents as readonly string[]).includes(value);

/** Quay's BaseBuildEvent.should_perform: `ref-regex` must match the start of the build's git ref. */
export function shouldPerform(
  event: AnyNotificationEvent,
  data: Record<string, unknown>,
  eventConfig: Record<string, unknown>,
): boolean {
  if (!describeEvent(event).filtered) return true;
  const pattern = eventConfig['ref-regex'];
  if (pattern === undefined || pattern === null || pattern === '') return true;
  const ref = (data.trigger_metadata as { ref?: unknown } | undefined)?.ref;
  if (typeof ref !== 'string') return false;
  try {
    return new RegExp(`^(?:${String(pattern)})`).test(ref);
  } catch {
    return false;
  }
}
