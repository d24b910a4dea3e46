import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  notificationEvents,
  notificationMethods,
  type NotificationEvent,
  type NotificationMethod,
} from '../../notifications/index.js';
import type { Subject } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';
import { notificationView as view } from './views.js';

const RepoParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
const NotificationParams = Type.Object({
  namespace: Type.String(),
  repository: Type.String(),
  uuid: Type.String({ description: 'The UUID of the notification' }),
});
const CreateBody = Type.Object(
  {
    event: Type.Unsafe<NotificationEvent>({
      type: 'string',
      enum: [...notificationEvents],
      description: 'The event on which the notification will respond',
    }),
    method: Type.Unsafe<NotificationMethod>({
      type: 'string',
      enum: [...notificationMethods],
      description: 'The method of notification (such as email or web callback)',
    }),
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
  { description: 'Information for creating a notification on a repository' },
);

const security = [{ oauth2_implicit: ['repo:admin'] }];

/** Repository notifications (`/repository/{r}/notification/`), all for repository admins. */
export async function notificationRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const admin = (request: { subject: Subject; params: { namespace: string; repository: string } }) =>
    deps.access.repository(
      request.subject,
      `${request.params.namespace}/${request.params.repository}`,
      'admin',
    );

  app.post(
    '/repository/:namespace/:repository/notification/',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'createRepoNotification',
        summary: 'Create a notification on the specified repository.',
        security,
        params: RepoParams,
        body: CreateBody,
      },
    },
    async (request, reply) => {
      const repo = await admin(request);
      const created = await deps.notifications.create(repo, {
        event: request.body.event,
        method: request.body.method,
        config: request.body.config,
        eventConfig: request.body.eventConfig,
        title: request.body.title,
      });
      return reply.code(201).send(view(created));
    },
  );

  app.get(
    '/repository/:namespace/:repository/notification/',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'listRepoNotifications',
        summary: 'List the notifications for the specified repository.',
        security,
        params: RepoParams,
      },
    },
    async (request) => {
      const repo = await admin(request);
      return { notifications: (await deps.notifications.list(repo)).map(view) };
    },
  );

  app.get(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'getRepoNotification',
        summary: 'Get information for the specified notification.',
        security,
        params: NotificationParams,
      },
    },
    async (request) => view(await deps.notifications.get(await admin(request), request.params.uuid)),
  );

  app.delete(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'deleteRepoNotification',
        summary: 'Deletes the specified notification.',
        security,
        params: NotificationParams,
      },
    },
    async (request, reply) => {
      await deps.notifications.delete(await admin(request), request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/repository/:namespace/:repository/notification/:uuid',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'resetRepositoryNotificationFailures',
        summary: 'Resets repository notification to 0 failures.',
        security,
        params: NotificationParams,
      },
    },
    async (request, reply) => {
      await deps.notifications.resetFailures(await admin(request), request.params.uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/repository/:namespace/:repository/notification/:uuid/test',
    {
      schema: {
        tags: ['repositorynotification'],
        operationId: 'testRepoNotification',
        summary: 'Queues a test notification for this repository.',
        security,
        params: NotificationParams,
      },
    },
    async (request) => {
      await deps.notifications.test(await admin(request), request.params.uuid);
      return {};
    },
  );
}
