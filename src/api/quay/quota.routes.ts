import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Invalid } from '../../platform/errors.js';
import { parseByteSize } from '../../registry/index.js';
import type { QuayDeps } from './plugin.js';
import { limitView, quotaView } from './quota.views.js';

const superUser = [{ oauth2_implicit: ['super:user'] }];
const userAdmin = [{ oauth2_implicit: ['user:admin'] }];

const OrgParams = Type.Object({ orgname: Type.String() });
const OrgQuotaParams = Type.Object({ orgname: Type.String(), quota_id: Type.String() });
const OrgLimitParams = Type.Object({
  orgname: Type.String(),
  quota_id: Type.String(),
  limit_id: Type.String(),
});
const UserQuotaParams = Type.Object({ quota_id: Type.String() });
const UserLimitParams = Type.Object({ quota_id: Type.String(), limit_id: Type.String() });
const NamespaceParams = Type.Object({ namespace: Type.String() });
const NamespaceQuotaParams = Type.Object({ namespace: Type.String(), quota_id: Type.String() });

const QuotaSize = Type.Object({
  limit_bytes: Type.Optional(Type.Integer({ description: 'Number of bytes the organization is allowed' })),
  limit: Type.Optional(
    Type.String({ description: 'Human readable storage capacity of the organization, e.g. "10 GiB"' }),
  ),
});
const NewLimit = Type.Object({
  type: Type.String({ description: 'Type of quota limit: "Warning" or "Reject"' }),
  threshold_percent: Type.Integer({ description: 'Quota threshold, in percent of quota' }),
});
const LimitChanges = Type.Object({
  type: Type.Optional(Type.String({ description: 'Type of quota limit: "Warning" or "Reject"' })),
  threshold_percent: Type.Optional(Type.Integer({ description: 'Quota threshold, in percent of quota' })),
});

/** The size a body asks for: `limit_bytes`, or `limit` as a human size; one of them, not both. */
function requestedBytes(
  body: { limit_bytes?: number; limit?: string },
  required: boolean,
): number | undefined {
  if (body.limit !== undefined && body.limit_bytes !== undefined)
    throw new Invalid('INVALID_REQUEST', 'Give either limit_bytes or limit, not both', { field: 'limit' });
  if (body.limit !== undefined) return parseByteSize(body.limit, 'limit');
  if (body.limit_bytes === undefined && required)
    throw new Invalid('INVALID_REQUEST', "'limit_bytes' is a required property", { field: 'limit_bytes' });
  return body.limit_bytes;
}

const created = '"Created"';

/**
 * Namespace quotas (Quay's endpoints/api/namespacequota.py, and the superuser's quota endpoints):
 * organization members read their organization's quota, users read their own, and only
 * superusers (with `super:user` on a token) create or change quotas and limits.
 */
