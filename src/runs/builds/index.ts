export {
  BUILD_PHASES,
  TERMINAL_BUILD_PHASES,
  type BuildLogsPage,
  type BuildPhase,
  type BuildRequest,
  type BuildSource,
  type BuildView,
  type ListBuildsOptions,
  type QuayLogEntry,
} from './types.js';
export { RepositoryBuildsService, type RepositoryBuildsOptions } from './builds.service.js';
export { repositoryBuildsMigrations } from './migrations.js';
export { RepositoryBuildsStore } from './builds.store.js';
export type { RepositoryBuildTables } from './tables.js';
export { buildPhase, isCancellable, stepPhase, type BuildProgress } from './phase.js';
export { buildLogEntries, quayLogDatetime } from './build-logs.js';
export { buildPaths } from './builds.service.js';
