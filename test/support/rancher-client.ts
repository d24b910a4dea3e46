import type { TestServer } from './server.js';
import { userWithToken } from './quay-client.js';

export interface RancherResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Calls `/v3` as Rancher clients do: `Authorization: Bearer <key>:<secret>` (or a bare token), JSON in and out. */
export class RancherClient {
  constructor(
    readonly baseUrl: string,
    /** The whole Authorization header value, e.g. `Bearer $oauthtoken:abc`; none for anonymous. */
    readonly authorization?: string,
  ) {}

  /** `path` is under /v3 (`/projects/local:ns/pipelines`) or an absolute URL (a resource's link). */
  async request<T = any>(method: string, path: string, body?: unknown): Promise<RancherResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.authorization) headers.authorization = this.authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = /^https?:/.test(path) ? path : new URL(`/v3${path}`, this.baseUrl).toString();
    const res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      redirect: 'manual',
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body ?? {});
  }
  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body ?? {});
  }
  delete<T = any>(path: string) {
    return this.request<T>('DELETE', path);
  }
  /** `POST <resource>?action=<name>` with the action's input. */
  action<T = any>(path: string, name: string, input: unknown = {}) {
    const separator = path.includes('?') ? '&' : '?';
    return this.request<T>('POST', `${path}${separator}action=${encodeURIComponent(name)}`, input);
  }

  /** Polls `path` until `done(body)` holds; fails after `timeoutMs`. */
  async waitFor<T = any>(path: string, done: (body: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await this.get<T>(path);
      if (res.status === 200 && done(res.body)) return res.body;
      if (Date.now() > deadline) throw new Error(`timed out waiting on ${path}: ${res.text}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A user (created unless it exists) with an OAuth token, and a /v3 client sending it as `Bearer <token>`. */
export async function rancherUser(
  server: TestServer,
  name: string,
): Promise<{ client: RancherClient; token: string; userId: string }> {
  const { token, userId } = await userWithToken(server, name);
  return { client: new RancherClient(server.url, `Bearer ${token}`), token, userId };
}
