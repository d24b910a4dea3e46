import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ProxyCacheInput } from '../../registry/proxy-cache/index.js';
import type { QuayDeps } from './plugin.js';

const OrgParams = Type.Object({ orgname: Type.String({ description: 'The name of the organization' }) });
const NewConfig = Type.Object(
  {
    upstream_registry: Type.String({ description: 'Name of the upstream registry that is to be cached' }),
    upstream_registry_username: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    upstream_registry_password: Type.Optional(Type.Union([Type.Null(), Type.String()])),
    expiration_s: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds a cached tag is served before it is checked again' }),
    ),
    insecure: Type.Optional(Type.Boolean({ description: 'Reach the upstream registry over plain HTTP' })),
  },
  { description: 'Proxy cache configuration for an organization' },
);

const toInput = (body: {
  upstream_registry: string;
  upstream_registry_username?: string | null;
  upstream_registry_password?: string | null;
  expiration_s?: number;
  insecure?: boolean;
}): ProxyCacheInput => ({
  upstreamRegistry: body.upstream_registry,
  username: body.upstream_registry_username,
  password: body.upstream_registry_password,
  expirationSeconds: body.expiration_s,
  insecure: body.insecure,
});

/** A JSON string body, as Quay answers "Created", "Deleted", "Valid"... */
const jsonString = (value: string) => JSON.stringify(value);

/** An organization's proxy cache (`/organization/{org}/proxycache`, `validateproxycache`). */
export async function proxyCacheRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/organization/:orgname/proxycache',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getProxyCacheConfig',
        summary: 'Retrieves the proxy cache configuration of the organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'member');
      const config = await deps.proxyCache.get(request.params.orgname);
      // Quay shows empty strings when the organization is not a proxy cache.
      return {
        upstream_registry: config?.upstreamRegistry ?? '',
        expiration_s: config?.expirationSeconds ?? '',
        insecure: config?.insecure ?? '',
      };
    },
  );

  app.post(
    '/organization/:orgname/proxycache',
    {
      schema: {
        tags: ['organization'],
        operationId: 'createProxyCacheConfig',
        summary: 'Creates proxy cache configuration for the organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
        body: NewConfig,
      },
    },
    async (request, reply) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      await deps.proxyCache.create(request.params.orgname, toInput(request.body));
      return reply.code(201).type('application/json').send(jsonString('Created'));
    },
  );

  app.delete(
    '/organization/:orgname/proxycache',
    {
      schema: {
        tags: ['organization'],
        operationId: 'deleteProxyCacheConfig',
        summary: 'Delete proxy cache configuration for the organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
      },
    },
    async (request, reply) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      await deps.proxyCache.delete(request.params.orgname);
      // 201 "Deleted", sic (Quay).
      return reply.code(201).type('application/json').send(jsonString('Deleted'));
    },
  );

  app.post(
    '/organization/:orgname/validateproxycache',
    {
      schema: {
        tags: ['organization'],
        operationId: 'validateProxyCacheConfig',
        summary: 'Checks a proxy cache configuration against its upstream registry before it is saved.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: OrgParams,
        body: NewConfig,
      },
    },
    async (request, reply) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const result = await deps.proxyCache.validate(request.params.orgname, toInput(request.body));
      return reply.code(202).type('application/json').send(jsonString(result));
    },
  );
}
