import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Organization, ServiceKey, User } from '../../identity/index.js';
import { Invalid } from '../../platform/errors.js';
import type { QuayDeps } from './plugin.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { namespaceQuotaFields } from './quota.views.js';
import { avatar } from './views.js';

const superUser = [{ oauth2_implicit: ['super:user'] }];

const UsernameParams = Type.Object({
  username: Type.String({ description: 'The username of the user being managed' }),
});
const OrgNameParams = Type.Object({
  name: Type.String({ description: 'The name of the organizaton being managed' }),
});
const NamespaceParams = Type.Object({
  namespace: Type.String({ description: 'The namespace of the user or organization being managed' }),
});
const KidParams = Type.Object({
  kid: Type.String({ description: 'The unique identifier for a service key' }),
});
const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Limit to the number of results to return per page. Max 100.' }),
  ),
  next_page: Type.Optional(Type.String({ description: 'The page token for the next page' })),
};
// Null first: with the body coercion Fastify applies, a null tried against Number first would become 0.
const Expiration = Type.Union([Type.Null(), Type.Number()], {
  description: 'The expiration date as a unix timestamp',
});

/** Quay refuses pages above 100 (endpoints/api/superuser.py). */
function pageLimit(limit: number | undefined): number | undefined {
  if (limit !== undefined && limit > 100)
    throw new Invalid('INVALID_LIMIT', 'Page limit cannot be above 100', { field: 'limit' });
  return limit;
}

/** Quay's date format for service keys: Flask's JSON encoder writes datetimes as HTTP dates. */
const httpDate = (ms: number | null) => (ms === null ? null : new Date(ms).toUTCString());

/** A user as the superuser panel shows it (superuser_models_interface.py User.to_dict). */
async function userView(deps: QuayDeps, user: User) {
  return {
    kind: 'user',
    name: user.name,
    username: user.name,
    email: user.email,
    verified: true,
    avatar: avatar(user.name, 'user'),
    super_user: user.superuser,
    global_readonly_super_user: false,
    enabled: user.enabled,
    ...(await namespaceQuotaFields(deps, user.name)),
  };
}

async function organizationView(deps: QuayDeps, org: Organization) {
  return {
    name: org.name,
    email: org.email,
    avatar: avatar(org.name, 'org'),
    ...(await namespaceQuotaFields(deps, org.name)),
  };
}

/** A service key (superuser.py key_view); the approver is shown as the panel shows users, without quotas. */
function keyView(key: ServiceKey) {
  const approver = key.approval?.approver;
  return {
    name: key.name,
    kid: key.kid,
    service: key.service,
    jwk: key.jwk,
    metadata: key.metadata,
    created_date: httpDate(key.createdAt),
    expiration_date: httpDate(key.expiresAt),
    rotation_duration: key.rotationDurationSeconds,
    approval: key.approval
      ? {
          approver: approver
            ? {
                kind: 'user',
                name: approver.name,
                username: approver.name,
                email: approver.email,
                verified: true,
                avatar: avatar(approver.name, 'user'),
                super_user: approver.superuser,
                enabled: approver.enabled,
              }
            : null,
          approval_type: key.approval.type,
          approved_date: httpDate(key.approval.approvedAt),
          notes: key.approval.notes,
        }
      : null,
  };
}

/**
 * The superuser panel (Quay's endpoints/api/superuser.py): users, organizations, taking ownership
 * of a namespace, and service keys. Every endpoint needs a superuser; a token must carry `super:user`.
 */
