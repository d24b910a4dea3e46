export { BlobsService, resolveRange, type ByteRangeRequest } from './blobs.service.js';
export { GarbageCollector, type GcReport } from './gc.service.js';
export {
  ManifestsService,
  referrersIndexMediaType,
  type Referrer,
  type StoredManifest,
} from './manifests.service.js';
export { registryMigrations } from './migrations.js';
export { namespaceOf, validateRepositoryName } from './names.js';
export { RegistryStore } from './registry.store.js';
export { RepositoriesService, type Repository } from './repositories.service.js';
export type { RegistryTables } from './tables.js';
export { UploadsService, type ChunkRange, type UploadState } from './uploads.service.js';
