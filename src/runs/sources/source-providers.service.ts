import type { Clock } from '../../platform/clock.js';
import { Conflict, Denied, Invalid, NotFound } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import type { SecretBox } from '../../platform/secrets.js';
import type { Policy, Subject } from '../../identity/index.js';
import { GitHubClient, githubApiBase, type GitHubEndpoint } from './github.js';
import type { SourceProviderRow, SourcesStore } from './sources.store.js';

/** Source hosts Slipway can log remote accounts in to; GitLab and Bitbucket would join here. */
export const SOURCE_PROVIDER_TYPES = ['github'] as const;
export type SourceProviderType = (typeof SOURCE_PROVIDER_TYPES)[number];

/** What anyone may see of a provider's settings: never the client secret. */
export interface SourceProvider {
  type: SourceProviderType;
  scheme: 'http' | 'https';
  host: string;
  /** Where its REST API is: `https://api.github.com`, or `<scheme>://<host>/api/v3` for GitHub Enterprise. */
  apiBase: string;
  clientId: string;
  hasClientSecret: boolean;
  enabled: boolean;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

/** Changes to a provider; an absent (or empty) `clientSecret` keeps the stored one, as write-only fields do. */
export interface SourceProviderInput {
  scheme?: string;
  host?: string;
  clientId?: string;
  clientSecret?: string;
  enabled?: boolean;
}

/** A provider ready for calls: its client, and its OAuth application when one is configured. */
export interface ConnectedProvider {
  type: SourceProviderType;
  host: string;
  client: GitHubClient;
  oauthApp?: { clientId: string; clientSecret: string };
}

const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i;

/**
 * The cluster-wide settings of source hosts (Rancher's cluster pipeline): which GitHub server remote accounts
 * log in to, and its OAuth application. Everyone may read them but the client secret, which is sealed at rest;
 * superusers only may change them. The server must be reachable under the outbound policy.
 */
export class SourceProvidersService {
  constructor(
    private readonly store: SourcesStore,
    private readonly policy: Policy,
    private readonly outbound: OutboundPolicy,
    private readonly box: SecretBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  async list(): Promise<SourceProvider[]> {
    return (await this.store.providers()).map(view);
  }

  /** NotFound when the provider is not configured. */
  async get(type: string): Promise<SourceProvider> {
    const row = await this.store.findProvider(type);
    if (!row) throw notConfigured(type);
    return view(row);
  }

  /**
   * Configures provider `type`, creating it or changing the given fields. `create: true` refuses a provider
   * that is configured already (Conflict); a new one defaults to `https://github.com`, enabled.
   */
  async configure(
    subject: Subject,
    type: string,
    input: SourceProviderInput,
    opts: { create?: boolean } = {},
  ): Promise<SourceProvider> {
    if (!this.policy.isSuperuser(subject))
      throw new Denied('SUPERUSER_REQUIRED', 'only superusers may change the source provider settings');
    const providerType = checkType(type);
    const existing = await this.store.findProvider(providerType);
    if (existing && opts.create)
      throw new Conflict('SOURCE_PROVIDER_EXISTS', `the ${providerType} settings exist already: change them`);
    const scheme = input.scheme ?? existing?.scheme ?? 'https';
    if (scheme !== 'http' && scheme !== 'https')
      throw new Invalid('INVALID_SCHEME', `scheme must be http or https, not ${JSON.stringify(scheme)}`, {
        field: 'scheme',
      });
    const host = (input.host ?? existing?.host ?? 'github.com').trim().toLowerCase();
    if (!HOST.test(host))
      throw new Invalid(
        'INVALID_HOST',
        `host must be a host name or address with an optional port, without scheme or path: ${JSON.stringify(host)}`,
        { field: 'host' },
      );
    const endpoint: GitHubEndpoint = { scheme, host };
    // Refuse now what the outbound policy would refuse at every login.
    for (const url of [githubApiBase(endpoint), `${scheme}://${host}`]) {
      try {
        this.outbound.validateUrl(url, 'host');
      } catch (err) {
        if (err instanceof Invalid && err.code === 'URL_NOT_ALLOWED')
          throw new Invalid(
            'URL_NOT_ALLOWED',
            `host ${host} may not be reached: its address is internal and not in the outbound allow list (SLIPWAY_OUTBOUND_ALLOW)`,
            { field: 'host' },
          );
        throw err;
      }
    }
    const clientId = (input.clientId ?? existing?.client_id ?? '').trim();
    const clientSecretSealed = input.clientSecret
      ? this.box.seal(input.clientSecret)
      : (existing?.client_secret_sealed ?? null);
    const now = this.clock.now();
    await this.store.putProvider({
      type: providerType,
      scheme,
      host,
      client_id: clientId,
      client_secret_sealed: clientSecretSealed,
      enabled: (input.enabled ?? (existing ? existing.enabled === 1 : true)) ? 1 : 0,
      created_by: existing?.created_by ?? (subject.kind === 'user' ? subject.name : ''),
      created_at: existing ? Number(existing.created_at) : now,
      updated_at: now,
    });
    this.events.emit({
      type: 'source_provider.configured',
      provider: providerType,
      host,
      ...(subject.kind === 'user' ? { actor: subject.name } : {}),
    });
    return this.get(providerType);
  }

  /** The enabled provider `type` with its client; Invalid when it is not configured or disabled. */
  async connect(type: string): Promise<ConnectedProvider> {
    const providerType = checkType(type);
    const row = await this.store.findProvider(providerType);
    if (!row || row.enabled !== 1)
      throw new Invalid(
        'SOURCE_PROVIDER_NOT_CONFIGURED',
        `${providerType} is not ${row ? 'enabled' : 'configured'}: a superuser configures it in the cluster pipeline settings`,
        { field: 'type' },
      );
    const endpoint: GitHubEndpoint = { scheme: row.scheme as 'http' | 'https', host: row.host };
    return {
      type: providerType,
      host: row.host,
      client: new GitHubClient(this.outbound, endpoint),
      ...(row.client_id && row.client_secret_sealed
        ? { oauthApp: { clientId: row.client_id, clientSecret: this.box.open(row.client_secret_sealed) } }
        : {}),
    };
  }
}

function checkType(type: string): SourceProviderType {
  if (!(SOURCE_PROVIDER_TYPES as readonly string[]).includes(type))
    throw new Invalid('INVALID_PROVIDER', `type must be one of ${SOURCE_PROVIDER_TYPES.join(', ')}`, {
      field: 'type',
    });
  return type as SourceProviderType;
}

const notConfigured = (type: string) =>
  new NotFound('SOURCE_PROVIDER_NOT_FOUND', `${type} is not configured`);

function view(row: SourceProviderRow): SourceProvider {
  const endpoint: GitHubEndpoint = { scheme: row.scheme as 'http' | 'https', host: row.host };
  return {
    type: row.type as SourceProviderType,
    scheme: endpoint.scheme,
    host: row.host,
    apiBase: githubApiBase(endpoint),
    clientId: row.client_id,
    hasClientSecret: row.client_secret_sealed !== null,
    enabled: row.enabled === 1,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
