import type { DomainEvent, EventBus, EventOf } from '../platform/events.js';
import { currentRequest } from '../platform/request-context.js';
import type { AuditEntry, AuditService, PerformerKind } from './audit.service.js';

type Described = Pick<AuditEntry, 'kind' | 'namespace' | 'repository' | 'metadata'>;

const namespaceOf = (name: string) => name.split('/', 1)[0]!;
const shortName = (name: string) => name.slice(name.indexOf('/') + 1);
/** Quay's repository metadata: `repo` is the name inside the namespace. */
const withRepo = (repository: string, kind: string, extra: Record<string, unknown> = {}): Described => {
  const namespace = namespaceOf(repository);
  return { kind, namespace, repository, metadata: { repo: shortName(repository), namespace, ...extra } };
};
const inNamespace = (namespace: string, kind: string, metadata: Record<string, unknown>): Described => ({
  kind,
  namespace,
  metadata,
});
/** A reference is a tag or a digest; Quay logs `tag` for the one and `manifest_digest` for the other. */
const reference = (ref: string, digest: string) =>
  ref.includes(':') ? { manifest_digest: digest } : { tag: ref, manifest_digest: digest };

/**
 * How each domain event reads in the usage log, with Quay's kind names and metadata keys
 * (data/logs_model, endpoints/api/*). Events missing here are not audited: those Quay has no
 * log kind for (blob.deleted, build.started/succeeded/failed, message.created/deleted,
 * user.superuser_changed, and quota.warning/quota.exceeded, which raise notifications instead).
 */
