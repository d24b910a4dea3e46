import { fetchJson, JsonClient, type JsonResponse } from './json-client.js';
import type { TestServer } from './server.js';
import { userWithToken } from './quay-client.js';

export type RancherResponse<T = any> = JsonResponse<T>;

/** Calls `/v3` as Rancher clients do: `Authorization: Bearer <key>:<secret>` (or a bare token), JSON in and out. */
export class RancherClient extends JsonClient {
  constructor(
    readonly baseUrl: string,
    /** The whole Authorization header value, e.g. `Bearer $oauthtoken:abc`; none for anonymous. */
    readonly authorization?: string,
  ) {
    super();
  }

  /** `path` is under /v3 (`/projects/local:ns/pipelines`) or an absolute URL (a resource's link). */
  async request<T = any>(method: string, path: string, body?: unknown): Promise<RancherResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.authorization) headers.authorization = this.authorization;
    const url = /^https?:/.test(path) ? path : new URL(`/v3${path}`, this.baseUrl).toString();
    return fetchJson<T>(url, method, headers, body);
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
