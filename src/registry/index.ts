export { BlobsService, resolveRange, type ByteRangeRequest } from './blobs.service.js';
export { GarbageCollector, type GcReport } from './gc.service.js';
export {
  ManifestsService,
  referrersIndexMediaType,
  type Referrer,
  type StoredManifest,
} from './manifests.service.js';
export { LabelsService, labelMediaTypes, type Label } from './labels.service.js';
export { LabelsStore, type LabelsTables } from './labels.store.js';
export { ManifestDetailsService, type LayerInfo, type ManifestDetails } from './manifest-details.service.js';
export { registryMigrations } from './migrations.js';
export { namespaceOf, validateRepositoryName } from './names.js';
export { NamespacesService } from './namespaces.service.js';
export { NamespacesStore } from './namespaces.store.js';
export { formatByteSize, parseByteSize } from './quota-sizes.js';
export { quotaMigrations } from './quotas.migrations.js';
export {
  QuotasService,
  type Quota,
  type QuotaLimit,
  type QuotaLimitType,
  type QuotaReport,
} from './quotas.service.js';
export { QuotasStore, type QuotaTables } from './quotas.store.js';
export { RegistryStore } from './registry.store.js';
export { RepositoriesService, type Repository } from './repositories.service.js';
export {
  RepositoryAdminService,
  type RepositoryDetails,
  type RepositoryListItem,
} from './repository-admin.service.js';
export { RepositoryAdminStore } from './repository-admin.store.js';
export {
  RepositoryPermissionsService,
  type TeamPermission,
  type UserPermission,
} from './repository-permissions.service.js';
export type { RegistryTables } from './tables.js';
export { starsMigrations } from './stars.migrations.js';
export { StarsService } from './stars.service.js';
export { StarsStore, type StarsTables } from './stars.store.js';
export { tagLifecycleMigrations } from './tag-lifecycle.migrations.js';
export { TagsService, type TagChanges, type TagView } from './tags.service.js';
export { TagsStore } from './tags.store.js';
export { UploadsService, type ChunkRange, type UploadState } from './uploads.service.js';
