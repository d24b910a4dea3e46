import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import type { SecretBox } from '../platform/secrets.js';
import { newId, randomCode } from '../platform/ids.js';
import type { IdentityService, Organization, User } from './identity.service.js';
import { validateNamespaceName } from './names.js';
import type { Subject } from './subject.js';
import type { SuperuserStore } from './superuser.store.js';

/**
 * The registry's side of removing or renaming a whole namespace, wired in services.ts
 * (identity does not import the registry).
 */
export interface NamespaceContents {
  /** Deletes every repository of the namespace and what was granted on them. */
  removeNamespace(namespace: string): Promise<void>;
  /** Moves every repository `from/x` to `to/x`. */
  renameNamespace(from: string, to: string): Promise<void>;
}

export interface Page<T> {
  items: T[];
  /** Where the next page starts, when more follow. */
  nextOffset?: number;
}

/** Quay's generated password for a user a superuser creates: 32 characters of [A-Z0-9]. */
const generatePassword = () => randomCode(32);

const userNotFound = () => new NotFound('USER_NOT_FOUND', 'Not Found');

/** `limit` items from `offset` (everything without a limit). */
function page<T>(all: T[], opts: { limit?: number; offset?: number }): Page<T> {
  const offset = opts.offset ?? 0;
  if (opts.limit === undefined) return { items: all.slice(offset) };
  const items = all.slice(offset, offset + opts.limit);
  return offset + opts.limit < all.length ? { items, nextOffset: offset + opts.limit } : { items };
}

/**
 * The superuser panel's use cases on users and organizations (Quay's endpoints/api/superuser.py):
 * users created with a generated password, enabled or disabled (a disabled user can neither sign in
 * nor use its tokens), deleted with everything in their namespace; organizations renamed or deleted;
 * and taking ownership of a namespace. Superusers themselves cannot be changed, deleted or taken over here.
 * Access is checked by the caller.
 */
export class SuperuserService {
  constructor(
    private readonly store: SuperuserStore,
    private readonly identity: IdentityService,
    private readonly contents: NamespaceContents,
    private readonly events: EventBus,
    private readonly secrets: SecretBox,
    private readonly clock: Clock,
  ) {}

  /** Users by name; without `includeDisabled` only enabled ones. */
  async listUsers(opts: { includeDisabled: boolean; limit?: number; offset?: number }): Promise<Page<User>> {
    const users = (await this.identity.listUsers()).filter((u) => opts.includeDisabled || u.enabled);
    return page(users, opts);
  }

  async getUser(name: string): Promise<User> {
    const user = await this.identity.findUserByName(name);
    if (!user) throw userNotFound();
    return user;
  }

  /**
   * Creates a user with a generated password, returned once, with its encrypted form
   * (Quay's `encrypted_password`: sealed with the instance's secret key, readable only by it).
   */
  async createUser(input: {
    username: string;
    email?: string;
  }): Promise<{ user: User; password: string; encryptedPassword: string }> {
    if (input.email) await this.identity.requireUnusedEmail(input.email);
    const password = generatePassword();
    const user = await this.identity.createUser({ name: input.username, password, email: input.email });
    this.events.emit({ type: 'user.created', user: user.name, email: user.email });
    return { user, password, encryptedPassword: this.encryptPassword(password) };
  }

  /** A password sealed with the instance's secret key, as Quay's `encrypted_password`. */
  encryptPassword(password: string): string {
    return this.secrets.seal(password);
  }

  async updateUser(
    name: string,
    changes: { password?: string; email?: string; enabled?: boolean; superuser?: boolean },
  ): Promise<User> {
    const user = await this.getUser(name);
    if (user.superuser) throw new Invalid('SUPERUSER_UNCHANGEABLE', 'Cannot update a superuser');
    if (changes.email !== undefined && changes.email !== '' && changes.email !== user.email)
      await this.identity.requireUnusedEmail(changes.email);
    const updated = await this.identity.updateUser(name, changes);
    if (changes.password !== undefined) this.events.emit({ type: 'user.password_changed', user: name });
    if (updated.email !== user.email)
      this.events.emit({
        type: 'user.email_changed',
        user: name,
        email: updated.email,
        previous: user.email,
      });
    if (updated.enabled !== user.enabled)
      this.events.emit({ type: updated.enabled ? 'user.enabled' : 'user.disabled', user: name });
    if (updated.superuser !== user.superuser)
      this.events.emit({ type: 'user.superuser_changed', user: name, superuser: updated.superuser });
    return updated;
  }

  /** Deletes a user with its repositories, robots, tokens and memberships. */
  async deleteUser(name: string): Promise<void> {
    const user = await this.getUser(name);
    if (user.superuser) throw new Invalid('SUPERUSER_UNCHANGEABLE', 'Cannot delete a superuser');
    await this.contents.removeNamespace(name);
    await this.identity.deleteUser(name);
    this.events.emit({ type: 'user.deleted', user: name });
  }

  async listOrganizations(opts: { limit?: number; offset?: number }): Promise<Page<Organization>> {
    return page(await this.identity.listOrganizations(), opts);
  }

  /** Renames an organization, its robots and its repositories; no new name changes nothing. */
  async renameOrganization(name: string, newName?: string): Promise<Organization> {
    const org = await this.identity.getOrganization(name);
    if (newName === undefined || newName === name) return org;
    validateNamespaceName(newName, 'name');
    if (await this.identity.namespaceExists(newName))
      throw new Invalid('NAMESPACE_EXISTS', 'A user or organization with this name already exists', {
        field: 'name',
      });
    await this.store.renameNamespace(org.id, name, newName);
    await this.contents.renameNamespace(name, newName);
    this.events.emit({ type: 'organization.renamed', organization: newName, previous: name });
    return this.identity.getOrganization(newName);
  }

  /** Deletes an organization with its repositories, teams and robots. */
  async deleteOrganization(name: string): Promise<void> {
    await this.identity.getOrganization(name);
    await this.contents.removeNamespace(name);
    await this.identity.deleteOrganization(name);
    this.events.emit({ type: 'organization.deleted', organization: name });
  }

  /**
   * Makes the acting superuser an admin of an organization, or turns a user into an organization
   * the superuser administers (Quay's take_ownership). Superusers' namespaces are refused.
   */
  async takeOwnership(namespace: string, actor: Subject): Promise<{ wasUser: boolean }> {
    if (actor.kind !== 'user') throw new Invalid('NOT_A_USER', 'Only users can take ownership');
    const ns = await this.identity.findNamespace(namespace);
    if (!ns) throw new NotFound('NAMESPACE_NOT_FOUND', 'Not Found');
    const wasUser = ns.kind === 'user';
    if (wasUser) {
      const user = await this.getUser(namespace);
      if (user.superuser) throw new Invalid('SUPERUSER_UNCHANGEABLE', 'Cannot take ownership of a superuser');
      await this.store.convertUserToOrganization(
        user.id,
        { teamId: newId(), adminUserId: actor.id },
        this.clock.now(),
      );
    } else {
      const teams = await this.identity.listTeams(namespace);
      const adminTeam =
        teams.find((t) => t.role === 'admin')?.name ??
        (await this.identity.upsertTeam(namespace, 'owners', { role: 'admin' })).team.name;
      await this.identity.addTeamMember(namespace, adminTeam, actor.name);
    }
    this.events.emit({ type: 'namespace.ownership_taken', namespace, wasUser });
    return { wasUser };
  }
}
