import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/swagger'; // route schema fields: tags, operationId, security
import { anonymous, type Subject } from '../../identity/index.js';
import type { Services } from '../../services.js';
import { QuayAccess } from './access.js';
import { apiError, toQuayError } from './quay-errors.js';
import { discoveryRoutes } from './discovery.routes.js';
import { messageRoutes } from './message.routes.js';
import { quotaRoutes } from './quota.routes.js';
import { superuserRoutes } from './superuser.routes.js';
import { userRoutes } from './user.routes.js';
import { mirrorRoutes } from './mirror.routes.js';
import { proxyCacheRoutes } from './proxycache.routes.js';
import { logsRoutes } from './logs.routes.js';
import { notificationRoutes } from './notifications.routes.js';
import { namespaceNotificationRoutes } from './namespace-notifications.routes.js';
import { currentRequest } from '../../platform/request-context.js';
import { sessionRoutes } from './session.routes.js';
import { applicationRoutes } from './application.routes.js';
import { starredRoutes } from './starred.routes.js';
import { organizationRoutes } from './organization.routes.js';
import { teamRoutes } from './team.routes.js';
import { robotRoutes } from './robot.routes.js';
import { prototypeRoutes } from './prototype.routes.js';
import { repositoryRoutes } from './repository.routes.js';
import { permissionRoutes } from './permission.routes.js';
import { tagRoutes } from './tag.routes.js';
import { manifestRoutes } from './manifest.routes.js';
import { triggerRoutes } from './trigger.routes.js';
import { buildRoutes } from './build.routes.js';
import { filedropRoutes } from './filedrop.routes.js';

export interface QuayDeps extends Services {
  access: QuayAccess;
  publicUrl?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling /api/v1: from an OAuth bearer token, a session cookie, or nobody. */
    subject: Subject;
    /** Set when the caller came with a session cookie: the CSRF token its writes must repeat. */
    sessionCsrf?: string;
  }
}

export const sessionCookie = '_slipway_session';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export const baseUrlOf = (request: FastifyRequest, publicUrl?: string) =>
  publicUrl ?? `${request.protocol}://${request.headers.host ?? 'localhost'}`;

/**
 * Resolves the caller as Quay does: `Authorization: Bearer <OAuth token>` or the
 * session cookie; an unknown token leaves the caller anonymous (protected
 * endpoints then answer 401). Session writes must carry `X-CSRF-Token`.
 * Also used by Slipway's native API (`/api/slipway/v1`); cookies are read only
 * where `@fastify/cookie` is registered.
 */
export async function authenticate(
  deps: Pick<QuayDeps, 'credentials'>,
  request: FastifyRequest,
): Promise<{ error?: string }> {
  request.subject = anonymous;
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (bearer) {
    request.subject = (await deps.credentials.resolveToken('oauth', bearer[1]!)) ?? anonymous;
    return {};
  }
  const cookie = request.cookies?.[sessionCookie];
  if (!cookie) return {};
  const session = await deps.credentials.resolveSession(cookie);
  if (!session) return {};
  request.subject = session.subject;
  request.sessionCsrf = session.csrfToken;
  if (!safeMethods.has(request.method) && request.headers['x-csrf-token'] !== session.csrfToken) {
    return { error: 'CSRF token was invalid or missing.' };
  }
  return {};
}

/** Quay's answer to a failed request: its ApiError for what the mapper knows, a logged 500 for anything else. */
export function quayErrorHandler(publicUrl: string | undefined) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const body = toQuayError(err, baseUrlOf(request, publicUrl));
    if (body) return reply.code(body.status).send(body);
    request.log.error({ err }, 'request failed');
    return reply
      .code(500)
      .send(apiError(500, 'internal_error', 'Internal server error', baseUrlOf(request, publicUrl)));
  };
}

/** Red Hat Quay's REST API (`/api/v1`), thin routes over the domain services. */
export const quayRoutes: FastifyPluginAsyncTypebox<Services & { publicUrl?: string }> = async (
  app,
  services,
) => {
  const deps: QuayDeps = { ...services, access: new QuayAccess(services.policy, services.repositories) };
  await app.register(import('@fastify/cookie'));

  app.decorateRequest('subject', null as never); // set for every request by the hook below
  app.addHook('onRequest', async (request, reply) => {
    const { error } = await authenticate(deps, request);
    if (error) return reply.code(403).send({ error });
    // The usage log names the caller of changes whose events do not carry an actor.
    const context = currentRequest();
    if (context && request.subject.kind !== 'anonymous')
      context.performer = { kind: request.subject.kind, name: request.subject.name };
  });

  app.setErrorHandler(quayErrorHandler(deps.publicUrl));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(apiError(404, 'not_found', 'Not Found', baseUrlOf(request, deps.publicUrl))),
  );

  const register = (routes: (app: FastifyInstance, deps: QuayDeps) => Promise<void>) =>
    app.register(async (scope) => routes(scope, deps));
  await register(discoveryRoutes);
  await register(userRoutes);
  await register(logsRoutes);
  await register(notificationRoutes);
  await register(namespaceNotificationRoutes);
  await register(sessionRoutes);
  await register(applicationRoutes);
  await register(starredRoutes);
  await register(organizationRoutes);
  await register(teamRoutes);
  await register(robotRoutes);
  await register(prototypeRoutes);
  await register(quotaRoutes);
  await register(superuserRoutes);
  await register(messageRoutes);
  await register(repositoryRoutes);
  await register(permissionRoutes);
  await register(tagRoutes);
  await register(manifestRoutes);
  await register(mirrorRoutes);
  await register(proxyCacheRoutes);
  await register(triggerRoutes);
  await register(buildRoutes);
  await register(filedropRoutes);
};
