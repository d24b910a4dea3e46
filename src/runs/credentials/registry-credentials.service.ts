import type { Clock } from '../../platform/clock.js';
import { Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { RegistryCredentials } from '../executor.js';
import type { RegistryCredentialStore } from '../steps/registry-auth.js';
import { announcePut, removeCredential } from './credential-changes.js';
import type { RegistryCredentialRow, RunCredentialsStore } from './credentials.store.js';
import { checkCredentialName } from './names.js';

export interface RegistryCredentialInput {
  /** host[:port] of the registry, as image steps name it. */
  host: string;
  username: string;
  password: string;
}

/** What may be shown of a stored registry credential: everything but the password. */
export interface RegistryCredentialInfo {
  name: string;
  host: string;
  username: string;
  createdAt: number;
  updatedAt: number;
}

/** host, or host:port, or [v6]:port; no scheme, path or user info. */
const REGISTRY_HOST = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?)(:[0-9]{1,5})?$/;

/**
 * Credentials of a namespace for other registries, sealed at rest: image steps of the namespace's pipelines
 * push to and pull from those registries with them (`RegistryCredentialStore`, by name or by host).
 */
export class RegistryCredentialsService implements RegistryCredentialStore {
  constructor(
    private readonly store: RunCredentialsStore,
    private readonly box: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async put(
    namespace: string,
    name: string,
    input: RegistryCredentialInput,
    actor?: string,
  ): Promise<RegistryCredentialInfo> {
    checkCredentialName(name);
    if (typeof input.host !== 'string' || !REGISTRY_HOST.test(input.host)) {
      throw new Invalid(
        'INVALID_REGISTRY_HOST',
        `invalid registry host ${JSON.stringify(input.host)}: host[:port]`,
      );
    }
    if (typeof input.username !== 'string' || input.username === '' || input.username.includes(':')) {
      throw new Invalid('INVALID_CREDENTIAL', 'username must be a non-empty string without ":"');
    }
    if (typeof input.password !== 'string' || input.password === '') {
      throw new Invalid('INVALID_CREDENTIAL', 'password must be a non-empty string');
    }
    const now = this.clock.now();
    await this.store.putRegistryCredential({
      namespace,
      name,
      host: input.host.toLowerCase(),
      username: input.username,
      password_sealed: this.box.seal(input.password),
      created_at: now,
      updated_at: now,
    });
    announcePut(this.events, 'registry', namespace, name, actor);
    const row = await this.store.findRegistryCredential(namespace, name);
    if (!row) throw notFound(name);
    return info(row);
  }

  async list(namespace: string): Promise<RegistryCredentialInfo[]> {
    return (await this.store.registryCredentialsOf(namespace)).map(info);
  }

  /** NotFound when there is no such credential. */
  async delete(namespace: string, name: string, actor?: string): Promise<void> {
    if (!(await removeCredential(this.store, this.events, 'registry', namespace, name, actor)))
      throw notFound(name);
  }

  /**
   * The namespace's credential named `name`, or without a name the one stored for `host`. A named credential
   * stored for another host is not handed out: a pipeline cannot send it to a registry it was not made for.
   */
  async lookup(namespace: string, host: string, name?: string): Promise<RegistryCredentials | undefined> {
    const wanted = host.toLowerCase();
    const row =
      name !== undefined
        ? await this.store.findRegistryCredential(namespace, name)
        : await this.store.findRegistryCredentialByHost(namespace, wanted);
    if (!row || row.host !== wanted) return undefined;
    return { username: row.username, password: this.box.open(row.password_sealed) };
  }
}

function info(row: RegistryCredentialRow): RegistryCredentialInfo {
  return {
    name: row.name,
    host: row.host,
    username: row.username,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

const notFound = (name: string) =>
  new NotFound('CREDENTIAL_NOT_FOUND', `no registry credential named ${JSON.stringify(name)}`);
