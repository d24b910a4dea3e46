export { CredentialsService, type AccessToken } from './credentials.service.js';
export {
  IdentityService,
  subjectOf,
  type DelegateRef,
  type Organization,
  type Team,
  type User,
} from './identity.service.js';
export { IdentityStore } from './identity.store.js';
export { identityMigrations } from './migrations.js';
export {
  Policy,
  type RegistryAction,
  type RepositoryState,
  type RepositoryTarget,
  type Visibility,
  type VisibleSet,
} from './policy.js';
export { RegistryTokens, grantAllows, type AccessEntry, type TokenGrant } from './registry-tokens.js';
export { RobotsService, generateRobotToken, type Robot } from './robots.service.js';
export { allScopes, parseScopes, formatScopes, type Scope } from './scopes.js';
export { anonymous, delegateOf, subjectName, type Subject } from './subject.js';
export type { DelegateKind, IdentityTables, OrganizationRole, RepositoryRole, TeamRole } from './tables.js';
