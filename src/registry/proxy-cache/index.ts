export { proxyCacheMigrations } from './migrations.js';
export {
  defaultExpirationSeconds,
  ProxyCacheService,
  type ProxyCacheConfig,
  type ProxyCacheInput,
} from './proxy-cache.service.js';
export { ProxyCacheStore, type ProxyCacheTables } from './proxy-cache.store.js';
