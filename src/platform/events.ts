import { EventEmitter } from 'node:events';

/** Every change a user can make is announced here; notifications, triggers and the audit log subscribe. */
export type DomainEvent =
  | { type: 'repository.created'; repository: string; actor: string }
  | {
      type: 'manifest.pushed';
      repository: string;
      digest: string;
      mediaType: string;
      tag?: string;
      actor: string;
    }
  | { type: 'manifest.deleted'; repository: string; digest: string; actor: string }
  | { type: 'tag.deleted'; repository: string; tag: string; actor: string }
  | { type: 'blob.deleted'; repository: string; digest: string; actor: string }
  // Quotas (registry/quotas.service.ts). `limitBytes` is the quota's size; a limit is `thresholdPercent` of it.
  | { type: 'quota.created' | 'quota.deleted'; namespace: string; limitBytes: number; actor?: string }
  | {
      type: 'quota.changed';
      namespace: string;
      limitBytes: number;
      previousLimitBytes: number;
      actor?: string;
    }
  | {
      type: 'quota_limit.created' | 'quota_limit.deleted';
      namespace: string;
      limitType: 'Warning' | 'Reject';
      thresholdPercent: number;
      actor?: string;
    }
  | {
      type: 'quota_limit.changed';
      namespace: string;
      limitType: 'Warning' | 'Reject';
      thresholdPercent: number;
      previousLimitType: 'Warning' | 'Reject';
      previousThresholdPercent: number;
      actor?: string;
    }
  // A write took the namespace up to a Warning limit (quota.warning), or was refused by a Reject limit (quota.exceeded).
  | {
      type: 'quota.warning' | 'quota.exceeded';
      namespace: string;
      thresholdPercent: number;
      usageBytes: number;
      limitBytes: number;
      actor?: string;
    }
  // The superuser panel (admin/superuser.service.ts, identity/service-keys.service.ts, identity/global-messages.service.ts).
  | { type: 'user.created'; user: string; email: string | null; actor?: string }
  | { type: 'user.deleted' | 'user.enabled' | 'user.disabled'; user: string; actor?: string }
  | { type: 'user.superuser_changed'; user: string; superuser: boolean; actor?: string }
  | { type: 'organization.renamed'; organization: string; previous: string; actor?: string }
  | { type: 'namespace.ownership_taken'; namespace: string; wasUser: boolean; actor?: string }
  | {
      type:
        | 'service_key.created'
        | 'service_key.approved'
        | 'service_key.modified'
        | 'service_key.extended'
        | 'service_key.deleted';
      kid: string;
      service: string;
      name: string;
      actor?: string;
    }
  | { type: 'message.created' | 'message.deleted'; uuid: string; actor?: string }
  // A stored secret or credential of runs (runs/credentials): names only, never values.
  | {
      type: 'run_credential.put' | 'run_credential.deleted';
      namespace: string;
      credential: 'secret' | 'git' | 'registry';
      name: string;
      actor?: string;
    }
  // Pipeline source providers and users' linked source-host accounts (runs/sources): never secrets or tokens.
  | { type: 'source_provider.configured'; provider: string; host: string; actor?: string }
  | {
      type: 'remote_account.linked' | 'remote_account.removed' | 'remote_account.repos_refreshed';
      user: string;
      account: string;
      actor?: string;
    }
  // Emitted by the OCI face after a manifest GET (not HEAD) was answered.
  | { type: 'manifest.pulled'; repository: string; reference: string; digest: string; actor: string }
  // Below, `actor` is optional: a service that is not told who acts leaves it out and the
  // audit log takes the caller from the request context (src/platform/request-context.ts).
  | { type: 'repository.deleted'; repository: string; actor?: string }
  | { type: 'repository.visibility_changed'; repository: string; visibility: string; actor?: string }
  | { type: 'repository.description_changed'; repository: string; actor?: string }
  | { type: 'repository.state_changed'; repository: string; state: string; actor?: string }
  | {
      type: 'repository.permission_changed';
      repository: string;
      delegate: { kind: 'user' | 'robot' | 'team'; name: string };
      /** The new role; null when the permission was removed. */
      role: string | null;
      /** The role before; null when there was none. */
      previous: string | null;
      actor?: string;
    }
  | { type: 'tag.created'; repository: string; tag: string; digest: string; actor?: string }
  | {
      type: 'tag.moved';
      repository: string;
      tag: string;
      digest: string;
      previousDigest: string;
      actor?: string;
    }
  | { type: 'tag.restored'; repository: string; tag: string; digest: string; actor?: string }
  | {
      type: 'tag.expiration_changed';
      repository: string;
      tag: string;
      /** Epoch milliseconds; null when the expiration was removed. */
      expiration: number | null;
      actor?: string;
    }
  | { type: 'tag.immutability_changed'; repository: string; tag: string; immutable: boolean; actor?: string }
  // A tag pushed out of the time machine window (Quay's permanently_delete_tag): no longer restorable.
  | { type: 'tag.permanently_deleted'; repository: string; tag: string; digest: string; actor?: string }
  | { type: 'label.added'; repository: string; digest: string; key: string; value: string; actor?: string }
  | { type: 'label.deleted'; repository: string; digest: string; key: string; actor?: string }
  | { type: 'robot.created'; robot: string; actor?: string }
  | { type: 'robot.deleted'; robot: string; actor?: string }
  | { type: 'robot.token_regenerated'; robot: string; actor?: string }
  | { type: 'organization.created'; organization: string; actor?: string }
  | {
      type: 'application.created';
      organization: string;
      application: string;
      clientId: string;
      actor?: string;
    }
  | {
      type: 'application.updated';
      organization: string;
      application: string;
      clientId: string;
      actor?: string;
    }
  | {
      type: 'application.deleted';
      organization: string;
      application: string;
      clientId: string;
      actor?: string;
    }
  | {
      type: 'application.secret_reset';
      organization: string;
      application: string;
      clientId: string;
      actor?: string;
    }
  | {
      type: 'application.token_created';
      organization: string;
      /** The application's name. */
      application: string;
      clientId: string;
      tokenId: string;
      scope: string;
      user: string;
      actor?: string;
    }
  | {
      type: 'application.token_revoked';
      organization: string;
      application: string;
      clientId: string;
      tokenId: string;
      actor?: string;
    }
  | { type: 'app_token.created'; user: string; tokenId: string; title: string; actor?: string }
  | { type: 'app_token.revoked'; user: string; tokenId: string; title: string; actor?: string }
  | { type: 'user.password_changed'; user: string; actor?: string }
  | {
      type: 'user.email_changed';
      user: string;
      email: string | null;
      previous: string | null;
      actor?: string;
    }
  | { type: 'user.tag_expiration_changed'; user: string; seconds: number; actor?: string }
  | { type: 'user.signed_in'; user: string; actor?: string }
  | { type: 'user.signed_out'; user: string; actor?: string }
  | { type: 'organization.deleted'; organization: string; actor?: string }
  | { type: 'team.created'; organization: string; team: string; role: string; actor?: string }
  | { type: 'team.deleted'; organization: string; team: string; actor?: string }
  | { type: 'team.role_changed'; organization: string; team: string; role: string; actor?: string }
  | { type: 'team.member_added'; organization: string; team: string; member: string; actor?: string }
  | { type: 'team.member_removed'; organization: string; team: string; member: string; actor?: string }
  | {
      type: 'team.description_changed';
      organization: string;
      team: string;
      description: string;
      actor?: string;
    }
  | {
      type: 'organization.email_changed';
      organization: string;
      email: string | null;
      previous: string | null;
      actor?: string;
    }
  | { type: 'organization.tag_expiration_changed'; organization: string; seconds: number; actor?: string }
  | { type: 'organization.member_removed'; organization: string; member: string; actor?: string }
  | ({ type: 'prototype.created' } & PrototypeEventInfo)
  | ({ type: 'prototype.changed' } & PrototypeEventInfo)
  | ({ type: 'prototype.deleted' } & PrototypeEventInfo)
  | {
      type: 'notification.created' | 'notification.deleted' | 'notification.reset';
      repository: string;
      uuid: string;
      event: string;
      method: string;
      actor?: string;
    }
  // Notifications of a whole namespace (quota_warning, quota_error).
  | {
      type:
        'namespace_notification.created' | 'namespace_notification.deleted' | 'namespace_notification.reset';
      namespace: string;
      uuid: string;
      event: string;
      method: string;
      actor?: string;
    }
  // A setting of a repository's mirror changed (Quay logs one entry per setting); secrets are masked in `to`.
  | { type: 'mirror.config_changed'; repository: string; changed: string; to: unknown; actor?: string }
  | { type: 'proxy_cache.created'; organization: string; upstreamRegistry: string; actor?: string }
  | { type: 'proxy_cache.deleted'; organization: string; actor?: string }
  // Builds and mirrors (emitted by the runs and mirror contexts); notifications turn them into
  // Quay's build_* and repo_mirror_sync_* events.
  | {
      type: 'build.queued' | 'build.started' | 'build.succeeded' | 'build.failed' | 'build.cancelled';
      repository: string;
      build: BuildEventInfo;
      actor?: string;
    }
  | {
      type: 'mirror.sync_started' | 'mirror.sync_succeeded' | 'mirror.sync_failed';
      repository: string;
      /** Quay's message, e.g. `'quay.io/ns/repo' with tag pattern 'latest,v*'`. */
      message: string;
      actor?: string;
    }
  // Quay build triggers (src/runs/builds): activated (Quay's setup_repo_trigger), deleted, enabled or disabled.
  | {
      type: 'build_trigger.activated' | 'build_trigger.deleted' | 'build_trigger.toggled';
      repository: string;
      triggerId: string;
      service: string;
      /** build_trigger.toggled: whether it is now enabled. */
      enabled?: boolean;
      actor?: string;
    }
  // Runs (src/runs): created (by any trigger), started (its first job claimed), a cancel asked for,
  // finished (`state` is the run's end state); `actor` is who started or cancelled it.
  | ({ type: 'run.created' | 'run.started' | 'run.cancel_requested' | 'run.finished' } & RunEventInfo)
  | ({ type: 'job.started' | 'job.finished' } & JobEventInfo)
  | ({ type: 'step.started' | 'step.finished'; stepId: string; step: string; index: number } & JobEventInfo);

