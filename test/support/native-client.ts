import { createHmac } from 'node:crypto';
import { fetchJson, type JsonResponse } from './json-client.js';
import type { TestServer } from './server.js';

/** One call of Slipway's native API: method, path under /api/slipway/v1, JSON body. */
export type NativeApi = (method: string, path: string, body?: unknown) => Promise<JsonResponse>;

/** Calls Slipway's native API, with a Bearer token when given one; an answer that is not JSON throws. */
export function nativeApi(server: TestServer, token?: string): NativeApi {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return async (method, path, body) => {
    const res = await fetchJson(`${server.url}/api/slipway/v1${path}`, method, headers, body);
    return { ...res, body: res.text ? JSON.parse(res.text) : undefined };
  };
}

/** GETs a step's log as plain text from the native API with a Bearer token. */
export async function fetchStepLog(
  server: TestServer,
  token: string,
  stepId: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.url}/api/slipway/v1/logs/${stepId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, text: await res.text() };
}

/** POSTs `payload` to a generic webhook, signed with its secret in `x-slipway-signature`. */
export async function sendSignedWebhook(
  server: TestServer,
  webhookId: string,
  secret: string,
  payload: unknown,
): Promise<{ status: number; text: string }> {
  const body = JSON.stringify(payload);
  const res = await fetch(`${server.url}/api/slipway/v1/hooks/${webhookId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-slipway-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}
