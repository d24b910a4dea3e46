import { DomainError, Invalid } from '../../platform/errors.js';
import type { OutboundJsonResponse, OutboundPolicy } from '../../platform/outbound.js';

/** Where a GitHub (or GitHub Enterprise) server is: the web site's scheme and host[:port]. */
export interface GitHubEndpoint {
  scheme: 'http' | 'https';
  host: string;
}

/** The profile of the account an access token belongs to. */
export interface RemoteProfile {
  login: string;
  displayName: string;
  avatarUrl: string;
  htmlUrl: string;
}

/** A repository as a remote account sees it (Rancher's git repo cache entry). */
export interface CachedRepository {
  /** `owner/name`. */
  name: string;
  cloneUrl: string;
  permissions: { pull: boolean; push: boolean; admin: boolean };
  language: string;
}

/** github.com's API lives on its own host; GitHub Enterprise serves it under `/api/v3`. */
export function githubApiBase(endpoint: GitHubEndpoint): string {
  return endpoint.host.toLowerCase() === 'github.com'
    ? 'https://api.github.com'
    : `${endpoint.scheme}://${endpoint.host}/api/v3`;
}

export const githubWebBase = (endpoint: GitHubEndpoint): string => `${endpoint.scheme}://${endpoint.host}`;

// A user with more repositories than this sees the first ones only; it bounds a refresh of a hostile server.
const MAX_PAGES = 100;
const LOGIN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/**
 * The few GitHub REST calls remote accounts need, every one through the outbound policy. Failures are domain
 * errors naming the host and what it answered: a rejected token or code is `Invalid` on that field, a server
 * that cannot be reached or answers nonsense is `Invalid('REMOTE_UNAVAILABLE')`. Tokens are never in messages.
 */
export class GitHubClient {
  private readonly apiBase: string;

  constructor(
    private readonly outbound: OutboundPolicy,
    private readonly endpoint: GitHubEndpoint,
    private readonly timeoutMs = 15_000,
  ) {
    this.apiBase = githubApiBase(endpoint);
  }

  /** `GET /user`: whose token this is. */
  async user(accessToken: string): Promise<RemoteProfile> {
    const response = await this.get(`${this.apiBase}/user`, accessToken);
    const body = response.body as Record<string, unknown> | undefined;
    const login = body?.login;
    if (typeof login !== 'string' || !LOGIN.test(login)) throw this.nonsense('GET /user');
    const text = (key: string) => (typeof body?.[key] === 'string' ? (body[key] as string) : '');
    return {
      login,
      displayName: text('name') || login,
      avatarUrl: text('avatar_url'),
      htmlUrl: text('html_url'),
    };
  }

  /** `GET /user/repos`, every page (following the `Link: rel="next"` header on the same server). */
  async repositories(accessToken: string): Promise<CachedRepository[]> {
    const repositories: CachedRepository[] = [];
    let next: string | undefined = `${this.apiBase}/user/repos?per_page=100&page=1`;
    for (let page = 0; next && page < MAX_PAGES; page++) {
      const response: OutboundJsonResponse = await this.get(next, accessToken);
      if (!Array.isArray(response.body)) throw this.nonsense('GET /user/repos');
      for (const item of response.body as unknown[]) {
        const repository = toRepository(item);
        if (repository) repositories.push(repository);
      }
      next = nextLink(response.headers.link);
      // The token goes with every request: never to another server than the one configured.
      if (next && new URL(next, this.apiBase).origin !== new URL(this.apiBase).origin)
        throw this.nonsense('GET /user/repos (a next page on another server)');
    }
    return repositories;
  }

  /** Exchanges an OAuth authorization code for an access token (`POST /login/oauth/access_token`). */
  async exchangeCode(input: {
    clientId: string;
    clientSecret: string;
    code: string;
    redirectUrl?: string;
  }): Promise<string> {
    const url = `${githubWebBase(this.endpoint)}/login/oauth/access_token`;
    const response = await this.send(() =>
      this.outbound.postJson(
        url,
        {
          client_id: input.clientId,
          client_secret: input.clientSecret,
          code: input.code,
          ...(input.redirectUrl ? { redirect_uri: input.redirectUrl } : {}),
        },
        { timeoutMs: this.timeoutMs, headers: { accept: 'application/json' } },
      ),
    );
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(response.body) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    if (response.status === 200 && typeof body?.access_token === 'string' && body.access_token !== '')
      return body.access_token;
    const reason =
      typeof body?.error_description === 'string'
        ? body.error_description
        : typeof body?.error === 'string'
          ? body.error
          : `status ${response.status}`;
    throw new Invalid('REMOTE_CODE_REJECTED', `${this.endpoint.host} did not accept the code: ${reason}`, {
      field: 'code',
    });
  }

  private async get(url: string, accessToken: string): Promise<OutboundJsonResponse> {
    const response = await this.send(() =>
      this.outbound.getJson(url, {
        timeoutMs: this.timeoutMs,
        headers: {
          authorization: `token ${accessToken}`,
          accept: 'application/vnd.github+json',
        },
      }),
    );
    if (response.status === 401)
      throw new Invalid(
        'REMOTE_TOKEN_REJECTED',
        `${this.endpoint.host} rejected the access token: ${messageOf(response.body) ?? 'bad credentials'}`,
        { field: 'accessToken' },
      );
    if (response.status < 200 || response.status > 299) {
      const path = new URL(url).pathname;
      throw new Invalid(
        'REMOTE_UNAVAILABLE',
        `${this.endpoint.host} answered ${response.status} to GET ${path}${
          messageOf(response.body) ? `: ${messageOf(response.body)}` : ''
        }`,
      );
    }
    return response;
  }

  /** Runs a request; refused addresses and transport failures become errors naming the server. */
  private async send<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'URL_NOT_ALLOWED' || code === 'EADDRNOTALLOWED')
        throw new Invalid(
          'URL_NOT_ALLOWED',
          `${this.endpoint.host} may not be reached: its address is internal and not in the outbound allow list (SLIPWAY_OUTBOUND_ALLOW)`,
          { field: 'host' },
        );
      if (err instanceof DomainError) throw err;
      throw new Invalid(
        'REMOTE_UNAVAILABLE',
        `could not reach ${this.endpoint.host}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private nonsense(call: string): Invalid {
    return new Invalid('REMOTE_UNAVAILABLE', `${this.endpoint.host} gave an unexpected answer to ${call}`);
  }
}

function messageOf(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message.slice(0, 200) : undefined;
}

/** The `rel="next"` target of a Link header (RFC 8288), as GitHub paginates. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return undefined;
  for (const part of value.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /(^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/.test(match[2]!)) return match[1];
  }
  return undefined;
}

function toRepository(item: unknown): CachedRepository | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const repo = item as Record<string, unknown>;
  const name = typeof repo.full_name === 'string' ? repo.full_name : repo.name;
  if (typeof name !== 'string' || typeof repo.clone_url !== 'string') return undefined;
  const permissions = (repo.permissions ?? {}) as Record<string, unknown>;
  return {
    name,
    cloneUrl: repo.clone_url,
    permissions: {
      pull: permissions.pull === true,
      push: permissions.push === true,
      admin: permissions.admin === true,
    },
    language: typeof repo.language === 'string' ? repo.language : '',
  };
}
