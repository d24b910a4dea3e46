import type { FastifyError, FastifyReply } from 'fastify';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DomainError } from '../../platform/errors.js';
import type { TriggersService } from '../../runs/triggers/index.js';
import { toNativeError } from './native-errors.js';

export interface HooksDeps {
  triggers: Pick<TriggersService, 'receiveWebhook'>;
}

/** Webhook payloads can be large (GitHub sends up to 25 MB); the whole body is needed to check its signature. */
const HOOK_BODY_LIMIT = 25 * 1024 * 1024;

/**
 * `POST /hooks/{triggerId}`: the endpoint every webhook trigger is called at, by GitHub, GitLab, Bitbucket,
 * Gitea or anything signing like the generic hook. Answers 202 `{run_id, run_ids}` when runs started, 200
 * `{ignored}` for an event that starts none, 401 for a bad signature (nothing starts), 400 for a payload that
 * cannot be read, 404 for an unknown trigger (ids are random, so this tells a prober nothing).
 *
 * This plugin is encapsulated: its content-type parser keeps every body as the raw bytes the signature was
 * computed over, whatever its content type, and does not leak to other routes.
 */
export const hooksRoutes: FastifyPluginAsyncTypebox<HooksDeps> = async (app, { triggers }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (_request, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((error: FastifyError | DomainError, request, reply: FastifyReply) => {
    if (error instanceof DomainError && error.kind === 'unauthenticated') {
      request.log.warn({ trigger: (request.params as { triggerId?: string }).triggerId }, 'webhook refused');
    }
    const mapped = toNativeError(error);
    if (mapped) return reply.code(mapped.status).send(mapped.body);
    request.log.error({ err: error }, 'failed to receive webhook');
    return reply.code(500).send({ error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
  });

  app.post(
    '/hooks/:triggerId',
    {
      bodyLimit: HOOK_BODY_LIMIT,
      schema: { params: Type.Object({ triggerId: Type.String({ minLength: 1, maxLength: 100 }) }) },
    },
    async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const result = await triggers.receiveWebhook(request.params.triggerId, {
        headers: request.headers,
        body,
      });
      if ('ignored' in result) return reply.code(200).send({ ignored: result.ignored });
      return reply.code(202).send({ run_id: result.runIds[0], run_ids: result.runIds });
    },
  );
};
