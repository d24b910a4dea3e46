import type { Scope } from '../../src/identity/index.js';
import type { TestServer } from './server.js';

export interface QuayResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Calls `/api/v1` as Quay clients do: `Authorization: Bearer <OAuth token>`, JSON in and out. */
export class QuayClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
    readonly extraHeaders: Record<string, string> = {},
  ) {}

  async request<T = any>(method: string, path: string, body?: unknown): Promise<QuayResponse<T>> {
    const headers: Record<string, string> = { ...this.extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(new URL(`/api/v1${path}`, this.baseUrl), {
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
}

/** Creates a user (unless it exists) and an OAuth token for it with these scopes (all by default). */
export async function userWithToken(
  server: TestServer,
  name: string,
  scopes?: Scope[],
): Promise<{ client: QuayClient; token: string; userId: string }> {
  const { identity, credentials } = server.services;
  const user =
    (await identity.findUserByName(name)) ??
    (await identity.createUser({ name, password: `${name}-password-1`, email: `${name}@example.com` }));
  const { token } = await credentials.createToken({ kind: 'oauth', user, scopes });
  return { client: new QuayClient(server.url, token), token, userId: user.id };
}