const describe: { [T in DomainEvent['type']]?: (event: EventOf<T>) => Described } = {
  'repository.created': (e) => withRepo(e.repository, 'create_repo'),
  'repository.deleted': (e) => withRepo(e.repository, 'delete_repo'),
  'repository.visibility_changed': (e) =>
    withRepo(e.repository, 'change_repo_visibility', { visibility: e.visibility }),
  'repository.description_changed': (e) => withRepo(e.repository, 'set_repo_description'),
  'repository.state_changed': (e) => withRepo(e.repository, 'change_repo_state', { state_changed: e.state }),
  'repository.permission_changed': (e) => {
    const who = e.delegate.kind === 'team' ? { team: e.delegate.name } : { username: e.delegate.name };
    if (e.role === null) return withRepo(e.repository, 'delete_repo_permission', who);
    const kind = e.previous === null ? 'add_repo_permission' : 'change_repo_permission';
    return withRepo(e.repository, kind, { ...who, role: e.role });
  },
  'manifest.pushed': (e) =>
    withRepo(
      e.repository,
      'push_repo',
      e.tag ? { tag: e.tag, manifest_digest: e.digest } : { manifest_digest: e.digest },
    ),
  'manifest.pulled': (e) => withRepo(e.repository, 'pull_repo', reference(e.reference, e.digest)),
  // Deleting a manifest deletes the tags on it; Quay logs that as delete_tag.
  'manifest.deleted': (e) => withRepo(e.repository, 'delete_tag', { manifest_digest: e.digest }),
  'tag.deleted': (e) => withRepo(e.repository, 'delete_tag', { tag: e.tag }),
  'tag.created': (e) => withRepo(e.repository, 'create_tag', { tag: e.tag, manifest_digest: e.digest }),
  'tag.moved': (e) =>
    withRepo(e.repository, 'move_tag', {
      tag: e.tag,
      manifest_digest: e.digest,
      original_manifest_digest: e.previousDigest,
    }),
  'tag.restored': (e) => withRepo(e.repository, 'revert_tag', { tag: e.tag, manifest_digest: e.digest }),
  'tag.expiration_changed': (e) =>
    withRepo(e.repository, 'change_tag_expiration', {
      tag: e.tag,
      expiration_date: e.expiration === null ? null : Math.floor(e.expiration / 1000),
    }),
  'label.added': (e) =>
    withRepo(e.repository, 'manifest_label_add', {
      manifest_digest: e.digest,
      label: { key: e.key, value: e.value },
    }),
  'label.deleted': (e) =>
    withRepo(e.repository, 'manifest_label_delete', { manifest_digest: e.digest, label: { key: e.key } }),
  'robot.created': (e) => inNamespace(e.robot.split('+', 1)[0]!, 'create_robot', { robot: e.robot }),
  'robot.deleted': (e) => inNamespace(e.robot.split('+', 1)[0]!, 'delete_robot', { robot: e.robot }),
  'robot.token_regenerated': (e) =>
    inNamespace(e.robot.split('+', 1)[0]!, 'regenerate_robot_token', { robot: e.robot }),
  'organization.created': (e) => inNamespace(e.organization, 'org_create', { namespace: e.organization }),
  'organization.deleted': (e) => inNamespace(e.organization, 'org_delete', { namespace: e.organization }),
  'team.created': (e) => inNamespace(e.organization, 'org_create_team', { team: e.team, role: e.role }),
  'team.deleted': (e) => inNamespace(e.organization, 'org_delete_team', { team: e.team }),
  'team.role_changed': (e) =>
    inNamespace(e.organization, 'org_set_team_role', { team: e.team, role: e.role }),
  'team.member_added': (e) =>
    inNamespace(e.organization, 'org_add_team_member', { team: e.team, member: e.member }),
  'team.member_removed': (e) =>
    inNamespace(e.organization, 'org_remove_team_member', { team: e.team, member: e.member }),
  'notification.created': (e) => notificationEntry('add_repo_notification', e),
  'notification.deleted': (e) => notificationEntry('delete_repo_notification', e),
  'notification.reset': (e) => notificationEntry('reset_repo_notification', e),
  'build.queued': (e) =>
    withRepo(e.repository, 'build_dockerfile', {
      build_uuid: e.build.id,
      ...(e.build.triggerId ? { trigger_id: e.build.triggerId, trigger_kind: e.build.triggerKind } : {}),
      ...(e.build.manualUser ? { manual_user: e.build.manualUser } : {}),
    }),
  'build.cancelled': (e) => withRepo(e.repository, 'cancel_build', { build_uuid: e.build.id }),
  'build_trigger.activated': (e) =>
    withRepo(e.repository, 'setup_repo_trigger', { trigger_id: e.triggerId, service: e.service }),
  'build_trigger.deleted': (e) =>
    withRepo(e.repository, 'delete_repo_trigger', { trigger_id: e.triggerId, service: e.service }),
  'build_trigger.toggled': (e) =>
    withRepo(e.repository, 'toggle_repo_trigger', {
      trigger_id: e.triggerId,
      service: e.service,
      enabled: e.enabled ?? false,
    }),
  'mirror.sync_started': (e) => withRepo(e.repository, 'repo_mirror_sync_started', { message: e.message }),
  'mirror.sync_succeeded': (e) => withRepo(e.repository, 'repo_mirror_sync_success', { message: e.message }),
  'mirror.sync_failed': (e) => withRepo(e.repository, 'repo_mirror_sync_failed', { message: e.message }),
  'mirror.config_changed': (e) =>
    withRepo(e.repository, 'repo_mirror_config_changed', { changed: e.changed, to: e.to }),
  'proxy_cache.created': (e) =>
    inNamespace(e.organization, 'create_proxy_cache_config', { upstream_registry: e.upstreamRegistry }),
  'proxy_cache.deleted': (e) => inNamespace(e.organization, 'delete_proxy_cache_config', {}),
  'namespace_notification.created': (e) => namespaceNotificationEntry('create_namespace_notification', e),
  'namespace_notification.deleted': (e) => namespaceNotificationEntry('delete_namespace_notification', e),
  'namespace_notification.reset': (e) => namespaceNotificationEntry('reset_namespace_notification', e),
  'tag.immutability_changed': (e) =>
    withRepo(e.repository, 'change_tag_immutability', { tag: e.tag, immutable: e.immutable }),
  'tag.permanently_deleted': (e) =>
    withRepo(e.repository, 'permanently_delete_tag', { tag: e.tag, manifest_digest: e.digest }),
  'quota.created': (e) =>
    inNamespace(e.namespace, 'org_create_quota', { namespace: e.namespace, limit_bytes: e.limitBytes }),
  'quota.changed': (e) =>
    inNamespace(e.namespace, 'org_change_quota', {
      namespace: e.namespace,
      limit_bytes: e.limitBytes,
      previous_limit_bytes: e.previousLimitBytes,
    }),
  'quota.deleted': (e) => inNamespace(e.namespace, 'org_delete_quota', { namespace: e.namespace }),
  'quota_limit.created': (e) =>
    inNamespace(e.namespace, 'org_create_quota_limit', {
      type: e.limitType,
      threshold_percent: e.thresholdPercent,
    }),
  'quota_limit.changed': (e) =>
    inNamespace(e.namespace, 'org_change_quota_limit', {
      type: e.limitType,
      threshold_percent: e.thresholdPercent,
    }),
  'quota_limit.deleted': (e) =>
    inNamespace(e.namespace, 'org_delete_quota_limit', {
      type: e.limitType,
      threshold_percent: e.thresholdPercent,
    }),
  'user.created': (e) => inNamespace(e.user, 'user_create', { username: e.user, email: e.email }),
  'user.deleted': (e) => inNamespace(e.user, 'user_delete', { username: e.user }),
  'user.enabled': (e) => inNamespace(e.user, 'user_enable', { username: e.user }),
  'user.disabled': (e) => inNamespace(e.user, 'user_disable', { username: e.user }),
  'user.password_changed': (e) => inNamespace(e.user, 'user_change_password', { username: e.user }),
  'user.email_changed': (e) =>
    inNamespace(e.user, 'user_change_email', { username: e.user, email: e.email, old_email: e.previous }),
  'user.tag_expiration_changed': (e) =>
    inNamespace(e.user, 'user_change_tag_expiration', { username: e.user, tag_expiration: e.seconds }),
  'user.signed_in': (e) => inNamespace(e.user, 'login_success', { type: 'quayauth' }),
  'user.signed_out': (e) => inNamespace(e.user, 'logout_success', {}),
  'organization.renamed': (e) =>
    inNamespace(e.organization, 'org_change_name', { old_name: e.previous, new_name: e.organization }),
  'organization.email_changed': (e) =>
    inNamespace(e.organization, 'org_change_email', { email: e.email, old_email: e.previous }),
  'organization.tag_expiration_changed': (e) =>
    inNamespace(e.organization, 'org_change_tag_expiration', {
      namespace: e.organization,
      tag_expiration: e.seconds,
    }),
  'organization.member_removed': (e) =>
    inNamespace(e.organization, 'org_remove_team_member', { member: e.member }),
  'namespace.ownership_taken': (e) =>
    inNamespace(e.namespace, 'take_ownership', { namespace: e.namespace, was_user: e.wasUser }),
  'team.description_changed': (e) =>
    inNamespace(e.organization, 'org_set_team_description', { team: e.team, description: e.description }),
  'prototype.created': (e) => prototypeEntry('create_prototype_permission', e),
  'prototype.changed': (e) => prototypeEntry('modify_prototype_permission', e),
  'prototype.deleted': (e) => prototypeEntry('delete_prototype_permission', e),
  'application.created': (e) => applicationEntry('create_application', e),
  'application.updated': (e) => applicationEntry('update_application', e),
  'application.deleted': (e) => applicationEntry('delete_application', e),
  'application.secret_reset': (e) => applicationEntry('reset_application_client_secret', e),
  // Tokens minted through an organization's application (endpoints/api/organization_application_tokens.py).
  'application.token_created': (e) =>
    inNamespace(e.organization, 'create_oauth_api_token', {
      oauth_token_uuid: e.tokenId,
      scope: e.scope,
      application_name: e.application,
      client_id: e.clientId,
    }),
  'application.token_revoked': (e) =>
    inNamespace(e.organization, 'revoke_oauth_api_token', {
      oauth_token_uuid: e.tokenId,
      application_name: e.application,
      client_id: e.clientId,
    }),
  'app_token.created': (e) =>
    inNamespace(e.user, 'create_app_specific_token', {
      app_specific_token_title: e.title,
      app_specific_token: e.tokenId,
    }),
  'app_token.revoked': (e) =>
    inNamespace(e.user, 'revoke_app_specific_token', {
      app_specific_token_title: e.title,
      app_specific_token: e.tokenId,
    }),
  // Service keys belong to no namespace: only the superuser listing shows them.
  'service_key.created': (e) => serviceKeyEntry('service_key_create', e),
  'service_key.approved': (e) => serviceKeyEntry('service_key_approve', e),
  'service_key.modified': (e) => serviceKeyEntry('service_key_modify', e),
  'service_key.extended': (e) => serviceKeyEntry('service_key_extend', e),
  'service_key.deleted': (e) => serviceKeyEntry('service_key_delete', e),
};

