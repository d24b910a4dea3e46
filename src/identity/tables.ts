import type { Generated } from 'kysely';

export type NamespaceKind = 'user' | 'organization';
export type RepositoryRole = 'read' | 'write' | 'admin';
/** Team roles, as Quay names them: member (belongs), creator (may create repositories), admin (owns the organization). */
export type TeamRole = 'member' | 'creator' | 'admin';
/** Kept as an alias: an organization role is the best role of the teams one is in. */
export type OrganizationRole = TeamRole;
/** Who a repository permission or a prototype is given to. */
export type DelegateKind = 'user' | 'team' | 'robot';
export type TeamMemberKind = 'user' | 'robot';
export type AccessTokenKind = 'oauth' | 'app';

export interface IdentityTables {
  namespaces: {
    id: string;
    name: string;
    kind: NamespaceKind;
    email: string | null;
    /** Quay's "time machine": how long deleted tags can be restored. */
    tag_expiration_s: Generated<number>;
    created_at: number;
  };
  users: {
    id: string;
    password_hash: string | null;
    superuser: number;
    enabled: number;
    created_at: number;
  };
  teams: {
    id: string;
    organization_id: string;
    name: string;
    role: TeamRole;
    description: string;
    created_at: number;
  };
  team_members: {
    team_id: string;
    member_kind: TeamMemberKind;
    member_id: string;
  };
  robots: {
    id: string;
    namespace_id: string;
    /** `namespace+shortname` */
    name: string;
    description: string;
    /** sha256 of the token, for login; the token itself is also kept sealed because Quay shows it to admins again. */
    token_hash: string;
    token_sealed: string;
    metadata: string | null;
    created_at: number;
    last_accessed: number | null;
  };
  repository_grants: {
    repository_id: string;
    delegate_kind: DelegateKind;
    delegate_id: string;
    role: RepositoryRole;
  };
  permission_prototypes: {
    id: string;
    organization_id: string;
    activating_user_id: string | null;
    delegate_kind: DelegateKind;
    delegate_id: string;
    role: RepositoryRole;
    created_at: number;
  };
  oauth_applications: {
    id: string;
    organization_id: string;
    client_id: string;
    client_secret_sealed: string;
    name: string;
    description: string;
    application_uri: string;
    redirect_uri: string;
    avatar_email: string | null;
    created_at: number;
  };
  /** OAuth access tokens and app-specific tokens: a public lookup prefix and a hashed secret. */
  access_tokens: {
    id: string;
    kind: AccessTokenKind;
    user_id: string;
    application_id: string | null;
    title: string;
    lookup: string;
    secret_hash: string;
    /** App tokens are shown again to their owner (as in Quay), so they are kept sealed too. */
    code_sealed: string | null;
    scopes: string;
    created_at: number;
    expires_at: number | null;
    last_accessed: number | null;
  };
  sessions: {
    id: string;
    user_id: string;
    csrf_token: string;
    created_at: number;
    expires_at: number;
  };
  signing_keys: {
    kid: string;
    algorithm: string;
    private_key_sealed: string;
    public_jwk: string;
    created_at: number;
  };
}
