export { AccountService, type AccountProfile, type Session } from './account.service.js';
export { AccountStore } from './account.store.js';
export {
  ApplicationsService,
  defaultTokenLifetimeSeconds,
  type Application,
  type ApplicationInput,
  type ApplicationToken,
} from './applications.service.js';
export { ApplicationsStore } from './applications.store.js';
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
export {
  OrganizationsService,
  type NamespaceRepository,
  type OrganizationMember,
  type RepositoryDirectory,
  type RepositoryPermission,
  type TeamSummary,
} from './organizations.service.js';
export { PrototypesService, type Prototype, type PrototypeUser } from './prototypes.service.js';
export { identityMigrations } from './migrations.js';
export {
  GlobalMessagesService,
  messageMediaTypes,
  messageSeverities,
  type GlobalMessage,
} from './global-messages.service.js';
export { GlobalMessagesStore } from './global-messages.store.js';
export { serviceKeyMigrations } from './service-keys.migrations.js';
export {
  ServiceKeysService,
  type NewServiceKey,
  type ServiceKey,
  type ServiceKeyApproval,
} from './service-keys.service.js';
export { ServiceKeysStore, type ServiceKeyTables } from './service-keys.store.js';
export { SuperuserService, type NamespaceContents, type Page } from './superuser.service.js';
export { SuperuserStore } from './superuser.store.js';
export {
  Policy,
  type RegistryAction,
  type RegistryFacts,
  type RepositoryState,
  type RepositoryTarget,
  type Visibility,
  type VisibleSet,
} from './policy.js';
export {
  RegistryTokens,
  grantAllows,
  registryTokenUsername,
  type AccessEntry,
  type TokenGrant,
} from './registry-tokens.js';
export { RobotsService, generateRobotToken, type Robot } from './robots.service.js';
export { allScopes, parseScopes, formatScopes, type Scope } from './scopes.js';
export { anonymous, delegateOf, subjectName, type Subject } from './subject.js';
export type { DelegateKind, IdentityTables, OrganizationRole, RepositoryRole, TeamRole } from './tables.js';
