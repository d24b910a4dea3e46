import { createHash } from 'node:crypto';
import type { Clock } from '../../platform/clock.js';
import { Denied, Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import { newId } from '../../platform/ids.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { Policy, Subject } from '../../identity/index.js';
import type { GitCredentialInput } from '../credentials/index.js';
import type { CachedRepository } from './github.js';
import type { SourceProvidersService, SourceProviderType } from './source-providers.service.js';
import type { RemoteAccountRow, SourcesStore } from './sources.store.js';

/** A user's account at a source host, as its owner sees it: never the access token. */
export interface RemoteAccount {
  /** `<type>-<login>`, lower-case: unique per user, what pipelines' `remoteAccountName` names. */
  name: string;
  type: SourceProviderType;
  login: string;
  displayName: string;
  avatarUrl: string;
  htmlUrl: string;
  userId: string;
  userName: string;
  createdAt: number;
  updatedAt: number;
}

/** The repositories a remote account saw when last refreshed. */
export interface GitRepoCache {
  /** The remote account's name (one cache per account). */
  remoteAccountName: string;
  type: SourceProviderType;
  userId: string;
  userName: string;
  repositories: CachedRepository[];
  refreshedAt: number;
}

/** How to log in: a personal access token, or an OAuth authorization code of the configured application. */
export type RemoteLogin =
  { type: string; accessToken: string } | { type: string; code: string; redirectUrl?: string };

/** Where a git credential is stored for a namespace's checkout steps (runs/credentials). */
export interface SourceCredentialWriter {
  put(namespace: string, name: string, input: GitCredentialInput, actor?: string): Promise<unknown>;
}

type UserSubject = Extract<Subject, { kind: 'user' }>;

/**
 * Users' remote accounts and their repository caches (Rancher's remoteaccounts and gitrepocaches). Each user
 * sees and changes only their own: another user's account is NotFound, as one that does not exist. A login is
 * checked at the host (`GET /user`) before anything is stored; the access token is sealed at rest and leaves
 * only as a namespace's git credential (`credentialFor`) for checkouts.
 */
export class SourceAccountsService {
  constructor(
    private readonly store: SourcesStore,
    private readonly providers: SourceProvidersService,
    private readonly policy: Policy,
    private readonly box: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly users: { idOf(name: string): Promise<string | undefined> },
    private readonly credentials: SourceCredentialWriter,
  ) {}

  async list(subject: Subject): Promise<RemoteAccount[]> {
    const user = this.user(subject, 'read');
    return (await this.store.accountsOf(user.id)).map((row) => view(row, user.name));
  }

  /** NotFound when the subject has no account of that name. */
  async get(subject: Subject, name: string): Promise<RemoteAccount> {
    const user = this.user(subject, 'read');
    return view(await this.row(user.id, name), user.name);
  }

  /**
   * Logs in to the host with a token (or exchanges a code for one), reads whose it is and stores the account,
   * replacing the token of the subject's account of the same login. Nothing is stored when the host refuses.
   */
  async login(subject: Subject, input: RemoteLogin): Promise<{ account: RemoteAccount; created: boolean }> {
    const user = this.user(subject, 'admin');
    const provider = await this.providers.connect(input.type);
    let accessToken: string;
    if ('accessToken' in input) {
      accessToken = checkText(input.accessToken, 'accessToken');
    } else {
      const code = checkText(input.code, 'code');
      if (!provider.oauthApp)
        throw new Invalid(
          'SOURCE_PROVIDER_NOT_CONFIGURED',
          `no OAuth application is configured for ${provider.type} (clientId and clientSecret): log in with an accessToken`,
          { field: 'code' },
        );
      accessToken = await provider.client.exchangeCode({
        ...provider.oauthApp,
        code,
        ...(input.redirectUrl ? { redirectUrl: input.redirectUrl } : {}),
      });
    }
    const profile = await provider.client.user(accessToken);
    const name = `${provider.type}-${profile.login.toLowerCase()}`;
    const existing = await this.store.findAccount(user.id, name);
    const now = this.clock.now();
    await this.store.putAccount({
      id: existing?.id ?? newId(),
      user_id: user.id,
      name,
      type: provider.type,
      login: profile.login,
      display_name: profile.displayName,
      avatar_url: profile.avatarUrl,
      html_url: profile.htmlUrl,
      access_token_sealed: this.box.seal(accessToken),
      created_at: existing ? Number(existing.created_at) : now,
      updated_at: now,
    });
    this.events.emit({ type: 'remote_account.linked', user: user.name, account: name, actor: user.name });
    return { account: view(await this.row(user.id, name), user.name), created: !existing };
  }

  /** Forgets the account, its token and its repository cache. NotFound when the subject has none of that name. */
  async remove(subject: Subject, name: string): Promise<void> {
    const user = this.user(subject, 'admin');
    if (!(await this.store.removeAccount(user.id, name))) throw accountNotFound(name);
    this.events.emit({ type: 'remote_account.removed', user: user.name, account: name, actor: user.name });
  }

  /** Reads every repository the account sees at the host and replaces its cache. */
  async refreshRepos(subject: Subject, name: string): Promise<GitRepoCache> {
    const user = this.user(subject, 'admin');
    const row = await this.row(user.id, name);
    const provider = await this.providers.connect(row.type);
    const repositories = await provider.client.repositories(this.box.open(row.access_token_sealed));
    const now = this.clock.now();
    await this.store.putRepoCache({
      remote_account_id: row.id,
      user_id: user.id,
      repositories: JSON.stringify(repositories),
      refreshed_at: now,
    });
    this.events.emit({
      type: 'remote_account.repos_refreshed',
      user: user.name,
      account: name,
      actor: user.name,
    });
    return {
      remoteAccountName: row.name,
      type: row.type as SourceProviderType,
      userId: user.id,
      userName: user.name,
      repositories,
      refreshedAt: now,
    };
  }

  async repoCaches(subject: Subject): Promise<GitRepoCache[]> {
    const user = this.user(subject, 'read');
    return (await this.store.repoCachesOf(user.id)).map((row) => ({
      remoteAccountName: row.account_name,
      type: row.type as SourceProviderType,
      userId: user.id,
      userName: user.name,
      repositories: JSON.parse(row.repositories) as CachedRepository[],
      refreshedAt: Number(row.refreshed_at),
    }));
  }

  /** NotFound when the subject has no account of that name, or it was never refreshed. */
  async repoCache(subject: Subject, remoteAccountName: string): Promise<GitRepoCache> {
    const cache = (await this.repoCaches(subject)).find((c) => c.remoteAccountName === remoteAccountName);
    if (!cache)
      throw new NotFound(
        'GIT_REPO_CACHE_NOT_FOUND',
        `no repository cache for ${JSON.stringify(remoteAccountName)}: refresh the remote account's repositories`,
      );
    return cache;
  }

  /**
   * Copies the token of `userName`'s account `accountName` (its name, or its login at the host) into
   * `namespace` as the git credential `rancher-<user>-<account>` and returns that name, for checkout steps that
   * name a remote account. The caller has checked that the user may define the namespace's pipelines.
   * NotFound when the user has no such account.
   */
  async credentialFor(userName: string, accountName: string, namespace: string): Promise<string> {
    const userId = await this.users.idOf(userName);
    const rows = userId ? await this.store.accountsOf(userId) : [];
    const wanted = accountName.toLowerCase();
    const row = rows.find((r) => r.name === wanted) ?? rows.find((r) => r.login.toLowerCase() === wanted);
    if (!row) throw accountNotFound(accountName);
    const name = credentialName(userName, row.name);
    await this.credentials.put(
      namespace,
      name,
      { kind: 'token', username: row.login, secret: this.box.open(row.access_token_sealed) },
      userName,
    );
    return name;
  }

  /** Remote accounts belong to users, and a token needs `user:read` to read them, `user:admin` to change them. */
  private user(subject: Subject, level: 'read' | 'admin'): UserSubject {
    if (subject.kind !== 'user')
      throw new Denied('USER_REQUIRED', 'remote accounts belong to users: log in as a user');
    if (!this.policy.userAccess(subject, level))
      throw new Denied(
        'SCOPE_REQUIRED',
        `this token may not ${level === 'read' ? 'read' : 'change'} remote accounts (it needs the user:${level} scope)`,
      );
    return subject;
  }

  private async row(userId: string, name: string): Promise<RemoteAccountRow> {
    const row = await this.store.findAccount(userId, name);
    if (!row) throw accountNotFound(name);
    return row;
  }
}

/** `rancher-<user>-<account>`; names over the credential limit of 64 keep a hash of the whole for uniqueness. */
export function credentialName(userName: string, accountName: string): string {
  const full = `rancher-${userName}-${accountName}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  if (full.length <= 64) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, 55).replace(/[._-]+$/, '')}-${hash}`;
}

function checkText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 4096)
    throw new Invalid('MISSING_FIELD', `${field} must be a non-empty string`, { field });
  return value.trim();
}

const accountNotFound = (name: string) =>
  new NotFound('REMOTE_ACCOUNT_NOT_FOUND', `no remote account named ${JSON.stringify(name)}`);

function view(row: RemoteAccountRow, userName: string): RemoteAccount {
  return {
    name: row.name,
    type: row.type as SourceProviderType,
    login: row.login,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    htmlUrl: row.html_url,
    userId: row.user_id,
    userName,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
