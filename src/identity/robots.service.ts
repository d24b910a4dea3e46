import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { EventBus } from '../platform/events.js';
import { Invalid, NotFound } from '../platform/errors.js';
import { newId, randomCode } from '../platform/ids.js';
import type { SecretBox } from '../platform/secrets.js';
import type { IdentityStore } from './identity.store.js';
import { validateRobotShortName } from './names.js';
import type { Subject } from './subject.js';

export interface Robot {
  id: string;
  /** `namespace+shortname` */
  name: string;
  namespace: string;
  description: string;
  metadata: Record<string, unknown> | null;
  createdAt: number;
  lastAccessed: number | null;
}

const tokenPattern = /^[A-Z0-9]{64}$/;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Quay's robot token: 64 characters of A-Z and 0-9. */
export function generateRobotToken(): string {
  return randomCode(64);
}

/**
 * Robot accounts of a user or organization (`ns+name`): credentials for machines.
 * The token is stored hashed for login and sealed so admins can read it again, as Quay shows it.
 */
export class RobotsService {
  constructor(
    private readonly store: IdentityStore,
    private readonly secrets: SecretBox,
    private readonly clock: Clock,
    private readonly events?: EventBus,
    /** Whether a repository mirror pulls with the robot (the registry knows; identity does not import it). */
    private readonly usedByMirror: (robotId: string) => Promise<boolean> = async () => false,
  ) {}

  private async namespaceId(namespace: string): Promise<string> {
    const ns = await this.store.findNamespace(namespace);
    if (!ns) throw new NotFound('NAMESPACE_NOT_FOUND', `namespace ${namespace} not found`);
    return ns.id;
  }

  private toRobot(row: {
    id: string;
    name: string;
    description: string;
    metadata: string | null;
    created_at: number;
    last_accessed: number | null;
  }): Robot {
    return {
      id: row.id,
      name: row.name,
      namespace: row.name.split('+', 1)[0]!,
      description: row.description,
      metadata: row.metadata ? (JSON.parse(row.metadata) as Record<string, unknown>) : null,
      createdAt: row.created_at,
      lastAccessed: row.last_accessed,
    };
  }

  async create(
    namespace: string,
    shortName: string,
    input: { description?: string; metadata?: Record<string, unknown>; token?: string } = {},
  ): Promise<Robot & { token: string }> {
    validateRobotShortName(shortName);
    if ((input.description ?? '').length > 255)
      throw new Invalid('INVALID_DESCRIPTION', 'description is longer than 255 characters', {
        field: 'description',
      });
    if (input.token !== undefined && !tokenPattern.test(input.token))
      throw new Invalid('INVALID_TOKEN', 'token must be 64 characters of A-Z and 0-9', { field: 'token' });
    const namespaceId = await this.namespaceId(namespace);
    const name = `${namespace}+${shortName}`;
    if (await this.find(name))
      throw new Invalid('ROBOT_EXISTS', `Existing robot with name: ${name}`, { field: 'robot_shortname' });
    const token = input.token ?? generateRobotToken();
    const row = {
      id: newId(),
      namespace_id: namespaceId,
      name,
      description: input.description ?? '',
      token_hash: hashToken(token),
      token_sealed: this.secrets.seal(token),
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
      created_at: this.clock.now(),
      last_accessed: null,
    };
    await this.store.db.insertInto('robots').values(row).execute();
    this.events?.emit({ type: 'robot.created', robot: name });
    return { ...this.toRobot(row), token };
  }

  async find(name: string): Promise<Robot | undefined> {
    const row = await this.store.db
      .selectFrom('robots')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? this.toRobot(row) : undefined;
  }

  /** A missing robot is Invalid, as Quay answers 400 "Could not find robot". */
  async get(name: string): Promise<Robot> {
    const robot = await this.find(name);
    if (!robot)
      throw new Invalid('UNKNOWN_ROBOT', 'Could not find robot with specified username', { field: 'robot' });
    return robot;
  }

  async token(name: string): Promise<string> {
    const row = await this.store.db
      .selectFrom('robots')
      .select('token_sealed')
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row)
      throw new Invalid('UNKNOWN_ROBOT', 'Could not find robot with specified username', { field: 'robot' });
    return this.secrets.open(row.token_sealed);
  }

  async list(namespace: string): Promise<Robot[]> {
    const namespaceId = await this.namespaceId(namespace);
    const rows = await this.store.db
      .selectFrom('robots')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .orderBy('name')
      .execute();
    return rows.map((r) => this.toRobot(r));
  }

  async update(
    name: string,
    changes: { description?: string; metadata?: Record<string, unknown> },
  ): Promise<Robot> {
    const robot = await this.get(name);
    if ((changes.description ?? '').length > 255)
      throw new Invalid('INVALID_DESCRIPTION', 'description is longer than 255 characters', {
        field: 'description',
      });
    await this.store.db
      .updateTable('robots')
      .set({
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.metadata !== undefined ? { metadata: JSON.stringify(changes.metadata) } : {}),
      })
      .where('id', '=', robot.id)
      .execute();
    return this.get(name);
  }

  async regenerate(name: string): Promise<Robot & { token: string }> {
    const robot = await this.get(name);
    const token = generateRobotToken();
    await this.store.db
      .updateTable('robots')
      .set({ token_hash: hashToken(token), token_sealed: this.secrets.seal(token) })
      .where('id', '=', robot.id)
      .execute();
    this.events?.emit({ type: 'robot.token_regenerated', robot: name });
    return { ...robot, token };
  }

  /** Deletes a robot with its memberships, grants and prototypes; one a mirror uses is refused, as Quay does. */
  async delete(name: string): Promise<void> {
    const robot = await this.get(name);
    if (await this.usedByMirror(robot.id))
      throw new Invalid('ROBOT_USED_BY_MIRROR', 'Robot is being used by a mirror');
    await this.store.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('team_members')
        .where('member_kind', '=', 'robot')
        .where('member_id', '=', robot.id)
        .execute();
      await trx
        .deleteFrom('repository_grants')
        .where('delegate_kind', '=', 'robot')
        .where('delegate_id', '=', robot.id)
        .execute();
      await trx
        .deleteFrom('permission_prototypes')
        .where((eb) =>
          eb.or([
            eb.and([eb('delegate_kind', '=', 'robot'), eb('delegate_id', '=', robot.id)]),
            eb('activating_user_id', '=', robot.id),
          ]),
        )
        .execute();
      await trx.deleteFrom('robots').where('id', '=', robot.id).execute();
    });
    this.events?.emit({ type: 'robot.deleted', robot: name });
  }

  /** The robot these credentials belong to (docker login with `ns+name` and its token), or undefined. */
  async authenticate(name: string, token: string): Promise<Subject | undefined> {
    const row = await this.store.db
      .selectFrom('robots')
      .select(['id', 'name', 'token_hash'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return undefined;
    const given = Buffer.from(hashToken(token), 'hex');
    if (!timingSafeEqual(given, Buffer.from(row.token_hash, 'hex'))) return undefined;
    await this.store.db
      .updateTable('robots')
      .set({ last_accessed: this.clock.now() })
      .where('id', '=', row.id)
      .execute();
    return { kind: 'robot', id: row.id, name: row.name, namespace: row.name.split('+', 1)[0]! };
  }
}
