/**
 * A minimal registry HTTP client that authenticates the way docker clients do:
 * on a 401 Bearer challenge it asks the realm for a token with the challenged
 * scope (Basic credentials, or none) and retries once. Tokens are cached per scope.
 */
export interface RegistryResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Extra scopes to ask for with the challenged one (e.g. pull on a mount source). */
  extraScopes?: string[];
  /** Send exactly this Authorization header and do not follow challenges. */
  authorization?: string;
}

export function parseChallenge(header: string | null): Record<string, string> | undefined {
  if (!header?.startsWith('Bearer ')) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

export class RegistryClient {
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    readonly credentials?: { username: string; password: string },
  ) {}

  /** Fetches a token for these scopes (the token endpoint's JSON body). */
  async token(
    scopes: string[],
    service = 'slipway',
  ): Promise<{ status: number; token?: string; body: unknown }> {
    const url = new URL('/v2/auth', this.baseUrl);
    url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.credentials) {
      headers.authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    }
    const res = await fetch(url, { headers });
    const body = (await res.json()) as { token?: string };
    return { status: res.status, token: body.token, body };
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<RegistryResponse> {
    const send = async (authorization?: string) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (authorization) headers.authorization = authorization;
      const res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: opts.body as BodyInit | undefined,
        redirect: 'manual',
      });
      const body = Buffer.from(await res.arrayBuffer());
      return {
        status: res.status,
        headers: res.headers,
        body,
        json: <T>() => JSON.parse(body.toString('utf8')) as T,
      } satisfies RegistryResponse;
    };
    if (opts.authorization !== undefined) return send(opts.authorization);
    const cacheKey = `${method} ${path.split('?')[0]}`;
    const cached = this.tokens.get(cacheKey);
    const first = await send(cached ? `Bearer ${cached}` : undefined);
    if (first.status !== 401) return first;
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    if (!challenge) return first;
    const scopes = [...(challenge.scope ? [challenge.scope] : []), ...(opts.extraScopes ?? [])];
    const { token } = await this.token(scopes, challenge.service);
    if (!token) return first;
    this.tokens.set(cacheKey, token);
    return send(`Bearer ${token}`);
  }

  /** Uploads a blob monolithically (POST then PUT) and returns its digest. */
  async pushBlob(name: string, bytes: Uint8Array): Promise<string> {
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const start = await this.request('POST', `/v2/${name}/blobs/uploads/`);
    if (start.status !== 202) throw new Error(`POST upload: ${start.status} ${start.body.toString()}`);
    const location = start.headers.get('location')!;
    const sep = location.includes('?') ? '&' : '?';
    const done = await this.request('PUT', `${location}${sep}digest=${digest}`, {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (done.status !== 201) throw new Error(`PUT upload: ${done.status} ${done.body.toString()}`);
    return digest;
  }

  async pushManifest(
    name: string,
    reference: string,
    manifest: object | string,
    mediaType?: string,
  ): Promise<RegistryResponse> {
    const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    const type =
      mediaType ??
      (typeof manifest === 'object' && 'mediaType' in manifest
        ? String(manifest.mediaType)
        : 'application/vnd.oci.image.manifest.v1+json');
    return this.request('PUT', `/v2/${name}/manifests/${reference}`, {
      body,
      headers: { 'content-type': type },
    });
  }
}
