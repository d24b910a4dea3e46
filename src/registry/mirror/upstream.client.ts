import dns from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { digestOf, parseDigest } from '../../platform/blobs/digest.js';
import { mediaTypes } from '../media-types.js';
import type { AddressPolicy } from './registry-reference.js';

/** The upstream failed or refused: `status` is its HTTP status when it answered at all. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamOptions {
  /** `host[:port]` of the registry. */
  authority: string;
  /** Plain HTTP instead of HTTPS (Quay's `insecure`, or a mirror's `verify_tls: false`). */
  insecure: boolean;
  credentials?: { username: string; password: string };
  /** Which addresses may be connected to: checked on every connection, after name resolution. */
  policy: AddressPolicy;
  /** A request fails when its connection stays idle this long. */
  timeoutMs: number;
  maxManifestBytes: number;
  signal?: AbortSignal;
}

export interface UpstreamManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** Manifest kinds Slipway stores; schema 1 is not asked for. */
const manifestAccept = [
  mediaTypes.ociIndex,
  mediaTypes.ociManifest,
  mediaTypes.dockerManifestList,
  mediaTypes.dockerManifest,
].join(', ');
const maxRedirects = 5;
const maxTagPages = 100;

/** `Bearer realm="...",service="..."` → `{scheme: 'bearer', realm, service}` (one challenge, as registries send). */
function parseChallenge(header: string): Record<string, string> {
  const scheme = header.trim().split(/\s+/, 1)[0]!.toLowerCase();
  const params: Record<string, string> = { scheme };
  for (const m of header.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g))
    params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return params;
}

