import type { Kysely } from 'kysely';
import type { BlobStore } from './platform/blobs/blob-store.js';
import type { Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { EventBus } from './platform/events.js';
import { KeyedMutex } from './platform/keyed-mutex.js';
import type { SecretBox } from './platform/secrets.js';
import {
  AccountService,
  anonymous,
  subjectOf,
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
import { FsLogStore } from './runs/logs/fs-log-store.js';
import { runsMigrations } from './runs/migrations.js';
import { RancherPipelinesService } from './runs/rancher/rancher-pipelines.service.js';
import { RancherPipelinesStore } from './runs/rancher/rancher-pipelines.store.js';
import { rancherPipelineMigrations } from './runs/rancher/migrations.js';
import type { RancherPipelineTables } from './runs/rancher/tables.js';
import type { RunsTables } from './runs/tables.js';
import {
  RegistryCredentialsService,
  runCredentialMigrations,
  RunCredentialsStore,
  RunSecretsService,
  SourceCredentialsService,
  type RunCredentialTables,
} from './runs/credentials/index.js';
import {
  SourceAccountsService,
  sourceMigrations,
  SourceProvidersService,
  SourcesStore,
  type SourceTables,
} from './runs/sources/index.js';
import {
  checkoutStepRunners,
  ImageSteps,
  ProvenancePublisher,
  RunsService,
  RunsStore,
  Scheduler,
  scriptStepRunners,
  slipwayVersion,
} from './runs/index.js';
import { killJobProcesses, LocalExecutor } from './runs/executors/local.executor.js';
import { BuildahExecutor } from './runs/executors/buildah.executor.js';
import { parseListen } from './platform/config.js';
import {
  CronWorker,
  EventTriggers,
  triggerMigrations,
  TriggersService,
  TriggersStore,
  type StartRun,
  type TriggerTables,
} from './runs/triggers/index.js';
import { BuildTriggersService } from './runs/builds/build-triggers.service.js';
import { BuildTriggersStore } from './runs/builds/build-triggers.store.js';
import { buildTriggerMigrations } from './runs/builds/build-triggers.migrations.js';
import type { BuildTriggerTables } from './runs/builds/build-triggers.tables.js';
import { Invalid, NotFound } from './platform/errors.js';
import { resolveRef } from './runs/git/index.js';
import type { SourceResolver } from './runs/runs.service.js';
import {
  RepositoryBuildsService,
  repositoryBuildsMigrations,
  RepositoryBuildsStore,
  type RepositoryBuildTables,
} from './runs/builds/index.js';
import { fetchArchiveStepRunners } from './runs/steps/fetch-archive.step.js';

export type Tables = IdentityTables &
  RegistryTables &
  StarsTables &
  LabelsTables &
  QuotaTables &
  ServiceKeyTables &
  AuditTables &
  NotificationTables &
  MirrorTables &
  ProxyCacheTables &
  RunsTables &
  RepositoryBuildTables &
  RunCredentialTables &
  SourceTables &
  TriggerTables &
  BuildTriggerTables &
  RancherPipelineTables;

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
  ...runsMigrations,
  ...repositoryBuildsMigrations,
  ...runCredentialMigrations,
  ...sourceMigrations,
  ...triggerMigrations,
  ...buildTriggerMigrations,
  ...rancherPipelineMigrations,
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

  // Every step's output, one file per step in the data directory (shared by replicas on shared storage).
  const stepLogs = new FsLogStore({
    dir: `${config.dataDir}/step-logs`,
    maxBytesPerStep: config.logMaxBytesPerStep,
    clock,
  });

  // Pipelines and runs: every trigger starts runs through `runs.startRun`; the scheduler (started by
  // `serve`) claims their jobs and runs them here, script steps on the host or in an image with buildah.
  const runsStore = new RunsStore(db as unknown as Kysely<RunsTables>);
  // Runs that take their source from the pipeline resolve its branch or tag now, with its git credential.
  const resolveSource: SourceResolver = async ({ namespace, url, branch, tag, credentials }) => {
    const credential = credentials ? await sourceCredentials.open(namespace, credentials) : undefined;
    if (credentials && !credential) {
      throw new Invalid('CREDENTIAL_NOT_FOUND', `no git credential ${credentials} in ${namespace}`, {
        field: 'repository.credentials',
      });
    }
    return resolveRef(
      url,
      { branch, tag },
      {
        outbound,
        ...(credential && credentials ? { credential: { ...credential, name: credentials } } : {}),
      },
    );
  };
  const runs = new RunsService(runsStore, events, clock, policy, resolveSource);
  // Secrets and credentials that jobs, checkouts and image steps of a namespace's pipelines use, sealed at rest.
  const runCredentialsStore = new RunCredentialsStore(db as unknown as Kysely<RunCredentialTables>);
  const runSecrets = new RunSecretsService(runCredentialsStore, infra.secrets, events, clock);
  const sourceCredentials = new SourceCredentialsService(runCredentialsStore, infra.secrets, events, clock);
  const registryCredentials = new RegistryCredentialsService(
    runCredentialsStore,
    infra.secrets,
    events,
    clock,
  );
  // Source hosts (the cluster's GitHub settings) and users' remote accounts there; checkouts get their tokens
  // as a namespace's git credentials.
  const sourcesStore = new SourcesStore(db as unknown as Kysely<SourceTables>);
  const sourceProviders = new SourceProvidersService(
    sourcesStore,
    policy,
    outbound,
    infra.secrets,
    events,
    clock,
  );
  const sourceAccounts = new SourceAccountsService(
    sourcesStore,
    sourceProviders,
    policy,
    infra.secrets,
    events,
    clock,
    { idOf: async (name) => (await identity.findUserByName(name))?.id },
    sourceCredentials,
  );
  const { port } = parseListen(config.listen);
  // Image builds and pushes with buildah; every pushed build gets a signed SLSA provenance referrer.
  const publicUrl = config.publicUrl ?? (port > 0 ? `http://127.0.0.1:${port}` : 'http://localhost');
  const imageSteps = new ImageSteps({
    containersEnv: process.env,
    stateDir: `${config.dataDir}/image-builds`,
    tokens,
    policy,
    repositories,
    clock,
    provenance: new ProvenancePublisher({
      uploads,
      manifests,
      signer: tokens,
      clock,
      builder: { id: `${publicUrl}/builder`, version: slipwayVersion() },
    }),
    publicRegistryHost: config.publicUrl ? new URL(config.publicUrl).host : undefined,
    credentials: registryCredentials,
  });
  events.on('run.finished', (event) => {
    imageSteps.cleanupRun(event.runId).catch(() => undefined); // leftover local images only cost disk
  });
  const runScheduler = new Scheduler(runsStore, events, clock, {
    stepRunners: {
      ...scriptStepRunners({
        host: new LocalExecutor(),
        container: new BuildahExecutor({ containersEnv: process.env }),
        // Images in Slipway's registry are pulled with a token of the run, others with stored credentials.
        imageAccess: (ctx, ref) => imageSteps.pullAccess(ctx, ref),
      }),
      ...imageSteps.runners,
      // Quay builds' contexts: archive URLs through the outbound policy, or filedrop uploads.
      ...fetchArchiveStepRunners({
        outbound,
        maxBytes: config.buildArchiveMaxBytes,
        uploadedFile: (fileId) => repositoryBuilds.filePath(fileId),
      }),
      // Clone URLs pass the outbound policy (local paths count as loopback); credentials are the namespace's.
      ...checkoutStepRunners({
        outbound,
        credentials: (namespace, name) => sourceCredentials.open(namespace, name),
      }),
    },
    logStore: stepLogs,
    workspaceOf: (runId) => `${config.dataDir}/workspaces/${runId}`,
    maxJobs: config.runsMaxJobs,
    leaseMs: config.runsLeaseSeconds * 1000,
    // Steps of a job whose server died on this machine are stopped when another server takes the job over.
    killLeftovers: killJobProcesses,
    registry: port > 0 ? `127.0.0.1:${port}` : undefined,
    secrets: runSecrets.resolve,
    // A run acts for the user who started it; runs nobody started act for the pipeline's creator.
    subjectOf: async ({ actor }) => {
      const user = actor ? await identity.findUserByName(actor) : undefined;
      return user ? subjectOf(user) : anonymous;
    },
  });

  // Triggers: webhooks (the hooks face), cron schedules (the worker `serve` starts), image pushes and the end
  // of other runs (bus subscribers); all of them start runs through `runs.startRun`.
  const triggersStore = new TriggersStore(db as unknown as Kysely<TriggerTables>);
  // Rancher's pipelines fill in their source and read pipelines as code first; others go straight to runs.
  const startRun: StartRun = (pipelineId, request) => rancherPipelines.startRun(pipelineId, request);
  const triggers = new TriggersService({
    store: triggersStore,
    secrets: infra.secrets,
    startRun,
    clock,
    pipelineExists: (id) =>
      runs.getPipeline(id).then(
        () => true,
        (err: unknown) => (err instanceof NotFound ? false : Promise.reject(err)),
      ),
  });
  const rancherPipelines = new RancherPipelinesService({
    store: new RancherPipelinesStore(db as unknown as Kysely<RancherPipelineTables>),
    runs,
    triggers,
    outbound,
    clock,
    // Private repositories: read and cloned with a git credential of the namespace, or a remote account's token.
    credentials: (namespace, name) => sourceCredentials.open(namespace, name),
    remoteAccounts: sourceAccounts,
  });
  const cronTriggers = new CronWorker(triggersStore, startRun, clock);
  const eventTriggers = new EventTriggers(triggersStore, startRun);
  eventTriggers.listen(events);
  // Quay repository builds: runs of a per-repository build pipeline with each build's own definition.
  const repositoryBuilds = new RepositoryBuildsService({
    store: new RepositoryBuildsStore(db as unknown as Kysely<RepositoryBuildTables>),
    runs,
    logs: stepLogs,
    events,
    clock,
    outbound,
    filesDir: `${config.dataDir}/build-files`,
    maxArchiveBytes: config.buildArchiveMaxBytes,
  });
  repositoryBuilds.listen();
  // Quay build triggers: pushes to a source (webhook) or manual starts request repository builds.
  const buildTriggers = new BuildTriggersService({
    store: new BuildTriggersStore(db as unknown as Kysely<BuildTriggerTables>),
    events,
    secrets: infra.secrets,
    clock,
    policy,
    identity,
    repositories,
    builds: () => repositoryBuilds,
    outbound,
    sshKeys: sourceCredentials,
  });
  buildTriggers.listen(events);

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
    stepLogs,
    runs,
    runScheduler,
    runSecrets,
    sourceCredentials,
    registryCredentials,
    sourceProviders,
    sourceAccounts,
    triggers,
    cronTriggers,
    eventTriggers,
    buildTriggers,
    repositoryBuilds,
    rancherPipelines,
  };
}
