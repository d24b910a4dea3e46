import type { Kysely } from 'kysely';
import type { BlobStore } from './platform/blobs/blob-store.js';
import type { Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { EventBus } from './platform/events.js';
import { KeyedMutex } from './platform/keyed-mutex.js';
import type { SecretBox } from './platform/secrets.js';
import {
  AccountService,
  AccountStore,
  ApplicationsService,
  ApplicationsStore,
  CredentialsService,
  identityMigrations,
  IdentityService,
  IdentityStore,
  Policy,
  RegistryTokens,
  RobotsService,
  OrganizationsService,
  PrototypesService,
  GlobalMessagesService,
  GlobalMessagesStore,
  serviceKeyMigrations,
  ServiceKeysService,
  ServiceKeysStore,
  SuperuserService,
  SuperuserStore,
  type IdentityTables,
  type ServiceKeyTables,
} from './identity/index.js';
import {
  BlobsService,
  GarbageCollector,
  ManifestsService,
  registryMigrations,
  RegistryStore,
  RepositoriesService,
  StarsService,
  starsMigrations,
  StarsStore,
  UploadsService,
  NamespacesService,
  NamespacesStore,
  quotaMigrations,
  QuotasService,
  QuotasStore,
  type QuotaTables,
  type RegistryTables,
  type StarsTables,
  LabelsService,
  LabelsStore,
  ManifestDetailsService,
  RepositoryAdminService,
  RepositoryAdminStore,
  RepositoryPermissionsService,
  tagLifecycleMigrations,
  TagsService,
  TagsStore,
  type LabelsTables,
} from './registry/index.js';
import {
  auditDomainEvents,
  auditMigrations,
  AuditService,
  AuditStore,
  type AuditTables,
} from './audit/index.js';
import {
  notificationMigrations,
  NotificationsService,
  NotificationsStore,
  type NotificationTables,
} from './notifications/index.js';
import { Mailer } from './platform/mailer.js';
import {
  ImageCopier,
  mirrorMigrations,
  MirrorService,
  MirrorStore,
  type MirrorTables,
} from './registry/mirror/index.js';
import {
  proxyCacheMigrations,
  ProxyCacheService,
  ProxyCacheStore,
  type ProxyCacheTables,
} from './registry/proxy-cache/index.js';
import { OutboundPolicy } from './platform/outbound.js';

export type Tables = IdentityTables &
  RegistryTables &
  StarsTables &
  LabelsTables &
  QuotaTables &
  ServiceKeyTables &
  AuditTables &
  NotificationTables &
  MirrorTables &
  ProxyCacheTables;

/** Every context's migrations, applied in name order. */
export const migrations = {
  ...identityMigrations,
  ...registryMigrations,
  ...starsMigrations,
  ...tagLifecycleMigrations,
  ...quotaMigrations,
  ...serviceKeyMigrations,
  ...auditMigrations,
  ...notificationMigrations,
  ...mirrorMigrations,
  ...proxyCacheMigrations,
};

export interface Infrastructure {
  config: Config;
  db: Kysely<Tables>;
  blobStore: BlobStore;
  secrets: SecretBox;
  clock: Clock;
}

export type Services = Awaited<ReturnType<typeof createServices>>;

/** Wires the domain services; the only place that knows how they depend on each other. */
export async function createServices(infra: Infrastructure) {
  const { config, db, blobStore, clock } = infra;
  const events = new EventBus();
  const digestLocks = new KeyedMutex();

  const identityStore = new IdentityStore(db as unknown as Kysely<IdentityTables>);
  const identity = new IdentityService(identityStore, clock);
  // The policy asks the mirror and proxy cache (wired below) which robot mirrors a repository and which organizations pull through.
  const policy = new Policy(identityStore, {
    isProxyCache: (namespace): Promise<boolean> => proxyCache.isProxyCache(namespace),
    mirrorRobot: (repositoryId): Promise<string | undefined> => mirror.mirrorRobot(repositoryId),
  });
  // Robots a repository mirror uses may not be deleted; the mirror is wired below.
  const robots = new RobotsService(identityStore, infra.secrets, clock, events, (robotId): Promise<boolean> =>
    mirror.usesRobot(robotId),
  );
  const credentials = new CredentialsService(identityStore, identity, robots, infra.secrets, clock);
  const accounts = new AccountService(
    new AccountStore(db as unknown as Kysely<IdentityTables>),
    identity,
    credentials,
    events,
    clock,
  );
  const applications = new ApplicationsService(
    new ApplicationsStore(db as unknown as Kysely<IdentityTables>),
    identity,
    credentials,
    infra.secrets,
    events,
    clock,
  );
  const tokens = await RegistryTokens.load({
    store: identityStore,
    secrets: infra.secrets,
    service: config.tokenService,
    ttlSeconds: config.tokenTtlSeconds,
    clock,
  });

  const registryStore = new RegistryStore(db as unknown as Kysely<RegistryTables>);
  const graceMs = config.gcGraceSeconds * 1000;
  const repositories = new RepositoriesService(registryStore, identity, policy, events, clock);
  const namespaces = new NamespacesService(
    new NamespacesStore(db as unknown as Kysely<RegistryTables>),
    identity,
  );
  const quotas = new QuotasService(
    new QuotasStore(db as unknown as Kysely<QuotaTables>),
    namespaces,
    identity,
    events,
    clock,
  );
  const uploads = new UploadsService(
    registryStore,
    blobStore,
    repositories,
    digestLocks,
    clock,
    config.uploadTtlSeconds * 1000,
    quotas,
  );
  const blobs = new BlobsService(
    registryStore,
    blobStore,
    repositories,
    policy,
    digestLocks,
    events,
    clock,
    graceMs,
    quotas,
  );
  const manifests = new ManifestsService(
    registryStore,
    repositories,
    events,
    clock,
    config.maxManifestBytes,
    quotas,
  );
  const stars = new StarsService(
    new StarsStore(db as unknown as Kysely<StarsTables & RegistryTables>),
    policy,
    clock,
  );
  const tags = new TagsService(
    new TagsStore(db as unknown as Kysely<RegistryTables>),
    registryStore,
    manifests,
    identity,
    events,
    clock,
  );
  const manifestDetails = new ManifestDetailsService(registryStore, blobStore);
  const labels = new LabelsService(
    new LabelsStore(db as unknown as Kysely<LabelsTables & RegistryTables>),
    manifestDetails,
    events,
    clock,
  );
  const repositoryAdmin = new RepositoryAdminService(
    new RepositoryAdminStore(db as unknown as Kysely<RegistryTables>),
    repositories,
    identity,
    policy,
    tags,
    stars,
    events,
  );
  const repositoryPermissions = new RepositoryPermissionsService(identity, robots, events);
  const serviceKeys = new ServiceKeysService(
    new ServiceKeysStore(db as unknown as Kysely<ServiceKeyTables>),
    identity,
    events,
    clock,
  );
  const globalMessages = new GlobalMessagesService(
    new GlobalMessagesStore(db as unknown as Kysely<ServiceKeyTables>),
    events,
    clock,
  );
  const superuser = new SuperuserService(
    new SuperuserStore(db as unknown as Kysely<IdentityTables>),
    identity,
    namespaces,
    events,
    infra.secrets,
    clock,
  );
  // Usage logs and notifications: both subscribe to the event bus; outbound requests go through one policy.
  const outbound = new OutboundPolicy(config.outboundAllow);
  const mailer = new Mailer(config.smtpUrl, config.smtpFrom);
  const audit = new AuditService(
    new AuditStore(db as unknown as Kysely<AuditTables>),
    async (name) => {
      const ns = await identity.findNamespace(name);
      return ns ? (ns.kind === 'organization' ? 'org' : 'user') : undefined;
    },
    infra.secrets,
    outbound,
    mailer,
    clock,
    (message, err) => process.emitWarning(`${message}: ${err instanceof Error ? err.message : String(err)}`),
  );
  auditDomainEvents(events, audit);
  const notifications = new NotificationsService(
    new NotificationsStore(db as unknown as Kysely<NotificationTables>),
    repositories,
    identity,
    events,
    infra.secrets,
    { outbound, mailer },
    clock,
    { publicUrl: config.publicUrl },
  );
  notifications.listen();

  const organizations = new OrganizationsService(
    identityStore,
    identity,
    {
      inNamespace: (namespace) => repositories.inNamespace(namespace),
      removeNamespace: (namespace) => namespaces.removeNamespace(namespace),
    },
    events,
  );
  const prototypes = new PrototypesService(identityStore, identity, events, clock);
  const gc = new GarbageCollector(registryStore, blobStore, uploads, digestLocks, clock, graceMs);

  // Repository mirroring and organization proxy caches copy from upstream registries through the registry services.
  const copier = new ImageCopier(registryStore, repositories, uploads, manifests);
  const upstreamSettings = { policy: outbound, maxManifestBytes: config.maxManifestBytes };
  const mirror = new MirrorService(
    new MirrorStore(db as unknown as Kysely<MirrorTables & RegistryTables>),
    repositories,
    repositoryAdmin,
    manifests,
    identity,
    robots,
    copier,
    infra.secrets,
    events,
    clock,
    upstreamSettings,
  );
  const proxyCache = new ProxyCacheService(
    new ProxyCacheStore(db as unknown as Kysely<ProxyCacheTables & IdentityTables>),
    identity,
    repositories,
    manifests,
    copier,
    infra.secrets,
    events,
    clock,
    {
      ...upstreamSettings,
      timeoutMs: 60_000,
      onUpstreamError: (err, { repository, reference }) =>
        process.emitWarning(
          `proxy cache could not fetch ${repository}:${reference}: ${err instanceof Error ? err.message : String(err)}`,
        ),
    },
  );
  manifests.setPullThrough(proxyCache);
  blobs.setPullThrough(proxyCache);

  return {
    events,
    identity,
    robots,
    organizations,
    prototypes,
    credentials,
    accounts,
    applications,
    policy,
    tokens,
    repositories,
    uploads,
    blobs,
    manifests,
    stars,
    tags,
    manifestDetails,
    labels,
    repositoryAdmin,
    repositoryPermissions,
    gc,
    namespaces,
    quotas,
    serviceKeys,
    globalMessages,
    superuser,
    audit,
    notifications,
    mailer,
    outbound,
    mirror,
    proxyCache,
  };
}
