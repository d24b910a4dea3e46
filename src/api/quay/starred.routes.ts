import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { QuayDeps } from './plugin.js';

const pageSize = 100;

/** `/user/starred`: the caller's starred repositories (only those it may read are listed or starred). */
export async function starredRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/user/starred',
    {
      schema: {
        tags: ['user'],
        operationId: 'listStarredRepos',
        summary: 'List all starred repositories.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        querystring: Type.Object({ next_page: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      const page = await deps.stars.list(user, {
        offset: decodePageToken(request.query.next_page),
        limit: pageSize,
      });
      return {
        repositories: page.repositories.map((repo) => ({
          namespace: repo.namespace,
          name: repo.name.slice(repo.namespace.length + 1),
          description: repo.description,
          is_public: repo.visibility === 'public',
        })),
        ...(page.nextOffset !== undefined ? { next_page: encodePageToken(page.nextOffset) } : {}),
      };
    },
  );

  app.post(
    '/user/starred',
    {
      schema: {
        tags: ['user'],
        operationId: 'createStar',
        summary: 'Star a repository.',
        security: [{ oauth2_implicit: ['repo:read'] }],
        body: Type.Object({
          namespace: Type.String({ minLength: 1 }),
          repository: Type.String({ minLength: 1 }),
        }),
      },
    },
    async (request, reply) => {
      const user = deps.access.user(request.subject, 'admin');
      const { namespace, repository } = request.body;
      const repo = await deps.access.repository(user, `${namespace}/${repository}`, 'read');
      await deps.stars.star(user, repo);
      return reply.code(201).send({ namespace, repository });
    },
  );

  app.delete(
    '/user/starred/:namespace/:repository',
    {
      schema: {
        tags: ['user'],
        operationId: 'deleteStar',
        summary: 'Removes a star from a repository.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        params: Type.Object({ namespace: Type.String(), repository: Type.String() }),
      },
    },
    async (request, reply) => {
      const user = deps.access.user(request.subject, 'admin');
      // Removing one's own star reveals nothing: 204 whether or not the repository exists or is readable.
      await deps.stars.unstar(user, `${request.params.namespace}/${request.params.repository}`);
      return reply.code(204).send();
    },
  );
}
