import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound } from '../platform/errors.js';
import { newId, randomCode } from '../platform/ids.js';
import type { SecretBox } from '../platform/secrets.js';
import { subjectOf, type IdentityService, type User } from './identity.service.js';
import type { IdentityStore } from './identity.store.js';
import type { RobotsService } from './robots.service.js';
import { allScopes, formatScopes, parseScopes, type Scope } from './scopes.js';
import type { Subject } from './subject.js';
import type { AccessTokenKind } from './tables.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const sameHash = (a: string, b: string) => timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));

// Quay's formats: OAuth access tokens are 40 characters (20 lookup + 20 secret), app tokens 120 (60 + 60).
const formats: Record<AccessTokenKind, { length: number; lookup: number }> = {
  oauth: { length: 40, lookup: 20 },
  app: { length: 120, lookup: 60 },
};
const sessionTtlMs = 14 * 24 * 3600_000;

export interface AccessToken {
  id: string;
  kind: AccessTokenKind;
  userId: string;
  applicationId: string | null;
  title: string;
  scopes: Set<Scope>;
  createdAt: number;
  expiresAt: number | null;
  lastAccessed: number | null;
}

/**
 * Every way to prove who one is, other than a password: OAuth access tokens,
 * app-specific tokens, robot tokens and web sessions; and docker-login
 * credentials that may be any of them (`$oauthtoken`, `$app`, `ns+robot`, user).
 * Token secrets are stored as sha256 hashes; only app tokens are also sealed, since Quay shows them again.
 */
export class CredentialsService {
  constructor(
    private readonly store: IdentityStore,
    private readonly identity: IdentityService,
    private readonly robots: RobotsService,
    private readonly secrets: SecretBox,
    private readonly clock: Clock,
  ) {}

  async createToken(input: {
    kind: AccessTokenKind;
    user: User;
    scopes?: Iterable<Scope>;
    title?: string;
    applicationId?: string;
    expiresAt?: number | null;
  }): Promise<{ token: string; record: AccessToken }> {
    const format = formats[input.kind];
    const code = randomCode(format.length);
    const scopes = new Set(input.scopes ?? allScopes);
    const row = {
      id: newId(),
      kind: input.kind,
      user_id: input.user.id,
      application_id: input.applicationId ?? null,
      title: input.title ?? '',
      lookup: code.slice(0, format.lookup),
      secret_hash: sha256(code.slice(format.lookup)),
      code_sealed: input.kind === 'app' ? this.secrets.seal(code) : null,
      scopes: formatScopes(scopes),
      created_at: this.clock.now(),
      expires_at: input.expiresAt ?? null,
      last_accessed: null,
    };
    await this.store.db.insertInto('access_tokens').values(row).execute();
    return { token: code, record: this.toToken(row) };
  }

  private toToken(row: {
    id: string;
    kind: AccessTokenKind;
    user_id: string;
    application_id: string | null;
    title: string;
    scopes: string;
    created_at: number;
    expires_at: number | null;
    last_accessed: number | null;
  }): AccessToken {
    return {
      id: row.id,
      kind: row.kind,
      userId: row.user_id,
      applicationId: row.application_id,
      title: row.title,
      scopes: parseScopes(row.scopes),
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      lastAccessed: row.last_accessed,
    };
  }

  /** The user a token belongs to, with the token's scopes as the cap; undefined for unknown, expired or disabled. */
  async resolveToken(kind: AccessTokenKind, code: string): Promise<Subject | undefined> {
    const format = formats[kind];
    if (code.length !== format.length) return undefined;
    const row = await this.store.db
      .selectFrom('access_tokens')
      .selectAll()
      .where('lookup', '=', code.slice(0, format.lookup))
      .where('kind', '=', kind)
      .executeTakeFirst();
    if (!row || !sameHash(row.secret_hash, sha256(code.slice(format.lookup)))) return undefined;
    const now = this.clock.now();
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    const user = await this.identity.getUser(row.user_id);
    if (!user?.enabled) return undefined;
    await this.store.db
      .updateTable('access_tokens')
      .set({ last_accessed: now })
      .where('id', '=', row.id)
      .execute();
    return { ...subjectOf(user), scopes: parseScopes(row.scopes) };
  }

  async listTokens(user: User, kind: AccessTokenKind): Promise<AccessToken[]> {
    const rows = await this.store.db
      .selectFrom('access_tokens')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('kind', '=', kind)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => this.toToken(r));
  }

  async getToken(user: User, id: string): Promise<AccessToken & { code?: string }> {
    const row = await this.store.db
      .selectFrom('access_tokens')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new NotFound('TOKEN_NOT_FOUND', 'token not found');
    return { ...this.toToken(row), ...(row.code_sealed ? { code: this.secrets.open(row.code_sealed) } : {}) };
  }

  async revokeToken(user: User, id: string): Promise<void> {
    const result = await this.store.db
      .deleteFrom('access_tokens')
      .where('user_id', '=', user.id)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw new NotFound('TOKEN_NOT_FOUND', 'token not found');
  }

  /**
   * Docker-login credentials (`/v2/auth` Basic): `$oauthtoken` + OAuth token, `$app` + app token,
   * `ns+robot` + robot token, or a user's password. Undefined when they prove nothing.
   */
  async authenticateLogin(username: string, password: string): Promise<Subject | undefined> {
    if (username === '$oauthtoken') return this.resolveToken('oauth', password);
    if (username === '$app') return this.resolveToken('app', password);
    if (username.includes('+')) return this.robots.authenticate(username, password);
    const user = await this.identity.authenticate(username, password);
    return user ? subjectOf(user) : undefined;
  }

  // Web sessions (cookie + CSRF token), for /api/v1/signin and the UI.

  async createSession(user: User): Promise<{ cookie: string; csrfToken: string }> {
    const cookie = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const now = this.clock.now();
    await this.store.db
      .insertInto('sessions')
      .values({
        id: sha256(cookie),
        user_id: user.id,
        csrf_token: csrfToken,
        created_at: now,
        expires_at: now + sessionTtlMs,
      })
      .execute();
    return { cookie, csrfToken };
  }

  async resolveSession(cookie: string): Promise<{ subject: Subject; csrfToken: string } | undefined> {
    const row = await this.store.db
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', sha256(cookie))
      .executeTakeFirst();
    if (!row || row.expires_at <= this.clock.now()) return undefined;
    const user = await this.identity.getUser(row.user_id);
    if (!user?.enabled) return undefined;
    return { subject: subjectOf(user), csrfToken: row.csrf_token };
  }

  async deleteSession(cookie: string): Promise<void> {
    await this.store.db.deleteFrom('sessions').where('id', '=', sha256(cookie)).execute();
  }

  /** Checks a scope string the way Quay does (space or comma separated, all known). */
  parseScopes(value: string): Set<Scope> {
    if (typeof value !== 'string')
      throw new Invalid('INVALID_SCOPE', 'scope must be a string', { field: 'scope' });
    return parseScopes(value);
  }
}
