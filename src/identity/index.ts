export { IdentityService, subjectOf, type User } from './identity.service.js';
export { IdentityStore } from './identity.store.js';
export { identityMigrations } from './migrations.js';
export {
  Policy,
  type RegistryAction,
  type RepositoryTarget,
  type Visibility,
  type VisibleSet,
} from './policy.js';
export { RegistryTokens, grantAllows, type AccessEntry, type TokenGrant } from './registry-tokens.js';
export { anonymous, subjectName, type Subject } from './subject.js';
export type { IdentityTables, OrganizationRole, RepositoryRole } from './tables.js';
