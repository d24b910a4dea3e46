import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { NotFound } from '../../platform/errors.js';
import { allScopes } from '../../identity/index.js';
import { baseUrlOf, type QuayDeps } from './plugin.js';
import { errorDescriptions } from './quay-errors.js';

/** `/discovery` (the API's Swagger 2.0 document, generated from the route schemas) and `/error/{type}`. */
export async function discoveryRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/discovery',
    {
      schema: {
        tags: ['discovery'],
        operationId: 'discovery',
        summary: 'List all of the API endpoints available in the Swagger API format.',
      },
    },
    async (request) => {
      const base = new URL(baseUrlOf(request, deps.publicUrl));
      const document = scope.swagger() as Record<string, unknown>;
      return {
        ...document,
        host: base.host,
        schemes: [base.protocol.replace(':', '')],
        securityDefinitions: {
          oauth2_implicit: {
            type: 'oauth2',
            flow: 'implicit',
            authorizationUrl: `${base.origin}/oauth/authorize`,
            scopes: Object.fromEntries(allScopes.map((s) => [s, s])),
          },
        },
      };
    },
  );

  app.get(
    '/error/:error_type',
    {
      schema: {
        tags: ['error'],
        operationId: 'getErrorDescription',
        summary: 'Get a detailed description of the error.',
        params: Type.Object({ error_type: Type.String() }),
      },
    },
    async (request) => {
      const description = errorDescriptions[request.params.error_type];
      if (!description) throw new NotFound('ERROR_TYPE_NOT_FOUND', 'Not Found');
      return {
        type: `${baseUrlOf(request, deps.publicUrl)}/api/v1/error/${request.params.error_type}`,
        title: request.params.error_type,
        description,
      };
    },
  );
}
