import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { messageMediaTypes, messageSeverities } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';

const superUser = [{ oauth2_implicit: ['super:user'] }];

/** Global messages (Quay's endpoints/api/globalmessages.py): anyone reads them, superusers write them. */
export async function messageRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/messages',
    {
      schema: {
        tags: ['globalmessages'],
        operationId: 'getGlobalMessages',
        summary: 'Return a super users messages.',
      },
    },
    async () => ({
      messages: (await deps.globalMessages.list()).map((m) => ({
        uuid: m.uuid,
        content: m.content,
        severity: m.severity,
        media_type: m.mediaType,
      })),
    }),
  );

  app.post(
    '/messages',
    {
      schema: {
        tags: ['globalmessages'],
        operationId: 'createGlobalMessage',
        summary: 'Create a message.',
        security: superUser,
        body: Type.Object({
          message: Type.Object(
            {
              content: Type.String({ description: 'The actual message' }),
              media_type: Type.Union(
                messageMediaTypes.map((t) => Type.Literal(t)),
                { description: 'The media type of the message' },
              ),
              severity: Type.Union(
                messageSeverities.map((s) => Type.Literal(s)),
                { description: 'The severity of the message' },
              ),
            },
            { description: 'A single message' },
          ),
        }),
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      const { content, media_type, severity } = request.body.message;
      await deps.globalMessages.create({ content, mediaType: media_type, severity });
      return reply.code(201).send();
    },
  );

  app.delete(
    '/message/:uuid',
    {
      schema: {
        tags: ['globalmessages'],
        operationId: 'deleteGlobalMessage',
        summary: 'Delete a message.',
        security: superUser,
        params: Type.Object({ uuid: Type.String() }),
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      await deps.globalMessages.delete(request.params.uuid);
      return reply.code(204).send();
    },
  );
}
