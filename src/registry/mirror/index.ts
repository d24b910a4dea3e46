export { ImageCopier } from './image-copier.js';
export { mirrorMigrations } from './migrations.js';
export {
  formatSyncDate,
  MirrorService,
  type MirrorInput,
  type NewMirror,
  type RegistryConfig,
  type RepositoryMirror,
} from './mirror.service.js';
export { MirrorStore, type MirrorTables, type SyncStatus } from './mirror.store.js';
export type { AddressPolicy } from './registry-reference.js';
export { UpstreamError, UpstreamRegistry } from './upstream.client.js';
