import type { Scope } from '../../src/identity/index.js';
import assert from 'node:assert/strict';
import { fetchJson, JsonClient, type JsonResponse } from './json-client.js';
import type { TestServer } from './server.js';

export type QuayResponse<T = unknown> = JsonResponse<T>;

/** Calls `/api/v1` as Quay clients do: `Authorization: Bearer <OAuth token>`, JSON in and out. */
export class QuayClient extends JsonClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
    readonly extraHeaders: Record<string, string> = {},
  ) {
    super();
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<QuayResponse<T>> {
    const headers: Record<string, string> = { ...this.extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return fetchJson<T>(new URL(`/api/v1${path}`, this.baseUrl), method, headers, body);
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

/** Creates the private repository namespace/name through /api/v1 and asserts it was created. */
export async function createPrivateRepository(
  client: QuayClient,
  namespace: string,
  name: string,
): Promise<void> {
  const created = await client.post('/repository', {
    namespace,
    repository: name,
    visibility: 'private',
    description: '',
  });
  assert.equal(created.status, 201, created.text);
}