/** A run as its events describe it. `state` is a run state of src/runs/states.ts. */
export interface RunEventInfo {
  runId: string;
  pipelineId: string;
  namespace: string;
  pipeline: string;
  number: number;
  state: string;
  /** What started it: manual, webhook, cron, image, pipeline. */
  trigger: string;
  actor?: string;
}

/** A job (one attempt of it) as its events describe it; `state` is the job's (or step's) state. */
export interface JobEventInfo {
  runId: string;
  pipelineId: string;
  jobId: string;
  job: string;
  stage: string;
  attempt: number;
  state: string;
  /** Why it ended as it did, for every end but success. */
  reason?: string;
}

/** A default permission prototype of an organization, as its events describe it. */
export interface PrototypeEventInfo {
  organization: string;
  id: string;
  role: string;
  /** The role before a change. */
  previous?: string;
  delegate: { kind: 'user' | 'robot' | 'team'; name: string };
  activatingUser: string | null;
  actor?: string;
}

/** What a build event tells subscribers; the fields of Quay's build notification payloads. */
export interface BuildEventInfo {
  id: string;
  /** Display name (short commit sha or archive checksum). */
  name: string;
  dockerTags: string[];
  triggerId?: string;
  triggerKind?: string;
  /** Trigger metadata: `{ref, commit, default_branch, commit_info}` for git-triggered builds. */
  triggerMetadata?: Record<string, unknown>;
  isManual?: boolean;
  manualUser?: string | null;
  imageId?: string;
  manifestDigests?: string[];
  errorMessage?: string;
}

/** The event of type `T`; a member of the union may declare several types (`'a' | 'b'`). */
export type EventOf<T extends DomainEvent['type']> = NarrowEvent<DomainEvent, T>;
type NarrowEvent<E, T> = E extends { type: infer U } ? (T extends U ? E & { type: T } : never) : never;

type Handler<T extends DomainEvent['type']> = (event: EventOf<T>) => void;

/** In-process event bus. Handlers run synchronously after the change is committed and must not throw. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  on<T extends DomainEvent['type']>(type: T, handler: Handler<T>): () => void {
    this.emitter.on(type, handler);
    return () => this.emitter.off(type, handler);
  }

  emit(event: DomainEvent): void {
    this.emitter.emit(event.type, event);
  }
}
