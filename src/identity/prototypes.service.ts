import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Invalid, NotFound } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { IdentityService } from './identity.service.js';
import type { IdentityStore } from './identity.store.js';
import type { DelegateKind, RepositoryRole } from './tables.js';

/** A user or robot named by a prototype. */
export interface PrototypeUser {
  kind: 'user';
  name: string;
  isRobot: boolean;
  /** Robots always count as members, as in Quay. */
  isOrgMember: boolean;
}

/**
 * A default permission of an organization: when `activatingUser` (or anyone, when null) creates a
 * repository there, `delegate` gets `role` on it (applied by IdentityService.applyPrototypes).
 */
export interface Prototype {
  id: string;
  role: RepositoryRole;
  activatingUser: PrototypeUser | null;
  delegate: PrototypeUser | { kind: 'team'; name: string };
}

type PrototypeRow = Awaited<ReturnType<IdentityStore['listPrototypes']>>[number];

/** Default permission prototypes of organizations. Access is checked by the caller. */
export class PrototypesService {
  constructor(
    private readonly store: IdentityStore,
    private readonly identity: IdentityService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async list(organization: string): Promise<Prototype[]> {
    const org = await this.identity.getOrganization(organization);
    const members = await this.memberIds(org.id);
    return Promise.all(
      (await this.store.listPrototypes(org.id)).map((row) => this.toPrototype(row, members)),
    );
  }

  /**
   * Adds a prototype. The delegate is a user, a robot of this organization or one of its teams;
   * unknown names are 400s with Quay's messages.
   */
  async create(
    organization: string,
    input: {
      role: RepositoryRole;
      delegate: { kind: 'user' | 'team'; name: string };
      activatingUser?: string;
    },
  ): Promise<Prototype> {
    const org = await this.identity.getOrganization(organization);
    let activatingUserId: string | null = null;
    if (input.activatingUser) {
      const activating = await this.identity.findMember(input.activatingUser);
      if (!activating)
        throw new Invalid('UNKNOWN_ACTIVATING_USER', 'Unknown activating user', { field: 'activating_user' });
      activatingUserId = activating.id;
    }
    const delegate =
      input.delegate.kind === 'team'
        ? await this.store
            .findTeam(org.id, input.delegate.name)
            .then((t) => t && { kind: 'team' as const, id: t.id })
        : await this.identity.findMember(input.delegate.name);
    if (!delegate)
      throw new Invalid('MISSING_DELEGATE', 'Missing delegate user or team', { field: 'delegate' });
    if (delegate.kind === 'robot' && !input.delegate.name.startsWith(`${organization}+`))
      throw new Invalid(
        'INVALID_DELEGATE',
        `Cannot add robot ${input.delegate.name} under namespace ${organization}`,
        { field: 'delegate' },
      );
    const row = {
      id: newId(),
      organization_id: org.id,
      activating_user_id: activatingUserId,
      delegate_kind: delegate.kind,
      delegate_id: delegate.id,
      role: input.role,
      created_at: this.clock.now(),
    };
    await this.store.insertPrototype(row);
    const prototype = await this.toPrototype(row, await this.memberIds(org.id));
    this.emit('prototype.created', organization, prototype);
    return prototype;
  }

  async update(organization: string, id: string, role: RepositoryRole): Promise<Prototype> {
    const org = await this.identity.getOrganization(organization);
    const existing = await this.store.findPrototype(org.id, id);
    if (!existing) throw new NotFound('PROTOTYPE_NOT_FOUND', 'Not Found');
    await this.store.updatePrototypeRole(org.id, id, role);
    const prototype = await this.toPrototype({ ...existing, role }, await this.memberIds(org.id));
    this.emit('prototype.changed', organization, prototype, existing.role);
    return prototype;
  }

  async delete(organization: string, id: string): Promise<void> {
    const org = await this.identity.getOrganization(organization);
    const existing = await this.store.findPrototype(org.id, id);
    if (!existing || !(await this.store.deletePrototype(org.id, id)))
      throw new NotFound('PROTOTYPE_NOT_FOUND', 'Not Found');
    this.emit('prototype.deleted', organization, await this.toPrototype(existing, new Set()));
  }

  private emit(
    type: 'prototype.created' | 'prototype.changed' | 'prototype.deleted',
    organization: string,
    prototype: Prototype,
    previous?: RepositoryRole,
  ): void {
    const delegate = prototype.delegate;
    this.events.emit({
      type,
      organization,
      id: prototype.id,
      role: prototype.role,
      previous,
      delegate: {
        kind: delegate.kind === 'team' ? 'team' : delegate.isRobot ? 'robot' : 'user',
        name: delegate.name,
      },
      activatingUser: prototype.activatingUser?.name ?? null,
    });
  }

  private async memberIds(organizationId: string): Promise<Set<string>> {
    return new Set((await this.store.organizationMemberships(organizationId)).map((m) => m.member_id));
  }

  private async userView(kind: DelegateKind, id: string, members: Set<string>): Promise<PrototypeUser> {
    const isRobot = kind === 'robot';
    const name = isRobot
      ? ((await this.store.findRobotById(id))?.name ?? '')
      : ((await this.store.findNamespaceById(id))?.name ?? '');
    return { kind: 'user', name, isRobot, isOrgMember: isRobot || members.has(id) };
  }

  private async toPrototype(row: PrototypeRow, members: Set<string>): Promise<Prototype> {
    let activatingUser: PrototypeUser | null = null;
    if (row.activating_user_id) {
      const robot = await this.store.findRobotById(row.activating_user_id);
      activatingUser = await this.userView(robot ? 'robot' : 'user', row.activating_user_id, members);
    }
    return {
      id: row.id,
      role: row.role,
      activatingUser,
      delegate:
        row.delegate_kind === 'team'
          ? { kind: 'team', name: await this.identity.delegateName('team', row.delegate_id) }
          : await this.userView(row.delegate_kind, row.delegate_id, members),
    };
  }
}
