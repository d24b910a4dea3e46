import type { Clock } from '../platform/clock.js';
import { Invalid, NotFound } from '../platform/errors.js';
import type { EventBus } from '../platform/events.js';
import { newId, randomCode } from '../platform/ids.js';
import type { SecretBox } from '../platform/secrets.js';
import type { ApplicationRow, ApplicationsStore } from './applications.store.js';
import type { CredentialsService } from './credentials.service.js';
import type { IdentityService, Organization, User } from './identity.service.js';
import { formatScopes, parseScopes, type Scope } from './scopes.js';

export interface Application {
  id: string;
  organization: Organization;
  clientId: string;
  clientSecret: string;
  name: string;
  description: string;
  applicationUri: string;
  redirectUri: string;
  avatarEmail: string | null;
  createdAt: number;
}

export interface ApplicationInput {
  name: string;
  description?: string;
  applicationUri?: string;
  redirectUri?: string;
  avatarEmail?: string | null;
}

/** An OAuth token issued through an application (the secret is only known when it is created). */
export interface ApplicationToken {
  id: string;
  name: string | null;
  scope: string;
  createdAt: number;
  expiresAt: number | null;
  lastAccessed: number | null;
  createdBy: string;
}

/** Quay's default OAuth token lifetime (data/model/oauth.py): ten years. */
export const defaultTokenLifetimeSeconds = 315_576_000;
const maxNameLength = 255;

function validateUri(value: string | undefined, field: string): string {
  if (value === undefined || value === '') return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Invalid('INVALID_URI', `${field} must be an absolute URL`, { field });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Invalid('INVALID_URI', `${field} must be an http or https URL`, { field });
  return value;
}

function validateName(value: string): string {
  const name = value.trim();
  if (!name) throw new Invalid('INVALID_NAME', 'name cannot be empty', { field: 'name' });
  if (name.length > maxNameLength) throw new Invalid('INVALID_NAME', 'name is too long', { field: 'name' });
  return name;
}

/**
 * Whether `candidate` may receive tokens for an application registered with `registered`: same
 * scheme, host and port, and a path at or below the registered one (Quay accepts any string
 * prefix; a path-segment boundary keeps `https://app.example` from matching `https://app.example.evil`).
 */
export function redirectMatches(registered: string, candidate: string): boolean {
  if (!registered) return false;
  let a: URL, b: URL;
  try {
    a = new URL(registered);
    b = new URL(candidate);
  } catch {
    return false;
  }
  if (a.origin !== b.origin || a.username || b.username || a.password || b.password) return false;
  if (b.pathname === a.pathname) return true;
  const base = a.pathname.endsWith('/') ? a.pathname : `${a.pathname}/`;
  return b.pathname.startsWith(base);
}

/**
 * OAuth applications of organizations, the tokens issued through them (the way scripts get a
 * token without a browser), and the implicit grant of `/oauth/authorize`.
 * Client secrets are stored sealed: admins read them again, as in Quay.
 * Authorization is the caller's business (organization admin); this service only keeps the rules.
 */
