import type { Clock } from '../platform/clock.js';
import { Conflict, NotFound } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import { KeyedMutex } from '../platform/keyed-mutex.js';
import type { AccountStore } from './account.store.js';
import type { AccessToken, CredentialsService } from './credentials.service.js';
import type { IdentityService, User } from './identity.service.js';
import { allScopes } from './scopes.js';

export interface Session {
  cookie: string;
  csrfToken: string;
}

/** What `GET /user/` shows of one's own account beyond the `User` itself. */
export interface AccountProfile {
  user: User;
  tagExpirationSeconds: number;
  hasPasswordSet: boolean;
}

/**
 * A user's own account: signing in and out (web sessions), changing one's password and e-mail,
 * app-specific tokens, and creating the first user of an empty installation. Signing in costs one password check
 * whether or not the user exists, so the answer does not tell which usernames exist.
 */
export class AccountService {
  private readonly initializing = new KeyedMutex();

  constructor(
    private readonly store: AccountStore,
    private readonly identity: IdentityService,
    private readonly credentials: CredentialsService,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async profile(userId: string): Promise<AccountProfile> {
    const user = await this.identity.getUser(userId);
    if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
    const settings = await this.store.accountSettings(user.id);
    return {
      user,
      tagExpirationSeconds: settings?.tag_expiration_s ?? 1209600,
      hasPasswordSet: Boolean(settings?.password_hash),
    };
  }

  /** A new web session for these credentials, or undefined when they prove nothing (or the user is disabled). */
  async signIn(username: string, password: string): Promise<{ user: User; session: Session } | undefined> {
    const user = await this.identity.authenticate(username, password);
    if (!user) return undefined;
    const session = await this.credentials.createSession(user);
    this.events.emit({ type: 'user.signed_in', user: user.name, actor: user.name });
    return { user, session };
  }

  /** Ends every web session of the user, as Quay's signout does. */
  async signOut(user: { id: string; name: string }): Promise<void> {
    await this.store.deleteSessionsOf(user.id);
    this.events.emit({ type: 'user.signed_out', user: user.name, actor: user.name });
  }

  /**
   * Creates the first user of an installation that did not create `admin` on start
   * (`SLIPWAY_CREATE_ADMIN=false`): a superuser, signed in, with an OAuth token of every scope when asked.
   * Refused once any user exists (checked under a lock within this process).
   */
  async initialize(input: {
    username: string;
    password: string;
    email?: string;
    accessToken?: boolean;
  }): Promise<{ user: User; session: Session; accessToken?: string }> {
    return this.initializing.run('initialize', async () => {
      if (await this.identity.hasUsers()) {
        const message = 'Cannot initialize user in a non-empty database';
        throw new Conflict('USERS_EXIST', message, { payload: { message } });
      }
      const user = await this.identity.createUser({
        name: input.username,
        password: input.password,
        email: input.email,
        superuser: true,
      });
      const session = await this.credentials.createSession(user);
      if (!input.accessToken) return { user, session };
      const { token } = await this.credentials.createToken({
        kind: 'oauth',
        user,
        scopes: allScopes,
        title: 'automation',
      });
      return { user, session, accessToken: token };
    });
  }

  /**
   * Changes one's own password, e-mail or tag expiration. A new password ends every session of the
   * user; `passwordChanged` tells the caller to start a fresh one for itself.
   */
  async update(
    user: User,
    changes: { password?: string; email?: string; tagExpirationSeconds?: number },
  ): Promise<{ user: User; passwordChanged: boolean }> {
    if (changes.email !== undefined && changes.email !== (user.email ?? '')) {
      if (changes.email !== '') await this.identity.requireUnusedEmail(changes.email, user.id);
    }
    const updated = await this.identity.updateUser(user.name, {
      password: changes.password,
      email: changes.email === undefined || changes.email === (user.email ?? '') ? undefined : changes.email,
    });
    if (changes.tagExpirationSeconds !== undefined) {
      await this.identity.updateNamespaceSettings(user.name, {
        tagExpirationSeconds: changes.tagExpirationSeconds,
      });
      this.events.emit({
        type: 'user.tag_expiration_changed',
        user: user.name,
        seconds: changes.tagExpirationSeconds,
        actor: user.name,
      });
    }
    if (updated.email !== user.email)
      this.events.emit({
        type: 'user.email_changed',
        user: user.name,
        email: updated.email,
        previous: user.email,
        actor: user.name,
      });
    if (changes.password !== undefined) {
      await this.store.deleteSessionsOf(user.id);
      this.events.emit({ type: 'user.password_changed', user: user.name, actor: user.name });
    }
    return { user: updated, passwordChanged: changes.password !== undefined };
  }

  // App-specific tokens (`$app` + token logs in to the registry as the user).

  async listAppTokens(user: User, opts: { expiringWithinMs?: number } = {}): Promise<AccessToken[]> {
    const tokens = await this.credentials.listTokens(user, 'app');
    if (opts.expiringWithinMs === undefined) return tokens;
    const now = this.clock.now();
    return tokens.filter(
      (t) => t.expiresAt !== null && t.expiresAt > now && t.expiresAt <= now + opts.expiringWithinMs!,
    );
  }

  async createAppToken(user: User, title: string): Promise<AccessToken & { code: string }> {
    const { token, record } = await this.credentials.createToken({ kind: 'app', user, title });
    this.events.emit({
      type: 'app_token.created',
      user: user.name,
      tokenId: record.id,
      title,
      actor: user.name,
    });
    return { ...record, code: token };
  }

  /** One of the user's app tokens with its code; NotFound for anything else (other users' tokens, OAuth tokens). */
  async getAppToken(user: User, id: string): Promise<AccessToken & { code?: string }> {
    const token = await this.credentials.getToken(user, id).catch(() => undefined);
    if (token?.kind !== 'app') throw new NotFound('TOKEN_NOT_FOUND', 'Not Found');
    return token;
  }

  async revokeAppToken(user: User, id: string): Promise<void> {
    const token = await this.getAppToken(user, id);
    await this.credentials.revokeToken(user, token.id);
    this.events.emit({
      type: 'app_token.revoked',
      user: user.name,
      tokenId: token.id,
      title: token.title,
      actor: user.name,
    });
  }

  /** A fresh session for a user (after a password change). */
  async startSession(user: User): Promise<Session> {
    return this.credentials.createSession(user);
  }
}