export async function superuserRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  // Users

  app.get(
    '/superuser/users/',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'listAllUsers',
        summary: 'Returns a list of all users in the system.',
        security: superUser,
        querystring: Type.Object({
          disabled: Type.Boolean({
            default: true,
            description: 'If false, only enabled users will be returned.',
          }),
          ...PageQuery,
        }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      const { disabled, limit, next_page } = request.query;
      const page = await deps.superuser.listUsers({
        includeDisabled: disabled,
        limit: pageLimit(limit),
        offset: limit === undefined ? 0 : decodePageToken(next_page),
      });
      return {
        users: await Promise.all(page.items.map((user) => userView(deps, user))),
        ...(page.nextOffset === undefined ? {} : { next_page: encodePageToken(page.nextOffset) }),
      };
    },
  );

  app.post(
    '/superuser/users/',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'createInstallUser',
        summary: 'Creates a new user.',
        security: superUser,
        body: Type.Object({
          username: Type.String({ description: 'The username of the user being created' }),
          email: Type.Optional(Type.String({ description: 'The email address of the user being created' })),
        }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      const { user, password, encryptedPassword } = await deps.superuser.createUser(request.body);
      return {
        username: user.name,
        email: request.body.email ?? null,
        password,
        encrypted_password: encryptedPassword,
      };
    },
  );

  app.get(
    '/superuser/users/:username',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'getInstallUser',
        summary: 'Returns information about the specified user.',
        security: superUser,
        params: UsernameParams,
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return userView(deps, await deps.superuser.getUser(request.params.username));
    },
  );

  app.put(
    '/superuser/users/:username',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'changeInstallUser',
        summary: 'Updates information about the specified user.',
        security: superUser,
        params: UsernameParams,
        body: Type.Object({
          password: Type.Optional(Type.String({ description: 'The new password for the user' })),
          email: Type.Optional(Type.String({ description: 'The new e-mail address for the user' })),
          enabled: Type.Optional(Type.Boolean({ description: 'Whether the user is enabled' })),
          superuser: Type.Optional(Type.Boolean({ description: 'Whether the user is a superuser' })),
        }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      const user = await deps.superuser.updateUser(request.params.username, request.body);
      const { password } = request.body;
      return {
        ...(await userView(deps, user)),
        ...(password === undefined ? {} : { encrypted_password: deps.superuser.encryptPassword(password) }),
      };
    },
  );

  app.delete(
    '/superuser/users/:username',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'deleteInstallUser',
        summary: 'Deletes the specified user.',
        security: superUser,
        params: UsernameParams,
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      await deps.superuser.deleteUser(request.params.username);
      return reply.code(204).send();
    },
  );

  // Organizations

  app.get(
    '/superuser/organizations/',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'listAllOrganizations',
        summary: 'Returns a list of all organizations in the system.',
        security: superUser,
        querystring: Type.Object(PageQuery),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      const { limit, next_page } = request.query;
      const page = await deps.superuser.listOrganizations({
        limit: pageLimit(limit),
        offset: limit === undefined ? 0 : decodePageToken(next_page),
      });
      return {
        organizations: await Promise.all(page.items.map((org) => organizationView(deps, org))),
        ...(page.nextOffset === undefined ? {} : { next_page: encodePageToken(page.nextOffset) }),
      };
    },
  );

  app.put(
    '/superuser/organizations/:name',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'changeOrganization',
        summary: 'Renames the specified organization.',
        security: superUser,
        params: OrgNameParams,
        body: Type.Object({
          name: Type.Optional(Type.String({ description: 'The new name for the organization' })),
        }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return organizationView(
        deps,
        await deps.superuser.renameOrganization(request.params.name, request.body.name),
      );
    },
  );

  app.delete(
    '/superuser/organizations/:name',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'deleteOrganization',
        summary: 'Deletes the specified organization.',
        security: superUser,
        params: OrgNameParams,
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      await deps.superuser.deleteOrganization(request.params.name);
      return reply.code(204).send();
    },
  );

  app.post(
    '/superuser/takeownership/:namespace',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'takeOwnership',
        summary: 'Takes ownership of the specified organization or user.',
        security: superUser,
        params: NamespaceParams,
      },
    },
    async (request) => {
      const actor = deps.access.superuser(request.subject);
      await deps.superuser.takeOwnership(request.params.namespace, actor);
      return { namespace: request.params.namespace };
    },
  );

  // Service keys

  app.get(
    '/superuser/keys',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'listServiceKeys',
        summary: 'List all service keys.',
        security: superUser,
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return { keys: (await deps.serviceKeys.list()).map(keyView) };
    },
  );

  app.post(
    '/superuser/keys',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'createServiceKey',
        summary: 'Creates a service key; its private key is returned only in this answer.',
        security: superUser,
        body: Type.Object({
          service: Type.String({ description: 'The service authenticating with this key' }),
          name: Type.Optional(Type.String({ description: 'The friendly name of a service key' })),
          metadata: Type.Optional(
            Type.Record(Type.String(), Type.Unknown(), {
              description: "The key/value pairs of this key's metadata",
            }),
          ),
          notes: Type.Optional(Type.String({ description: 'If specified, the extra notes for the key' })),
          expiration: Type.Optional(Expiration),
        }),
      },
    },
    async (request) => {
      const actor = deps.access.superuser(request.subject);
      const approver = await deps.superuser.getUser(actor.name);
      const { service, name, metadata, notes, expiration } = request.body;
      const created = await deps.serviceKeys.create({
        service,
        name,
        expiration,
        notes,
        metadata: { ...metadata, created_by: 'Quay Superuser Panel', creator: actor.name, ip: request.ip },
        approver,
      });
      return {
        kid: created.key.kid,
        name: created.key.name,
        service: created.key.service,
        public_key: created.publicKey,
        private_key: created.privateKey,
      };
    },
  );

  app.get(
    '/superuser/keys/:kid',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'getServiceKey',
        summary: 'Returns a service key.',
        security: superUser,
        params: KidParams,
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return keyView(await deps.serviceKeys.get(request.params.kid));
    },
  );

  app.put(
    '/superuser/keys/:kid',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'updateServiceKey',
        summary: 'Renames a service key, adds to its metadata or changes its expiration.',
        security: superUser,
        params: KidParams,
        body: Type.Object({
          name: Type.Optional(Type.String({ description: 'The friendly name of a service key' })),
          metadata: Type.Optional(
            Type.Record(Type.String(), Type.Unknown(), {
              description: "The key/value pairs of this key's metadata",
            }),
          ),
          expiration: Type.Optional(Type.Union([Type.Null(), Type.Literal(''), Type.Number()])),
        }),
      },
    },
    async (request) => {
      deps.access.superuser(request.subject);
      return keyView(await deps.serviceKeys.update(request.params.kid, request.body));
    },
  );

  app.delete(
    '/superuser/keys/:kid',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'deleteServiceKey',
        summary: 'Deletes a service key.',
        security: superUser,
        params: KidParams,
      },
    },
    async (request, reply) => {
      deps.access.superuser(request.subject);
      await deps.serviceKeys.delete(request.params.kid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/superuser/approvedkeys/:kid',
    {
      schema: {
        tags: ['superuser'],
        operationId: 'approveServiceKey',
        summary: 'Approves a service key.',
        security: superUser,
        params: KidParams,
        body: Type.Optional(
          Type.Object({ notes: Type.Optional(Type.String({ description: 'Optional approval notes' })) }),
        ),
      },
    },
    async (request, reply) => {
      const actor = deps.access.superuser(request.subject);
      await deps.serviceKeys.approve(
        request.params.kid,
        await deps.superuser.getUser(actor.name),
        request.body?.notes ?? '',
      );
      return reply.code(201).send();
    },
  );
}
