import type { Kysely } from 'kysely';
import type { BlobStore } from './platform/blobs/blob-store.js';
import type { Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { EventBus } from './platform/events.js';
import { KeyedMutex } from './platform/keyed-mutex.js';
import type { SecretBox } from './platform/secrets.js';
import {
  CredentialsService,
  identityMigrations,
  IdentityService,
  IdentityStore,
  Policy,
  RegistryTokens,
  RobotsService,
  type IdentityTables,
} from './identity/index.js';
import {
  BlobsService,
  GarbageCollector,
  ManifestsService,
  registryMigrations,
  RegistryStore,
  RepositoriesService,
  UploadsService,
  type RegistryTables,
} from './registry/index.js';

export type Tables = IdentityTables & RegistryTables;

/** Every context's migrations, applied in name order. */
export const migrations = { ...identityMigrations, ...registryMigrations };

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
  const policy = new Policy(identityStore);
  const robots = new RobotsService(identityStore, infra.secrets, clock);
  const credentials = new CredentialsService(identityStore, identity, robots, infra.secrets, clock);
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
  const uploads = new UploadsService(
    registryStore,
    blobStore,
    repositories,
    digestLocks,
    clock,
    config.uploadTtlSeconds * 1000,
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
  );
  const manifests = new ManifestsService(registryStore, repositories, events, clock, config.maxManifestBytes);
  const gc = new GarbageCollector(registryStore, blobStore, uploads, digestLocks, clock, graceMs);

  return {
    events,
    identity,
    robots,
    credentials,
    policy,
    tokens,
    repositories,
    uploads,
    blobs,
    manifests,
    gc,
  };
}
