import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { NotFound, Unauthenticated } from '../../platform/errors.js';
import type { QuayDeps } from './plugin.js';
import { avatar } from './views.js';

/** `/user/` (the caller) and `/users/{username}` (anyone's public view). */
export async function userRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

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
      const subject = deps.access.user(request.subject, 'read');
      const user = await deps.identity.getUser(subject.id);
      if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
      const organizations = await deps.identity.organizationsOf(user);
      return {
        anonymous: false,
        username: user.name,
        avatar: avatar(user.name, 'user'),
        can_create_repo: true,
        is_me: true,
        verified: true,
        email: user.email ?? '',
        logins: [],
        invoice_email: false,
        invoice_email_address: null,
        preferred_namespace: false,
        tag_expiration_s: 1209600,
        prompts: [],
        company: null,
        family_name: null,
        given_name: null,
        location: null,
        is_free_account: true,
        has_password_set: true,
        organizations: await Promise.all(
          organizations.map(async (org) => {
            const role = await deps.access.organizationRole(subject, org.name);
            return {
              name: org.name,
              avatar: avatar(org.name, 'org'),
              can_create_repo: role === 'admin' || role === 'creator',
              public: false,
              is_org_admin: role === 'admin',
              preferred_namespace: false,
            };
          }),
        ),
        super_user: user.superuser,
      };
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
      const user = await deps.identity.findUserByName(request.params.username);
      if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
      return {
        anonymous: false,
        username: user.name,
        avatar: avatar(user.name, 'user'),
        super_user: user.superuser,
      };
    },
  );
}
