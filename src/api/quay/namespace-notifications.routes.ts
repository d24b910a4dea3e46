import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import type { NamespaceTarget } from '../../notifications/index.js';
import type { QuayDeps } from './plugin.js';
import { notificationView as view } from './views.js';

const OrgParams = Type.Object({ orgname: Type.String({ description: 'The name of the organization' }) });
const OrgNotificationParams = Type.Object({
  orgname: Type.String({ description: 'The name of the organization' }),
  uuid: Type.String({ description: 'The UUID of the notification' }),
});
const UserNotificationParams = Type.Object({
  uuid: Type.String({ description: 'The UUID of the notification' }),
});
// Event and method are plain strings: the service answers unknown ones with Quay's messages.
const CreateBody = Type.Object(
  {
    event: Type.String({ description: 'The event on which the notification will respond' }),
    method: Type.String({ description: 'The method of notification (such as email or web callback)' }),
    config: Type.Record(Type.String(), Type.Unknown(), {
      description: 'JSON config information for the specific method of notification',
    }),
    eventConfig: Type.Record(Type.String(), Type.Unknown(), {
      description: 'JSON config information for the specific event of notification',
    }),
    title: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'The human-readable title of the notification',
      }),
    ),
  },
  { description: 'Information for creating a namespace notification' },
);

const tags = ['namespacenotification'];
const orgAdmin = [{ oauth2_implicit: ['org:admin'] }];
const userAdmin = [{ oauth2_implicit: ['user:admin'] }];

/**
 * Notifications of a whole namespace (Quay's quota notifications): `quota_warning` and
 * `quota_error`, for organization admins (`/organization/{org}/notifications`) and for users
 * on their own account (`/user/namespacenotifications`).
 */
export async function namespaceNotificationRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const organization = async (subject: Subject, orgname: string): Promise<NamespaceTarget> => {
    await deps.access.organization(subject, orgname, 'admin');
    return { name: orgname, kind: 'organization' };
  };
  const user = (subject: Subject): NamespaceTarget => ({
    name: deps.access.user(subject, 'admin').name,
    kind: 'user',
  });

  // Organizations

  app.get(
    '/organization/:orgname/notifications',
    {
      schema: {
        tags,
        operationId: 'listOrgNotifications',
        summary: 'List the notifications of the specified organization.',
        security: orgAdmin,
        params: OrgParams,
      },
    },
    async (request) => {
      const target = await organization(request.subject, request.params.orgname);
      return { notifications: (await deps.notifications.listForNamespace(target)).map(view) };
    },
  );

  app.post(
    '/organization/:orgname/notifications',
    {
      schema: {
        tags,
        operationId: 'createOrgNotification',
        summary: 'Create a notification on the specified organization.',
        security: orgAdmin,
        params: OrgParams,
        body: CreateBody,
      },
    },
    async (request, reply) => {
      const target = await organization(request.subject, request.params.orgname);
      return reply.code(201).send(view(await deps.notifications.createForNamespace(target, request.body)));
    },
  );

  app.get(
    '/organization/:orgname/notifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'getOrgNotification',
        summary: 'Get information for the specified organization notification.',
        security: orgAdmin,
        params: OrgNotificationParams,
      },
    },
    async (request) => {
      const target = await organization(request.subject, request.params.orgname);
      return view(await deps.notifications.getForNamespace(target, request.params.uuid));
    },
  );

  app.delete(
    '/organization/:orgname/notifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'deleteOrgNotification',
        summary: 'Deletes the specified organization notification.',
        security: orgAdmin,
        params: OrgNotificationParams,
      },
    },
    async (request, reply) => {
      const target = await organization(request.subject, request.params.orgname);
      await deps.notifications.deleteForNamespace(target, request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/organization/:orgname/notifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'resetOrgNotificationFailures',
        summary: 'Resets the organization notification to 0 failures.',
        security: orgAdmin,
        params: OrgNotificationParams,
      },
    },
    async (request, reply) => {
      const target = await organization(request.subject, request.params.orgname);
      await deps.notifications.resetForNamespace(target, request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/organization/:orgname/notifications/:uuid/test',
    {
      schema: {
        tags,
        operationId: 'testOrgNotification',
        summary: 'Queues a test notification for this organization.',
        security: orgAdmin,
        params: OrgNotificationParams,
      },
    },
    async (request) => {
      const target = await organization(request.subject, request.params.orgname);
      await deps.notifications.testForNamespace(target, request.params.uuid);
      return {};
    },
  );

  // The caller's own user namespace

  app.get(
    '/user/namespacenotifications',
    {
      schema: {
        tags,
        operationId: 'listUserNamespaceNotifications',
        summary: "List the notifications of the user's namespace.",
        security: userAdmin,
      },
    },
    async (request) => ({
      notifications: (await deps.notifications.listForNamespace(user(request.subject))).map(view),
    }),
  );

  app.post(
    '/user/namespacenotifications',
    {
      schema: {
        tags,
        operationId: 'createUserNamespaceNotification',
        summary: "Create a notification on the user's namespace.",
        security: userAdmin,
        body: CreateBody,
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(view(await deps.notifications.createForNamespace(user(request.subject), request.body))),
  );

  app.get(
    '/user/namespacenotifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'getUserNamespaceNotification',
        summary: "Get information for the specified notification of the user's namespace.",
        security: userAdmin,
        params: UserNotificationParams,
      },
    },
    async (request) =>
      view(await deps.notifications.getForNamespace(user(request.subject), request.params.uuid)),
  );

  app.delete(
    '/user/namespacenotifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'deleteUserNamespaceNotification',
        summary: "Deletes the specified notification of the user's namespace.",
        security: userAdmin,
        params: UserNotificationParams,
      },
    },
    async (request, reply) => {
      await deps.notifications.deleteForNamespace(user(request.subject), request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/user/namespacenotifications/:uuid',
    {
      schema: {
        tags,
        operationId: 'resetUserNamespaceNotificationFailures',
        summary: "Resets the notification of the user's namespace to 0 failures.",
        security: userAdmin,
        params: UserNotificationParams,
      },
    },
    async (request, reply) => {
      await deps.notifications.resetForNamespace(user(request.subject), request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/user/namespacenotifications/:uuid/test',
    {
      schema: {
        tags,
        operationId: 'testUserNamespaceNotification',
        summary: "Queues a test notification for the user's namespace.",
        security: userAdmin,
        params: UserNotificationParams,
      },
    },
    async (request) => {
      await deps.notifications.testForNamespace(user(request.subject), request.params.uuid);
      return {};
    },
  );
}
