export { runCredentialMigrations } from './migrations.js';
export type { RunCredentialTables } from './tables.js';
export { RunCredentialsStore } from './credentials.store.js';
export { RunSecretsService, type RunSecretInfo } from './run-secrets.service.js';
export {
  GIT_CREDENTIAL_KINDS,
  SourceCredentialsService,
  TOKEN_USERNAME,
  type GitCredential,
  type GitCredentialInfo,
  type GitCredentialInput,
  type GitCredentialKind,
} from './source-credentials.service.js';
export {
  RegistryCredentialsService,
  type RegistryCredentialInfo,
  type RegistryCredentialInput,
} from './registry-credentials.service.js';
