import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AccessToken, Subject, User } from '../../identity/index.js';
import { NotFound, Unauthenticated } from '../../platform/errors.js';
import type { QuayDeps } from './plugin.js';
import { namespaceQuotaFields } from './quota.views.js';
import { startSession } from './session.routes.js';
import { avatar, formatDate } from './views.js';

// Quay's `?expiring=true` window: a tenth of APP_SPECIFIC_TOKEN_EXPIRATION, which defaults to four weeks.
const expiringWindowMs = Math.ceil(28 * 24 * 3600 * 0.1) * 1000;

const truthy = (value: string | undefined): boolean | null =>
  value === undefined ? null : ['true', '1', 'yes', 'on'].includes(value.toLowerCase());

function tokenView(token: AccessToken & { code?: string }, includeCode: boolean) {
  return {
    uuid: token.id,
    title: token.title,
    last_accessed: formatDate(token.lastAccessed),
    created: formatDate(token.createdAt),
    expiration: formatDate(token.expiresAt),
    ...(includeCode ? { token_code: token.code } : {}),
  };
}

/**
 * Quay's `user_view`: everyone sees the name and avatar; the user itself sees its organizations
 * (user:read) and its account details with `quotas` and `quota_report` (user:admin); `super_user`
 * only appears to superusers.
 */
async function userView(deps: QuayDeps, caller: Subject, user: User) {
  const self = caller.kind === 'user' && caller.id === user.id;
  const isAdmin = self && deps.access.reachesOwnAccount(caller, 'admin');
  const canRead = self && deps.access.reachesOwnAccount(caller, 'read');
  const view: Record<string, unknown> = {
    anonymous: false,
    username: user.name,
    avatar: avatar(user.name, 'user'),
  };
  if (isAdmin) {
    const profile = await deps.accounts.profile(user.id);
    Object.assign(view, {
      can_create_repo: true,
      is_me: true,
      verified: true,
      email: user.email ?? '',
      logins: [],
      invoice_email: false,
      invoice_email_address: null,
      preferred_namespace: false,
      tag_expiration_s: profile.tagExpirationSeconds,
      prompts: [],
      company: null,
      family_name: null,
      given_name: null,
      location: null,
      is_free_account: true,
      has_password_set: profile.hasPasswordSet,
      ...(await namespaceQuotaFields(deps, user.name)),
    });
  }
  if (canRead) {
    const organizations = await deps.identity.organizationsOf(user);
    view.organizations = await Promise.all(
      organizations.map(async (org) => ({
        name: org.name,
        avatar: avatar(org.name, 'org'),
        can_create_repo: await deps.access.canCreateRepository(caller, org.name),
        public: false,
        ...(isAdmin
          ? {
              is_org_admin: (await deps.access.organizationRole(caller, org.name)) === 'admin',
              preferred_namespace: false,
            }
          : {}),
      })),
    );
  }
  if (deps.access.isSuperuser(caller)) view.super_user = self;
  return view;
}

/** `/user/` (the caller's account), `/users/{username}` (anyone's public view) and app-specific tokens. */
export async function userRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  /** The caller's own user record, refused as Quay does when the credential may not reach it. */
  const me = async (subject: Subject, level: 'read' | 'admin'): Promise<User> => {
    const user = await deps.identity.getUser(deps.access.user(subject, level).id);
    if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
    return user;
  };

  app.get(
    '/user/',
    {
      schema: {
        tags: ['user'],
        operationId: 'getLoggedInUser',
        summary: 'Get user information for the authenticated user.',
        security: [{ oauth2_implicit: ['user:read'] }],
      },
    },
    async (request) => {
      if (request.subject.kind !== 'user') {
        throw new Unauthenticated('UNAUTHENTICATED', 'Requires authentication', {
          payload: { session_required: false },
        });
      }
      return userView(deps, request.subject, await me(request.subject, 'read'));
    },
  );

  app.put(
    '/user/',
    {
      schema: {
        tags: ['user'],
        operationId: 'changeUserDetails',
        summary: 'Update a users details such as password or email.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        body: Type.Object({
          password: Type.Optional(Type.String({ minLength: 8 })),
          email: Type.Optional(Type.String()),
          tag_expiration_s: Type.Optional(Type.Integer({ minimum: 0 })),
          invoice_email: Type.Optional(Type.Boolean()),
          invoice_email_address: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          username: Type.Optional(Type.String()),
          given_name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          family_name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          company: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          location: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        }),
      },
    },
    async (request, reply) => {
      const user = await me(request.subject, 'admin');
      const { password, email, tag_expiration_s } = request.body;
      const result = await deps.accounts.update(user, {
        password,
        email,
        tagExpirationSeconds: tag_expiration_s,
      });
      // A new password ends every session; a caller that came with one gets a fresh one, as Quay logs it in again.
      if (result.passwordChanged && request.sessionCsrf !== undefined)
        startSession(request, reply, await deps.accounts.startSession(result.user), deps.publicUrl);
      return userView(deps, request.subject, result.user);
    },
  );

  app.get(
    '/users/:username',
    {
      schema: {
        tags: ['user'],
        operationId: 'getUserInformation',
        summary: 'Get user information for the specified user.',
        params: Type.Object({ username: Type.String() }),
      },
    },
    async (request) => {
      // Only users: robots (`ns+name`) and organizations are not found here.
      const user = await deps.identity.findUserByName(request.params.username);
      if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
      return userView(deps, request.subject, user);
    },
  );

  app.get(
    '/user/apptoken',
    {
      schema: {
        tags: ['appspecifictokens'],
        operationId: 'listAppTokens',
        summary: 'Lists the app specific tokens for the user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        querystring: Type.Object({ expiring: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const user = await me(request.subject, 'admin');
      const expiring = truthy(request.query.expiring);
      const tokens = await deps.accounts.listAppTokens(
        user,
        expiring ? { expiringWithinMs: expiringWindowMs } : {},
      );
      return { tokens: tokens.map((t) => tokenView(t, false)), only_expiring: expiring };
    },
  );

  app.post(
    '/user/apptoken',
    {
      schema: {
        tags: ['appspecifictokens'],
        operationId: 'createAppToken',
        summary: 'Create a new app specific token for user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        body: Type.Object({ title: Type.String({ minLength: 1, maxLength: 255 }) }),
      },
    },
    async (request) => {
      const user = await me(request.subject, 'admin');
      const token = await deps.accounts.createAppToken(user, request.body.title);
      return { token: tokenView(token, true) };
    },
  );

  app.get(
    '/user/apptoken/:token_uuid',
    {
      schema: {
        tags: ['appspecifictokens'],
        operationId: 'getAppToken',
        summary: 'Returns a specific app token for the user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        params: Type.Object({ token_uuid: Type.String() }),
      },
    },
    async (request) => {
      const user = await me(request.subject, 'admin');
      return { token: tokenView(await deps.accounts.getAppToken(user, request.params.token_uuid), true) };
    },
  );

  app.delete(
    '/user/apptoken/:token_uuid',
    {
      schema: {
        tags: ['appspecifictokens'],
        operationId: 'revokeAppToken',
        summary: 'Revokes a specific app token for the user.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        params: Type.Object({ token_uuid: Type.String() }),
      },
    },
    async (request, reply) => {
      const user = await me(request.subject, 'admin');
      await deps.accounts.revokeAppToken(user, request.params.token_uuid);
      return reply.code(204).send();
    },
  );
}