export async function quotaRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  // Organization quotas

  app.get(
    '/organization/:orgname/quota',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'listOrganizationQuota',
        summary: "List the organization's quotas.",
        params: OrgParams,
      },
    },
    async (request) => {
      const { orgname } = request.params;
      await deps.access.organization(request.subject, orgname, 'member');
      return (await deps.quotas.list(orgname, 'organization')).map(quotaView);
    },
  );

  app.post(
    '/organization/:orgname/quota',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'createOrganizationQuota',
        summary: 'Create a new organization quota.',
        security: superUser,
        params: OrgParams,
        body: QuotaSize,
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      const bytes = requestedBytes(request.body, true)!;
      await deps.quotas.create(request.params.orgname, bytes, 'organization');
      return reply.code(201).type('application/json').send(created);
    },
  );

  app.get(
    '/organization/:orgname/quota/:quota_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'getOrganizationQuota',
        summary: 'Get an organization quota.',
        params: OrgQuotaParams,
      },
    },
    async (request) => {
      const { orgname, quota_id } = request.params;
      await deps.access.organization(request.subject, orgname, 'member');
      return quotaView(await deps.quotas.get(orgname, quota_id, 'organization'));
    },
  );

  app.put(
    '/organization/:orgname/quota/:quota_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'changeOrganizationQuota',
        summary: 'Change the size of an organization quota.',
        security: superUser,
        params: OrgQuotaParams,
        body: QuotaSize,
      },
    },
    async (request) => {
      const { orgname, quota_id } = request.params;
      deps.access.superuser(request.subject);
      const bytes = requestedBytes(request.body, false);
      // Quay ignores a zero size here (`if limit_bytes:`), and so do we.
      return quotaView(
        bytes
          ? await deps.quotas.setLimitBytes(orgname, quota_id, bytes, 'organization')
          : await deps.quotas.get(orgname, quota_id, 'organization'),
      );
    },
  );

  app.delete(
    '/organization/:orgname/quota/:quota_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'deleteOrganizationQuota',
        summary: 'Delete an organization quota and its limits.',
        security: superUser,
        params: OrgQuotaParams,
      },
    },
    async (request, reply) => {
      const { orgname, quota_id } = request.params;
      deps.access.superuser(request.subject);
      await deps.quotas.delete(orgname, quota_id, 'organization');
      return reply.code(204).send();
    },
  );

  app.get(
    '/organization/:orgname/quota/:quota_id/limit',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'listOrganizationQuotaLimit',
        summary: 'List the limits of an organization quota.',
        params: OrgQuotaParams,
      },
    },
    async (request) => {
      const { orgname, quota_id } = request.params;
      await deps.access.organization(request.subject, orgname, 'member');
      return (await deps.quotas.get(orgname, quota_id, 'organization')).limits.map(limitView);
    },
  );

  app.post(
    '/organization/:orgname/quota/:quota_id/limit',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'createOrganizationQuotaLimit',
        summary: 'Add a Warning or Reject limit to an organization quota.',
        security: superUser,
        params: OrgQuotaParams,
        body: NewLimit,
      },
    },
    async (request, reply) => {
      const { orgname, quota_id } = request.params;
      deps.access.superuser(request.subject);
      await deps.quotas.addLimit(
        orgname,
        quota_id,
        { type: request.body.type, thresholdPercent: request.body.threshold_percent },
        'organization',
      );
      return reply.code(201).type('application/json').send(created);
    },
  );

  app.get(
    '/organization/:orgname/quota/:quota_id/limit/:limit_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'getOrganizationQuotaLimit',
        summary: 'Get a limit of an organization quota.',
        params: OrgLimitParams,
      },
    },
    async (request) => {
      const { orgname, quota_id, limit_id } = request.params;
      await deps.access.organization(request.subject, orgname, 'member');
      return limitView(await deps.quotas.getLimit(orgname, quota_id, limit_id, 'organization'));
    },
  );

  app.put(
    '/organization/:orgname/quota/:quota_id/limit/:limit_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'changeOrganizationQuotaLimit',
        summary: 'Change the type or threshold of a limit of an organization quota.',
        security: superUser,
        params: OrgLimitParams,
        body: LimitChanges,
      },
    },
    async (request) => {
      const { orgname, quota_id, limit_id } = request.params;
      deps.access.superuser(request.subject);
      const quota = await deps.quotas.updateLimit(
        orgname,
        quota_id,
        limit_id,
        { type: request.body.type, thresholdPercent: request.body.threshold_percent },
        'organization',
      );
      return quotaView(quota);
    },
  );

  app.delete(
    '/organization/:orgname/quota/:quota_id/limit/:limit_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'deleteOrganizationQuotaLimit',
        summary: 'Delete a limit of an organization quota.',
        security: superUser,
        params: OrgLimitParams,
      },
    },
    async (request, reply) => {
      const { orgname, quota_id, limit_id } = request.params;
      deps.access.superuser(request.subject);
      await deps.quotas.deleteLimit(orgname, quota_id, limit_id, 'organization');
      return reply.code(204).send();
    },
  );

  // The caller's own quota (read only)

  app.get(
    '/user/quota',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'listUserQuota',
        summary: "List the signed-in user's quotas.",
        security: userAdmin,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return (await deps.quotas.list(user.name, 'user')).map(quotaView);
    },
  );

  app.get(
    '/user/quota/:quota_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'getUserQuota',
        summary: "Get one of the signed-in user's quotas.",
        security: userAdmin,
        params: UserQuotaParams,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return quotaView(await deps.quotas.get(user.name, request.params.quota_id, 'user'));
    },
  );

  app.get(
    '/user/quota/:quota_id/limit',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'listUserQuotaLimit',
        summary: "List the limits of the signed-in user's quota.",
        security: userAdmin,
        params: UserQuotaParams,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      return (await deps.quotas.get(user.name, request.params.quota_id, 'user')).limits.map(limitView);
    },
  );

  app.get(
    '/user/quota/:quota_id/limit/:limit_id',
    {
      schema: {
        tags: ['namespacequota'],
        operationId: 'getUserQuotaLimit',
        summary: "Get a limit of the signed-in user's quota.",
        security: userAdmin,
        params: UserLimitParams,
      },
    },
    async (request) => {
      const user = deps.access.user(request.subject, 'admin');
      const { quota_id, limit_id } = request.params;
      await deps.quotas.getLimit(user.name, quota_id, limit_id, 'user');
      // Quay answers this one with the whole quota, not the limit (endpoints/api/namespacequota.py UserQuotaLimit).
      return quotaView(await deps.quotas.get(user.name, quota_id, 'user'));
    },
  );

  // A superuser's view of any namespace's quota: the same endpoints under /superuser/users/ and /superuser/organization/.

  for (const [prefix, kind] of [
    ['/superuser/users', 'User'],
    ['/superuser/organization', 'Organization'],
  ] as const) {
    app.get(
      `${prefix}/:namespace/quota`,
      {
        schema: {
          tags: ['superuser'],
          operationId: `list${kind}QuotaSuperUser`,
          summary: "List a namespace's quotas.",
          security: superUser,
          params: NamespaceParams,
        },
      },
      async (request) => {
        deps.access.superuser(request.subject);
        return (await deps.quotas.list(request.params.namespace)).map(quotaView);
      },
    );

    app.post(
      `${prefix}/:namespace/quota`,
      {
        schema: {
          tags: ['superuser'],
          operationId: `create${kind}QuotaSuperUser`,
          summary: 'Create the quota of a namespace.',
          security: superUser,
          params: NamespaceParams,
          body: QuotaSize,
        },
      },
      async (request, reply) => {
        deps.access.superuser(request.subject);
        const bytes = requestedBytes(request.body, true)!;
        await deps.quotas.create(request.params.namespace, bytes);
        return reply.code(201).type('application/json').send(created);
      },
    );

    app.put(
      `${prefix}/:namespace/quota/:quota_id`,
      {
        schema: {
          tags: ['superuser'],
          operationId: `change${kind}QuotaSuperUser`,
          summary: 'Change the size of a namespace quota.',
          security: superUser,
          params: NamespaceQuotaParams,
          body: QuotaSize,
        },
      },
      async (request) => {
        const { namespace, quota_id } = request.params;
        deps.access.superuser(request.subject);
        const bytes = requestedBytes(request.body, false);
        return quotaView(
          bytes
            ? await deps.quotas.setLimitBytes(namespace, quota_id, bytes)
            : await deps.quotas.get(namespace, quota_id),
        );
      },
    );

    app.delete(
      `${prefix}/:namespace/quota/:quota_id`,
      {
        schema: {
          tags: ['superuser'],
          operationId: `delete${kind}QuotaSuperUser`,
          summary: 'Delete a namespace quota.',
          security: superUser,
          params: NamespaceQuotaParams,
        },
      },
      async (request, reply) => {
        const { namespace, quota_id } = request.params;
        deps.access.superuser(request.subject);
        await deps.quotas.delete(namespace, quota_id);
        return reply.code(204).send();
      },
    );
  }
}
