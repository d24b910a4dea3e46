export { sourceMigrations } from './migrations.js';
export type { SourceTables } from './tables.js';
export { SourcesStore } from './sources.store.js';
export {
  GitHubClient,
  githubApiBase,
  nextLink,
  type CachedRepository,
  type GitHubEndpoint,
  type RemoteProfile,
} from './github.js';
export {
  SOURCE_PROVIDER_TYPES,
  SourceProvidersService,
  type SourceProvider,
  type SourceProviderInput,
  type SourceProviderType,
} from './source-providers.service.js';
export {
  SourceAccountsService,
  credentialName,
  type GitRepoCache,
  type RemoteAccount,
  type RemoteLogin,
  type SourceCredentialWriter,
} from './source-accounts.service.js';