export class ApplicationsService {
  constructor(
    private readonly store: ApplicationsStore,
    private readonly identity: IdentityService,
    private readonly credentials: CredentialsService,
    private readonly secrets: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  private toApplication(row: ApplicationRow, organization: Organization): Application {
    return {
      id: row.id,
      organization,
      clientId: row.client_id,
      clientSecret: this.secrets.open(row.client_secret_sealed),
      name: row.name,
      description: row.description,
      applicationUri: row.application_uri,
      redirectUri: row.redirect_uri,
      avatarEmail: row.avatar_email,
      createdAt: row.created_at,
    };
  }

  async list(organization: string): Promise<Application[]> {
    const org = await this.identity.getOrganization(organization);
    return (await this.store.listByOrganization(org.id)).map((row) => this.toApplication(row, org));
  }

  async create(organization: string, input: ApplicationInput): Promise<Application> {
    const org = await this.identity.getOrganization(organization);
    const row: ApplicationRow = {
      id: newId(),
      organization_id: org.id,
      client_id: randomCode(20),
      client_secret_sealed: this.secrets.seal(randomCode(40)),
      name: validateName(input.name),
      description: input.description ?? '',
      application_uri: validateUri(input.applicationUri, 'application_uri'),
      redirect_uri: validateUri(input.redirectUri, 'redirect_uri'),
      avatar_email: input.avatarEmail ?? null,
      created_at: this.clock.now(),
    };
    await this.store.insert(row);
    this.events.emit({
      type: 'application.created',
      organization,
      application: row.name,
      clientId: row.client_id,
    });
    return this.toApplication(row, org);
  }

  /** The application `clientId` of this organization; NotFound when it belongs to another one. */
  async get(organization: string, clientId: string): Promise<Application> {
    const org = await this.identity.getOrganization(organization);
    const row = await this.store.findByClientId(clientId);
    if (!row || row.organization_id !== org.id)
      throw new NotFound('APPLICATION_NOT_FOUND', 'Not Found', { clientId });
    return this.toApplication(row, org);
  }

  /** Any application by client id (public information: `/app/{client_id}`, `/oauth/authorize`). */
  async find(clientId: string): Promise<Application | undefined> {
    const row = await this.store.findByClientId(clientId);
    if (!row) return undefined;
    const org = await this.identity.findOrganization(row.organization_name);
    return org ? this.toApplication(row, org) : undefined;
  }

  /** Replaces the application's details (Quay's PUT: name, URIs required; description and avatar reset when absent). */
  async update(organization: string, clientId: string, input: ApplicationInput): Promise<Application> {
    const app = await this.get(organization, clientId);
    await this.store.update(app.id, {
      name: validateName(input.name),
      description: input.description ?? '',
      application_uri: validateUri(input.applicationUri, 'application_uri'),
      redirect_uri: validateUri(input.redirectUri, 'redirect_uri'),
      avatar_email: input.avatarEmail ?? null,
    });
    this.events.emit({ type: 'application.updated', organization, application: input.name, clientId });
    return this.get(organization, clientId);
  }

  /** Deletes the application and revokes every token issued through it. */
  async delete(organization: string, clientId: string): Promise<void> {
    const app = await this.get(organization, clientId);
    await this.store.delete(app.id);
    this.events.emit({ type: 'application.deleted', organization, application: app.name, clientId });
  }

  async resetClientSecret(organization: string, clientId: string): Promise<Application> {
    const app = await this.get(organization, clientId);
    await this.store.update(app.id, { client_secret_sealed: this.secrets.seal(randomCode(40)) });
    this.events.emit({ type: 'application.secret_reset', organization, application: app.name, clientId });
    return this.get(organization, clientId);
  }

  /** A page of the tokens issued through the application; `nextOffset` when more exist. */
  async listTokens(
    organization: string,
    clientId: string,
    page: { offset: number; limit: number },
  ): Promise<{ tokens: ApplicationToken[]; nextOffset?: number }> {
    const app = await this.get(organization, clientId);
    const rows = await this.store.tokens(app.id, { offset: page.offset, limit: page.limit + 1 });
    const tokens = rows.slice(0, page.limit).map((r) => ({
      id: r.id,
      name: r.title === '' ? null : r.title,
      scope: r.scopes,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastAccessed: r.last_accessed,
      createdBy: r.user_name,
    }));
    return rows.length > page.limit ? { tokens, nextOffset: page.offset + page.limit } : { tokens };
  }

  /**
   * Issues an OAuth token through the application that acts as `user`, capped by `scopes`.
   * The caller has checked that the user administers the organization and may hold these scopes.
   */
  async createToken(
    organization: string,
    clientId: string,
    user: User,
    input: { name?: string; scopes: Set<Scope>; expirationSeconds?: number },
  ): Promise<{ token: string; record: ApplicationToken }> {
    const app = await this.get(organization, clientId);
    const name = input.name === undefined ? '' : validateName(input.name);
    const seconds = Math.min(
      Math.max(Math.floor(input.expirationSeconds ?? defaultTokenLifetimeSeconds), 1),
      defaultTokenLifetimeSeconds,
    );
    const { token, record } = await this.credentials.createToken({
      kind: 'oauth',
      user,
      scopes: input.scopes,
      title: name,
      applicationId: app.id,
      expiresAt: this.clock.now() + seconds * 1000,
    });
    const scope = formatScopes(input.scopes);
    this.events.emit({
      type: 'application.token_created',
      organization,
      application: app.name,
      clientId,
      tokenId: record.id,
      scope,
      user: user.name,
    });
    return {
      token,
      record: {
        id: record.id,
        name: name === '' ? null : name,
        scope,
        createdAt: record.createdAt,
        expiresAt: record.expiresAt,
        lastAccessed: record.lastAccessed,
        createdBy: user.name,
      },
    };
  }

  async revokeToken(organization: string, clientId: string, tokenId: string): Promise<void> {
    const app = await this.get(organization, clientId);
    if (!(await this.store.deleteToken(app.id, tokenId)))
      throw new NotFound('TOKEN_NOT_FOUND', 'Not Found', { tokenId });
    this.events.emit({
      type: 'application.token_revoked',
      organization,
      application: app.name,
      clientId,
      tokenId,
    });
  }

  /** The application an authorization request names, if its redirect URI is one the application registered. */
  async resolveClient(clientId: string, redirectUri: string): Promise<Application> {
    const app = await this.find(clientId);
    if (!app) throw new Invalid('INVALID_CLIENT', 'Invalid client_id', { field: 'client_id' });
    if (!redirectMatches(app.redirectUri, redirectUri))
      throw new Invalid('INVALID_REDIRECT_URI', 'redirect_uri does not match the application', {
        field: 'redirect_uri',
      });
    return app;
  }

  /**
   * The OAuth 2 implicit grant for a signed-in user: checks the client and its redirect URI (errors
   * there are thrown, never redirected), then answers with the URL to redirect to, carrying
   * `#access_token=...&token_type=Bearer&expires_in=...` or `#error=...` (RFC 6749 §4.2.2).
   */
  async authorizeImplicit(input: {
    user: User;
    clientId: string;
    redirectUri: string;
    responseType: string;
    scope: string;
    state?: string;
  }): Promise<{ redirect: string }> {
    const app = await this.resolveClient(input.clientId, input.redirectUri);
    const fragment = new URLSearchParams();
    const answer = () => {
      if (input.state !== undefined) fragment.set('state', input.state);
      const url = new URL(input.redirectUri);
      url.hash = fragment.toString();
      return { redirect: url.toString() };
    };
    if (input.responseType !== 'token') {
      fragment.set('error', 'unsupported_response_type');
      return answer();
    }
    let scopes: Set<Scope>;
    try {
      scopes = parseScopes(input.scope);
    } catch {
      fragment.set('error', 'invalid_scope');
      return answer();
    }
    const { token, record } = await this.credentials.createToken({
      kind: 'oauth',
      user: input.user,
      scopes,
      applicationId: app.id,
      expiresAt: this.clock.now() + defaultTokenLifetimeSeconds * 1000,
    });
    this.events.emit({
      type: 'application.token_created',
      organization: app.organization.name,
      application: app.name,
      clientId: app.clientId,
      tokenId: record.id,
      scope: formatScopes(scopes),
      user: input.user.name,
      actor: input.user.name,
    });
    fragment.set('access_token', token);
    fragment.set('token_type', 'Bearer');
    fragment.set('expires_in', String(defaultTokenLifetimeSeconds));
    fragment.set('scope', formatScopes(scopes));
    return answer();
  }
}