async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new UpstreamError(`upstream response is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const repositoryScope = (repository: string) => `repository:${repository}:pull`;

/**
 * A client of one upstream registry speaking the distribution API (pull side only):
 * anonymous, Basic, or Bearer tokens from the registry's token service, with the
 * configured credentials. Every connection, redirects and token realms included,
 * goes through the outbound address policy. Holds tokens for its lifetime: make one
 * per sync or pull.
 */
export class UpstreamRegistry {
  private readonly base: string;
  private readonly authorizations = new Map<string, string>();

  constructor(private readonly opts: UpstreamOptions) {
    this.base = `${opts.insecure ? 'http' : 'https'}://${opts.authority}`;
  }

  /**
   * Checks the registry and the credentials (Quay's validateproxycache): `Valid` when `/v2/` answers
   * 200, `Anonymous` when it wants credentials that were not given. Rejected credentials throw.
   */
  async ping(): Promise<'Valid' | 'Anonymous'> {
    try {
      const res = await this.request('GET', '/v2/', undefined);
      res.resume();
      if (res.statusCode === 200) return 'Valid';
      if (res.statusCode === 401 && !this.opts.credentials) return 'Anonymous';
      throw new UpstreamError(`upstream registry answered ${res.statusCode} for /v2/`, res.statusCode);
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 401 && !this.opts.credentials) return 'Anonymous';
      throw err;
    }
  }

  /** Every tag of the repository, following `Link` pagination. */
  async tags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path && page < maxTagPages; page++) {
      const res = await this.ok(await this.request('GET', path, repositoryScope(repository)), 'tags');
      const body = JSON.parse((await readBody(res, 16 * 1024 * 1024)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      path = next ? next[1] : undefined;
    }
    return tags;
  }

  /** The manifest's bytes exactly as the upstream has them; a digest reference is verified. */
  async manifest(repository: string, reference: string): Promise<UpstreamManifest> {
    const res = await this.ok(
      await this.request('GET', `/v2/${repository}/manifests/${reference}`, repositoryScope(repository), {
        accept: manifestAccept,
      }),
      `manifest ${reference}`,
    );
    const bytes = await readBody(res, this.opts.maxManifestBytes);
    const algorithm = reference.includes(':') ? parseDigest(reference).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (reference.includes(':') && digest !== reference)
      throw new UpstreamError(`upstream manifest ${reference} does not match its digest`);
    let mediaType = String(res.headers['content-type'] ?? '')
      .split(';', 1)[0]!
      .trim();
    if (!mediaType || mediaType === 'application/json' || mediaType === 'text/plain') {
      try {
        mediaType = String((JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType ?? '');
      } catch {
        mediaType = '';
      }
    }
    return { bytes, mediaType, digest };
  }

  /** The digest the upstream gives the reference now (a HEAD), when it tells it. */
  async manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.ok(
      await this.request('HEAD', `/v2/${repository}/manifests/${reference}`, repositoryScope(repository), {
        accept: manifestAccept,
      }),
      `manifest ${reference}`,
    );
    res.resume();
    const digest = res.headers['docker-content-digest'];
    return typeof digest === 'string' && digest ? digest : undefined;
  }

  /** The blob's bytes as a stream; the caller verifies them against the digest while storing. */
  async blob(repository: string, digest: string): Promise<IncomingMessage> {
    return this.ok(
      await this.request('GET', `/v2/${repository}/blobs/${digest}`, repositoryScope(repository)),
      `blob ${digest}`,
    );
  }

  private async ok(res: IncomingMessage, what: string): Promise<IncomingMessage> {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    res.resume();
    throw new UpstreamError(`upstream registry answered ${status} for ${what}`, status);
  }

  /** Sends with the authorization held for `scope`; on a 401 answers the challenge once and retries. */
  private async request(
    method: string,
    path: string,
    scope: string | undefined,
    headers: Record<string, string> = {},
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.base);
    // A `Link` to another host is not followed with this registry's credentials.
    if (url.origin !== new URL(this.base).origin)
      throw new UpstreamError(`upstream registry pointed to another host: ${url.host}`);
    const held = this.authorizations.get(scope ?? '');
    const res = await this.send(method, url, held ? { ...headers, authorization: held } : headers);
    if (res.statusCode !== 401) return res;
    const challenge = res.headers['www-authenticate'];
    res.resume();
    const authorization = challenge ? await this.answer(challenge, scope) : undefined;
    if (!authorization) throw new UpstreamError('upstream registry requires authentication', 401);
    this.authorizations.set(scope ?? '', authorization);
    return this.send(method, url, { ...headers, authorization });
  }

  /** The Authorization header that answers a challenge: Basic with the credentials, or a token from the realm. */
  private async answer(challenge: string, scope: string | undefined): Promise<string | undefined> {
    const { credentials } = this.opts;
    const basic = credentials
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
      : undefined;
    const params = parseChallenge(challenge);
    if (params.scheme === 'basic') return basic;
    if (params.scheme !== 'bearer' || !params.realm) return undefined;
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new UpstreamError('upstream registry sent an invalid token realm');
    }
    if (realm.protocol !== 'http:' && realm.protocol !== 'https:')
      throw new UpstreamError('upstream registry sent an invalid token realm');
    if (params.service) realm.searchParams.set('service', params.service);
    const wanted = scope ?? params.scope;
    if (wanted) realm.searchParams.set('scope', wanted);
    const res = await this.send('GET', realm, basic ? { authorization: basic } : {});
    if (res.statusCode !== 200) {
      res.resume();
      throw new UpstreamError(`upstream token service answered ${res.statusCode}`, 401);
    }
    let body: { token?: unknown; access_token?: unknown };
    try {
      body = JSON.parse((await readBody(res, 1024 * 1024)).toString('utf8')) as typeof body;
    } catch {
      throw new UpstreamError('upstream token service sent no JSON');
    }
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || !token) throw new UpstreamError('upstream token service sent no token');
    return `Bearer ${token}`;
  }

  /** One request, following redirects; credentials are not carried to another origin. */
  private async send(method: string, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    let target = url;
    let sendHeaders = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.connect(method, target, sendHeaders);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) return res;
      res.resume();
      if (hop >= maxRedirects) throw new UpstreamError('upstream registry redirected too many times');
      const next = new URL(location, target);
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new UpstreamError('upstream registry redirected to an unsupported URL');
      if (next.origin !== target.origin) {
        const { authorization: _dropped, ...rest } = sendHeaders;
        sendHeaders = rest;
      }
      target = next;
    }
  }

  private connect(method: string, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !this.opts.policy.allowsAddress(host))
      return Promise.reject(new UpstreamError(`${host} is an address that may not be reached`));
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(url, {
        method,
        headers: { 'user-agent': 'slipway', ...headers },
        lookup: checkedLookup(this.opts.policy),
        timeout: this.opts.timeoutMs,
        signal: this.opts.signal,
      });
      req.on('response', (res) => {
        res.setTimeout(this.opts.timeoutMs, () =>
          res.destroy(new UpstreamError(`upstream registry ${url.host} timed out`)),
        );
        resolve(res);
      });
      req.on('timeout', () => req.destroy(new UpstreamError(`upstream registry ${url.host} timed out`)));
      req.on('error', (err) =>
        reject(
          err instanceof UpstreamError
            ? err
            : new UpstreamError(`upstream registry ${url.host}: ${err.message}`),
        ),
      );
      req.end();
    });
  }
}

/** A `dns.lookup` that keeps only addresses the policy allows, and fails when none is left. */
function checkedLookup(policy: AddressPolicy): typeof dns.lookup {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const allowed = addresses.filter((a) => policy.allowsAddress(a.address));
      if (allowed.length === 0)
        return callback(
          Object.assign(new Error(`${hostname} resolves to an address that may not be reached`), {
            code: 'EADDRNOTALLOWED',
          }),
        );
      if (options.all) return callback(null, allowed);
      return callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as typeof dns.lookup;
}
