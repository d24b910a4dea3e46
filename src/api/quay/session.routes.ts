import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Session } from '../../identity/index.js';
import { baseUrlOf, sessionCookie, type QuayDeps } from './plugin.js';

/**
 * Hands a new web session to the client as Quay does: the session cookie (for the whole site, so
 * `/oauth/authorize` and `/csrf_token` see it too) and the CSRF token its writes must repeat in
 * `X-CSRF-Token`, sent as `X-Next-CSRF-Token`.
 */
export function startSession(
  request: FastifyRequest,
  reply: FastifyReply,
  session: Session,
  publicUrl?: string,
): void {
  reply.setCookie(sessionCookie, session.cookie, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: baseUrlOf(request, publicUrl).startsWith('https:'),
  });
  reply.header('x-next-csrf-token', session.csrfToken);
}

/** Ways to get a session without a browser: `/signin`, `/signout`, and `/user/initialize` on an empty installation. */
export async function sessionRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/signin',
    {
      schema: {
        tags: ['user'],
        operationId: 'signinUser',
        summary: 'Sign in the user with the specified credentials.',
        body: Type.Object({
          username: Type.String(),
          password: Type.String(),
          invite_code: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const signedIn = await deps.accounts.signIn(request.body.username, request.body.password);
      if (!signedIn) {
        return reply.code(403).send({
          needsEmailVerification: false,
          invalidCredentials: true,
          message: 'Invalid Username or Password',
        });
      }
      startSession(request, reply, signedIn.session, deps.publicUrl);
      return { success: true };
    },
  );

  app.post(
    '/signout',
    {
      schema: {
        tags: ['user'],
        operationId: 'logout',
        summary: 'Request that the current user be signed out.',
      },
    },
    async (request, reply) => {
      if (request.subject.kind === 'user') await deps.accounts.signOut(request.subject);
      reply.clearCookie(sessionCookie, { path: '/' });
      return { success: true };
    },
  );

  app.post(
    '/user/initialize',
    {
      schema: {
        tags: ['user'],
        operationId: 'initializeUser',
        summary: 'Create the first user (a superuser) of an installation that has no user yet.',
        body: Type.Object({
          username: Type.String(),
          password: Type.String(),
          email: Type.Optional(Type.String()),
          access_token: Type.Optional(Type.Union([Type.Boolean(), Type.String()])),
        }),
      },
    },
    async (request, reply) => {
      const { username, password, email, access_token } = request.body;
      const created = await deps.accounts.initialize({
        username,
        password,
        email,
        accessToken: Boolean(access_token),
      });
      startSession(request, reply, created.session, deps.publicUrl);
      return {
        username: created.user.name,
        email: created.user.email,
        ...(created.accessToken ? { access_token: created.accessToken } : {}),
      };
    },
  );
}
