export type NamespaceKind = 'user' | 'organization';
export type RepositoryRole = 'read' | 'write' | 'admin';
/** Organization roles, named as Quay names team roles so teams can take them over. */
export type OrganizationRole = 'member' | 'creator' | 'admin';

export interface IdentityTables {
  namespaces: {
    id: string;
    name: string;
    kind: NamespaceKind;
    created_at: number;
  };
  users: {
    id: string;
    password_hash: string | null;
    email: string | null;
    superuser: number;
    enabled: number;
    created_at: number;
  };
  organization_members: {
    organization_id: string;
    user_id: string;
    role: OrganizationRole;
  };
  repository_permissions: {
    repository_id: string;
    user_id: string;
    role: RepositoryRole;
  };
  signing_keys: {
    kid: string;
    algorithm: string;
    private_key_sealed: string;
    public_jwk: string;
    created_at: number;
  };
}