function prototypeEntry(
  kind: string,
  e: EventOf<'prototype.created' | 'prototype.changed' | 'prototype.deleted'>,
): Described {
  const delegate =
    e.delegate.kind === 'team' ? { delegate_team: e.delegate.name } : { delegate_user: e.delegate.name };
  return inNamespace(e.organization, kind, {
    id: e.id,
    role: e.role,
    ...(e.previous ? { original_role: e.previous } : {}),
    ...delegate,
    activating_user: e.activatingUser,
  });
}

function applicationEntry(
  kind: string,
  e: EventOf<
    'application.created' | 'application.updated' | 'application.deleted' | 'application.secret_reset'
  >,
): Described {
  return inNamespace(e.organization, kind, { application_name: e.application, client_id: e.clientId });
}

function serviceKeyEntry(kind: string, e: EventOf<`service_key.${string}` & DomainEvent['type']>): Described {
  return { kind, metadata: { kid: e.kid, service: e.service, name: e.name } };
}

function notificationEntry(
  kind: string,
  e: EventOf<'notification.created' | 'notification.deleted' | 'notification.reset'>,
): Described {
  return withRepo(e.repository, kind, { notification_id: e.uuid, event: e.event, method: e.method });
}

function namespaceNotificationEntry(
  kind: string,
  e: EventOf<
    'namespace_notification.created' | 'namespace_notification.deleted' | 'namespace_notification.reset'
  >,
): Described {
  return inNamespace(e.namespace, kind, {
    namespace: e.namespace,
    notification_id: e.uuid,
    event: e.event,
    method: e.method,
  });
}

const performerOf = (name: string): { kind: PerformerKind; name: string } => ({
  kind: name.includes('+') ? 'robot' : 'user',
  name,
});

/**
 * Subscribes the usage log to the event bus. Events are emitted inside the request that
 * caused them, so the caller's address (and, when the event does not name one, the
 * performer) come from the request context.
 */
export function auditDomainEvents(events: EventBus, audit: AuditService): () => void {
  const unsubscribe: Array<() => void> = [];
  for (const [type, describeEvent] of Object.entries(describe) as Array<
    [DomainEvent['type'], (event: DomainEvent) => Described]
  >) {
    unsubscribe.push(
      events.on(type, (event: DomainEvent) => {
        const request = currentRequest();
        const actor = 'actor' in event ? event.actor : undefined;
        const performer = actor ? performerOf(actor) : actor === undefined ? request?.performer : undefined;
        audit.record({ ...describeEvent(event), performer, ip: request?.ip });
      }),
    );
  }
  return () => unsubscribe.forEach((off) => off());
}
