import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TooLarge } from '../../platform/errors.js';
import { baseUrlOf, type QuayDeps } from './plugin.js';
import { apiError } from './quay-errors.js';

/**
 * Quay's filedrop: `POST /filedrop/` gives a signed-in user an upload URL and a file id; the bytes are
 * PUT to that URL (no credential: the random id is its secret, and it takes one upload), then a build
 * names the file id. Slipway's upload URL is `/api/v1/filedrop/{file_id}`.
 */
export async function filedropRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/filedrop/',
    {
      schema: {
        tags: ['build'],
        operationId: 'getFiledropUrl',
        summary: 'Request a URL to which a file may be uploaded.',
        security: [{ oauth2_implicit: ['user:read'] }],
        body: Type.Object(
          {
            mimeType: Type.String({
              minLength: 1,
              maxLength: 255,
              description: 'Type of the file which is about to be uploaded',
            }),
          },
          { description: 'Description of the file that the user wishes to upload.' },
        ),
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'read');
      const { fileId } = await deps.repositoryBuilds.createUpload(user.name, request.body.mimeType);
      return { url: `${baseUrlOf(request, deps.publicUrl)}/api/v1/filedrop/${fileId}`, file_id: fileId };
    },
  );

  // The upload takes any content type as a raw stream; the builds service enforces the size limit.
  await scope.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    uploads.withTypeProvider<TypeBoxTypeProvider>().put(
      '/filedrop/:file_id',
      {
        schema: {
          tags: ['build'],
          operationId: 'uploadFiledropFile',
          summary: 'Upload the bytes of a file announced with getFiledropUrl (Slipway: the filedrop URL).',
          params: Type.Object({ file_id: Type.String() }),
        },
      },
      async (request, reply) => {
        const body = (request.body as Readable | undefined) ?? request.raw;
        try {
          await deps.repositoryBuilds.storeUpload(request.params.file_id, body);
        } catch (err) {
          if (!(err instanceof TooLarge)) throw err;
          return reply
            .code(413)
            .send(apiError(413, 'invalid_request', err.message, baseUrlOf(request, deps.publicUrl)));
        }
        return reply.code(200).send('');
      },
    );
  });
}
