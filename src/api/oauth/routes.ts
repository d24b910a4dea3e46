import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../services.js';
import { DomainError } from '../../platform/errors.js';
import type { User } from '../../identity/index.js';
import { sessionCookie } from '../quay/plugin.js';

type Deps = Pick<Services, 'credentials' | 'identity' | 'applications'>;

const AuthorizeQuery = Type.Object({
  response_type: Type.String(),
  client_id: Type.String(),
  redirect_uri: Type.String(),
  scope: Type.String(),
  state: Type.Optional(Type.String()),
});

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Site-root web endpoints of Quay that scripts use to get credentials without the UI:
 * `GET /csrf_token` and the OAuth 2 implicit grant `GET /oauth/authorize` (+ `POST /oauth/authorizeapp`).
 *
 * The implicit grant needs a signed-in user (the session cookie of `POST /api/v1/signin`); without one
 * it answers 401 `{"error":"login_required"}`. A request that repeats the session's CSRF token in
 * `X-CSRF-Token` is approved at once and redirected to `redirect_uri#access_token=...`; any other
 * (a browser following a link) gets a consent page whose form posts to `/oauth/authorizeapp`, as in
 * Quay, so that a link alone never hands a user's token to whoever registered an application.
 */
export const oauthRoutes: FastifyPluginAsyncTypebox<Deps> = async (app, deps) => {
  await app.register(import('@fastify/cookie'));
  await app.register(import('@fastify/formbody'));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError && err.kind === 'invalid') {
      const field = (err.detail as { field?: string } | undefined)?.field;
      return reply.code(400).send({
        error: field === 'client_id' ? 'invalid_client' : 'invalid_request',
        error_description: err.message,
      });
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'invalid_request', error_description: err.message });
    }
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'server_error' });
  });

  const session = async (request: FastifyRequest) => {
    const cookie = request.cookies[sessionCookie];
    return cookie ? deps.credentials.resolveSession(cookie) : undefined;
  };

  /** The signed-in user, or undefined after answering 401. */
  const signedIn = async (
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ user: User; csrfToken: string } | undefined> => {
    const found = await session(request);
    const user = found?.subject.kind === 'user' ? await deps.identity.getUser(found.subject.id) : undefined;
    if (!found || !user) {
      await reply.code(401).send({
        error: 'login_required',
        error_description: 'Sign in first (POST /api/v1/signin) and send the session cookie',
      });
      return undefined;
    }
    return { user, csrfToken: found.csrfToken };
  };

  app.get('/csrf_token', async (request) => {
    // Without a session there is nothing to protect: an anonymous caller gets a token no write checks.
    const found = await session(request);
    return { csrf_token: found?.csrfToken ?? randomBytes(24).toString('base64url') };
  });

  app.get('/oauth/authorize', { schema: { querystring: AuthorizeQuery } }, async (request, reply) => {
    const caller = await signedIn(request, reply);
    if (!caller) return reply;
    const query = request.query;
    const application = await deps.applications.resolveClient(query.client_id, query.redirect_uri);
    if (request.headers['x-csrf-token'] === caller.csrfToken) {
      const { redirect } = await deps.applications.authorizeImplicit({
        user: caller.user,
        clientId: query.client_id,
        redirectUri: query.redirect_uri,
        responseType: query.response_type,
        scope: query.scope,
        state: query.state,
      });
      return reply.redirect(redirect, 302);
    }
    const hidden = { ...query, _csrf_token: caller.csrfToken };
    const fields = Object.entries(hidden)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(String(v))}">`)
      .join('\n');
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-frame-options', 'DENY')
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>Authorize ${escapeHtml(application.name)}</title></head><body>
<h1>Authorize ${escapeHtml(application.name)}</h1>
<p>The application <strong>${escapeHtml(application.name)}</strong> of organization <strong>${escapeHtml(
          application.organization.name,
        )}</strong> asks to act as <strong>${escapeHtml(caller.user.name)}</strong> with the scopes: <code>${escapeHtml(
          query.scope,
        )}</code></p>
<form method="post" action="/oauth/authorizeapp">
${fields}
<button type="submit">Authorize application</button>
</form></body></html>`,
      );
  });

  app.post(
    '/oauth/authorizeapp',
    {
      schema: {
        body: Type.Intersect([AuthorizeQuery, Type.Object({ _csrf_token: Type.Optional(Type.String()) })]),
      },
    },
    async (request, reply) => {
      const caller = await signedIn(request, reply);
      if (!caller) return reply;
      const body = request.body;
      const csrf = body._csrf_token ?? request.headers['x-csrf-token'];
      if (csrf !== caller.csrfToken)
        return reply.code(403).send({ error: 'CSRF token was invalid or missing.' });
      const { redirect } = await deps.applications.authorizeImplicit({
        user: caller.user,
        clientId: body.client_id,
        redirectUri: body.redirect_uri,
        responseType: body.response_type,
        scope: body.scope,
        state: body.state,
      });
      return reply.redirect(redirect, 302);
    },
  );
};
