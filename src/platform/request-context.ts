import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What is known about the HTTP request a piece of code runs for. Services do not take it as
 * a parameter: subscribers of the event bus (the audit log, notifications) read it when an
 * event is emitted, which happens synchronously inside the request that caused it.
 */
export interface RequestContext {
  /** The caller's address as the server sees it. */
  ip?: string;
  /** `scheme://host` the request was sent to. */
  baseUrl?: string;
  /** Who is calling, once a face has authenticated the request. */
  performer?: { kind: 'user' | 'robot'; name: string };
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts) with `context` as the current request. */
export function runInRequest<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The current request, or undefined outside of one (workers, startup). */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}
