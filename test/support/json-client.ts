// What the test clients of Slipway's JSON faces (Quay's /api/v1, Rancher's /v3) share.

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  /** The parsed JSON; the text itself when it is not JSON; undefined when empty. */
  body: T;
  text: string;
}

/** Sends `body` as JSON (a string as it is), without following redirects, and parses the answer. */
export async function fetchJson<T = any>(
  url: string | URL,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<JsonResponse<T>> {
  const sent = { ...headers };
  if (body !== undefined) sent['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers: sent,
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

/** The HTTP verbs of a JSON API client, each through its request(); POST and PUT send `{}` by default. */
export abstract class JsonClient {
  abstract request<T = any>(method: string, path: string, body?: unknown): Promise<JsonResponse<T>>;

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
