import type { FastifyInstance } from 'fastify';
import { Denied, Unauthenticated } from '../../platform/errors.js';
import type { Services } from '../../services.js';
import { authenticate } from '../quay/plugin.js';
import { toNativeError } from './native-errors.js';

/**
 * What every authenticated plugin of the native API (`/api/slipway/v1`) starts with: the caller resolved as on
 * the Quay API (`Authorization: Bearer` with an OAuth or application token, or the web session cookie, whose
 * writes must carry `X-CSRF-Token`), 401 for anonymous callers before anything is read or upgraded, and errors
 * answered by the native API's one mapper.
 */
export async function nativeApi(app: FastifyInstance, deps: Pick<Services, 'credentials'>): Promise<void> {
  await app.register(import('@fastify/cookie'));
  app.decorateRequest('subject', null as never); // set for every request by the hook below

  app.setErrorHandler((err, request, reply) => {
    const mapped = toNativeError(err);
    if (mapped) return reply.code(mapped.status).send(mapped.body);
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL_ERROR', message: 'internal server error' } });
  });

  app.addHook('preHandler', async (request, reply) => {
    const { error } = await authenticate(deps, request);
    if (error) throw new Denied('CSRF_FAILED', error);
    if (request.subject.kind === 'anonymous') {
      reply.header('www-authenticate', 'Bearer');
      throw new Unauthenticated('UNAUTHENTICATED', 'authentication required: a Bearer token or a session');
    }
  });
}
