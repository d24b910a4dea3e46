import type { Clock } from '../../platform/clock.js';
import { Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import type { SecretBox } from '../../platform/secrets.js';
import { announcePut, removeCredential } from './credential-changes.js';
import type { RunCredentialsStore, SourceCredentialRow } from './credentials.store.js';
import { checkCredentialName } from './names.js';
import { generateEd25519, publicKeyOfPem } from './ssh-keys.js';

export const GIT_CREDENTIAL_KINDS = ['token', 'basic', 'ssh-key'] as const;
/**
 * `token`: an access token sent as the HTTP password (user `username`, default `x-access-token` as GitHub
 * and Gitea accept); `basic`: HTTP user name and password; `ssh-key`: an OpenSSH or PEM private key.
 */
export type GitCredentialKind = (typeof GIT_CREDENTIAL_KINDS)[number];

export interface GitCredentialInput {
  kind: GitCredentialKind;
  username?: string;
  /** The token, password or private key. */
  secret: string;
}

/** A stored git credential opened for use (checkout steps, repository reads): handle with care. */
export interface GitCredential {
  kind: GitCredentialKind;
  username?: string;
  secret: string;
}

/** What may be shown of a stored git credential: never the secret. */
export interface GitCredentialInfo {
  name: string;
  kind: GitCredentialKind;
  username?: string;
  /** `ssh-key` only, when known: the line to add as a deploy key. */
  publicKey?: string;
  createdAt: number;
  updatedAt: number;
}

/** The user name git sends with a token when the credential names none. */
export const TOKEN_USERNAME = 'x-access-token';

const MAX_SECRET_BYTES = 16 * 1024;

/**
 * Named git credentials of a namespace, sealed at rest: checkout steps of the namespace's pipelines clone
 * with them (`open`), and triggers and remote accounts store provider tokens and deploy keys here.
 */
export class SourceCredentialsService {
  constructor(
    private readonly store: RunCredentialsStore,
    private readonly box: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** Creates or replaces the credential `name` of `namespace`. */
  async put(
    namespace: string,
    name: string,
    input: GitCredentialInput,
    actor?: string,
  ): Promise<GitCredentialInfo> {
    checkCredentialName(name);
    if (!(GIT_CREDENTIAL_KINDS as readonly string[]).includes(input.kind)) {
      throw new Invalid('INVALID_CREDENTIAL', `kind must be one of ${GIT_CREDENTIAL_KINDS.join(', ')}`);
    }
    if (typeof input.secret !== 'string' || input.secret === '') {
      throw new Invalid('INVALID_CREDENTIAL', 'secret must be a non-empty string');
    }
    if (Buffer.byteLength(input.secret) > MAX_SECRET_BYTES) {
      throw new Invalid('INVALID_CREDENTIAL', `secret is longer than ${MAX_SECRET_BYTES} bytes`);
    }
    if (
      input.username !== undefined &&
      (typeof input.username !== 'string' || !/^[^\s:@/]{1,256}$/.test(input.username))
    ) {
      throw new Invalid(
        'INVALID_CREDENTIAL',
        'username must be a non-empty string without spaces, ":", "@" or "/"',
      );
    }
    if (input.kind === 'basic' && input.username === undefined) {
      throw new Invalid('INVALID_CREDENTIAL', 'a basic credential needs a username');
    }
    let publicKey: string | undefined;
    if (input.kind === 'ssh-key') {
      if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(input.secret.trim())) {
        throw new Invalid(
          'INVALID_CREDENTIAL',
          'an ssh-key secret must be a private key (-----BEGIN ... PRIVATE KEY-----)',
        );
      }
      publicKey = publicKeyOfPem(input.secret, `slipway:${namespace}/${name}`);
    }
    // ssh reads a key file only when it ends with a newline.
    const secret =
      input.kind === 'ssh-key' && !input.secret.endsWith('\n') ? `${input.secret}\n` : input.secret;
    return this.write(
      namespace,
      name,
      { kind: input.kind, username: input.username, secret, publicKey },
      actor,
    );
  }

  /**
   * Creates or replaces `name` with a new ed25519 key whose private half never leaves Slipway (but for the
   * checkout steps that use it); the public key is what a repository host is given as a deploy key.
   */
  async generateSshKey(namespace: string, name: string, actor?: string): Promise<{ publicKey: string }> {
    checkCredentialName(name);
    const pair = generateEd25519(`slipway:${namespace}/${name}`);
    await this.write(
      namespace,
      name,
      { kind: 'ssh-key', username: undefined, secret: pair.privateKey, publicKey: pair.publicKey },
      actor,
    );
    return { publicKey: pair.publicKey };
  }

  async list(namespace: string): Promise<GitCredentialInfo[]> {
    return (await this.store.sourceCredentialsOf(namespace)).map(info);
  }

  /** NotFound when there is no such credential. */
  async get(namespace: string, name: string): Promise<GitCredentialInfo> {
    const row = await this.store.findSourceCredential(namespace, name);
    if (!row) throw notFound(name);
    return info(row);
  }

  /** NotFound when there is no such credential. */
  async delete(namespace: string, name: string, actor?: string): Promise<void> {
    if (!(await removeCredential(this.store, this.events, 'git', namespace, name, actor)))
      throw notFound(name);
  }

  /** The credential with its secret, for the step or read that uses it now; undefined when there is none. */
  async open(namespace: string, name: string): Promise<GitCredential | undefined> {
    const row = await this.store.findSourceCredential(namespace, name);
    if (!row) return undefined;
    return {
      kind: row.kind as GitCredentialKind,
      ...(row.username !== null ? { username: row.username } : {}),
      secret: this.box.open(row.secret_sealed),
    };
  }

  private async write(
    namespace: string,
    name: string,
    credential: {
      kind: GitCredentialKind;
      username: string | undefined;
      secret: string;
      publicKey: string | undefined;
    },
    actor: string | undefined,
  ): Promise<GitCredentialInfo> {
    const now = this.clock.now();
    await this.store.putSourceCredential({
      namespace,
      name,
      kind: credential.kind,
      username: credential.username ?? null,
      secret_sealed: this.box.seal(credential.secret),
      public_key: credential.publicKey ?? null,
      created_at: now,
      updated_at: now,
    });
    announcePut(this.events, 'git', namespace, name, actor);
    return this.get(namespace, name);
  }
}

function info(row: SourceCredentialRow): GitCredentialInfo {
  return {
    name: row.name,
    kind: row.kind as GitCredentialKind,
    ...(row.username !== null ? { username: row.username } : {}),
    ...(row.public_key !== null ? { publicKey: row.public_key } : {}),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

const notFound = (name: string) =>
  new NotFound('CREDENTIAL_NOT_FOUND', `no git credential named ${JSON.stringify(name)}`);
