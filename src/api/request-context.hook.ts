import { AsyncResource } from 'node:async_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { runInRequest, type RequestContext } from '../platform/request-context.js';

const resources = new WeakMap<FastifyRequest, AsyncResource>();

/**
 * Makes every request its own request context (src/platform/request-context.ts).
 * Fastify runs body parsing and the handler from the socket's `end` event, outside the
 * async scope `onRequest` ran in, so `preValidation` re-enters the scope captured there.
 */
export function trackRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const context: RequestContext = {
      ip: request.ip,
      baseUrl: `${request.protocol}://${request.headers.host ?? 'localhost'}`,
    };
    runInRequest(context, () => {
      const resource = new AsyncResource('slipway-request');
      resources.set(request, resource);
      resource.runInAsyncScope(done, request.raw);
    });
  });
  app.addHook('preValidation', (request, _reply, done) => {
    const resource = resources.get(request);
    if (resource) resource.runInAsyncScope(done, request.raw);
    else done();
  });
}
