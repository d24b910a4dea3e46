import type { Clock } from '../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../platform/errors.js';
import { newId, randomToken } from '../platform/ids.js';
import type { IdentityStore } from './identity.store.js';
import { validateNamespaceName } from './names.js';
import { decoyHash, hashPassword, verifyPassword } from './passwords.js';
import type { Subject } from './subject.js';
import type { OrganizationRole, RepositoryRole } from './tables.js';

export interface User {
  id: string;
  name: string;
  email: string | null;
  superuser: boolean;
  enabled: boolean;
}

const toUser = (row: {
  id: string;
  name: string;
  email: string | null;
  superuser: number;
  enabled: number;
}): User => ({
  id: row.id,
  name: row.name,
  email: row.email,
  superuser: row.superuser === 1,
  enabled: row.enabled === 1,
});

export const subjectOf = (user: User): Subject => ({
  kind: 'user',
  id: user.id,
  name: user.name,
  superuser: user.superuser,
});

export class IdentityService {
  constructor(
    private readonly store: IdentityStore,
    private readonly clock: Clock,
  ) {}

  async createUser(input: {
    name: string;
    password?: string;
    email?: string;
    superuser?: boolean;
  }): Promise<User> {
    const name = validateNamespaceName(input.name, 'username');
    if (input.password !== undefined && input.password.length < 8) {
      throw new Invalid('INVALID_PASSWORD', 'password must be at least 8 characters', { field: 'password' });
    }
    if (await this.store.findNamespace(name))
      throw new Conflict('NAMESPACE_EXISTS', `the name ${name} is already taken`);
    const id = newId();
    await this.store.insertUser({
      id,
      name,
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      email: input.email ?? null,
      superuser: input.superuser ?? false,
      created_at: this.clock.now(),
    });
    return { id, name, email: input.email ?? null, superuser: input.superuser ?? false, enabled: true };
  }

  /**
   * Creates the superuser "admin" when the database has no user yet.
   * Returns the password when it was generated (to print once), else undefined.
   */
  async ensureAdmin(password: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.store.countUsers()) > 0) return { created: false };
    const generated = password ? undefined : randomToken(12);
    try {
      await this.createUser({ name: 'admin', password: password ?? generated, superuser: true });
    } catch (err) {
      // A second replica starting at the same moment created it first.
      if (err instanceof Conflict) return { created: false };
      throw err;
    }
    return { created: true, generatedPassword: generated };
  }

  /** The user these credentials belong to, or undefined; costs one argon2 verify whether or not the user exists. */
  async authenticate(name: string, password: string): Promise<User | undefined> {
    const row = await this.store.findUserByName(name);
    if (!row?.password_hash) {
      await verifyPassword(await decoyHash(), password);
      return undefined;
    }
    if (!(await verifyPassword(row.password_hash, password)) || row.enabled !== 1) return undefined;
    return toUser(row);
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = await this.store.findUserById(id);
    return row ? toUser(row) : undefined;
  }

  async getUserByName(name: string): Promise<User> {
    const row = await this.store.findUserByName(name);
    if (!row) throw new NotFound('USER_NOT_FOUND', `user ${name} not found`);
    return toUser(row);
  }

  async setUserEnabled(name: string, enabled: boolean): Promise<void> {
    await this.store.setUserEnabled((await this.getUserByName(name)).id, enabled);
  }

  async createOrganization(input: { name: string; owner: User }): Promise<{ id: string; name: string }> {
    const name = validateNamespaceName(input.name, 'name');
    if (await this.store.findNamespace(name))
      throw new Conflict('NAMESPACE_EXISTS', `the name ${name} is already taken`);
    const org = { id: newId(), name, created_at: this.clock.now() };
    await this.store.insertOrganization(org, input.owner.id);
    return { id: org.id, name };
  }

  async setMember(organization: string, user: string, role: OrganizationRole): Promise<void> {
    const org = await this.store.findNamespace(organization);
    if (org?.kind !== 'organization')
      throw new NotFound('ORGANIZATION_NOT_FOUND', `organization ${organization} not found`);
    await this.store.upsertMember(org.id, (await this.getUserByName(user)).id, role);
  }

  async namespaceExists(name: string): Promise<boolean> {
    return (await this.store.findNamespace(name)) !== undefined;
  }

  async grantRepository(repositoryId: string, userId: string, role: RepositoryRole): Promise<void> {
    await this.store.upsertRepositoryPermission(repositoryId, userId, role);
  }

  async revokeRepositoryPermissions(repositoryId: string): Promise<void> {
    await this.store.deleteRepositoryPermissions(repositoryId);
  }
}
