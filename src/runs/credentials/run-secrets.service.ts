import type { Clock } from '../../platform/clock.js';
import { Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { SecretResolver } from '../scheduler.js';
import { announcePut, removeCredential } from './credential-changes.js';
import type { RunCredentialsStore } from './credentials.store.js';
import { checkCredentialName, checkSecretKey } from './names.js';

/** What may be shown of a stored secret: its name and keys, never a value. */
export interface RunSecretInfo {
  name: string;
  keys: string[];
  createdAt: number;
  updatedAt: number;
}

const MAX_KEYS = 100;
const MAX_VALUE_BYTES = 64 * 1024;

/**
 * Named secrets of a namespace, each a map key → value that jobs read into environment variables (`secrets`
 * of Slipway YAML, `envFrom` of `.rancher-pipeline.yml`). Values are sealed at rest and leave this service
 * only through `resolve`, the scheduler's `SecretResolver`.
 */
export class RunSecretsService {
  constructor(
    private readonly store: RunCredentialsStore,
    private readonly box: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** Creates or replaces the secret `name` of `namespace` with exactly `data`. */
  async put(
    namespace: string,
    name: string,
    data: Readonly<Record<string, string>>,
    actor?: string,
  ): Promise<RunSecretInfo> {
    checkCredentialName(name);
    const keys = Object.keys(data);
    if (keys.length === 0) throw new Invalid('INVALID_SECRET', 'a secret needs at least one key');
    if (keys.length > MAX_KEYS) throw new Invalid('INVALID_SECRET', `a secret has at most ${MAX_KEYS} keys`);
    for (const key of keys) {
      checkSecretKey(key);
      const value = data[key];
      if (typeof value !== 'string')
        throw new Invalid('INVALID_SECRET', `the value of ${key} must be a string`);
      if (Buffer.byteLength(value) > MAX_VALUE_BYTES) {
        throw new Invalid('INVALID_SECRET', `the value of ${key} is longer than ${MAX_VALUE_BYTES} bytes`);
      }
    }
    const now = this.clock.now();
    await this.store.putSecret({
      namespace,
      name,
      keys: JSON.stringify(keys),
      data_sealed: this.box.seal(JSON.stringify(data)),
      created_at: now,
      updated_at: now,
    });
    announcePut(this.events, 'secret', namespace, name, actor);
    const row = await this.store.findSecret(namespace, name);
    return { name, keys, createdAt: Number(row?.created_at ?? now), updatedAt: now };
  }

  async list(namespace: string): Promise<RunSecretInfo[]> {
    return (await this.store.secretsOf(namespace)).map((row) => ({
      name: row.name,
      keys: JSON.parse(row.keys) as string[],
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    }));
  }

  /** NotFound when there is no such secret. */
  async delete(namespace: string, name: string, actor?: string): Promise<void> {
    if (!(await removeCredential(this.store, this.events, 'secret', namespace, name, actor))) {
      throw new NotFound('SECRET_NOT_FOUND', `no secret named ${JSON.stringify(name)}`);
    }
  }

  /** The scheduler's `SecretResolver`: the value of `key` of the secret, undefined when either is missing. */
  readonly resolve: SecretResolver = async (namespace, secret, key) => {
    const row = await this.store.findSecret(namespace, secret);
    if (!row) return undefined;
    const data = JSON.parse(this.box.open(row.data_sealed)) as Record<string, string>;
    return Object.hasOwn(data, key) ? data[key] : undefined;
  };
}
