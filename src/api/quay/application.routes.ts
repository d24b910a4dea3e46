import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Application, ApplicationToken, Organization, Subject } from '../../identity/index.js';
import { NotFound } from '../../platform/errors.js';
import { requireUser } from './access.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { QuayDeps } from './plugin.js';
import { avatar } from './views.js';

const tokenPageSize = 100;

const isoDate = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Quay's `app_view`; every route that shows it is for organization admins, who see the secret. */
const appView = (app: Application) => ({
  name: app.name,
  description: app.description,
  application_uri: app.applicationUri,
  client_id: app.clientId,
  client_secret: app.clientSecret,
  redirect_uri: app.redirectUri,
  avatar_email: app.avatarEmail,
});

/** Org-application token view (endpoints/api/organization_app_tokens.py): ISO dates, the secret only on creation. */
const tokenView = (token: ApplicationToken, secret?: string) => ({
  uuid: token.id,
  name: token.name,
  scope: token.scope,
  expires_at: isoDate(token.expiresAt),
  created: isoDate(token.createdAt),
  created_by: token.createdBy,
  last_accessed: isoDate(token.lastAccessed),
  ...(secret === undefined ? {} : { token: secret }),
});

const params = Type.Object({ orgname: Type.String(), client_id: Type.String() });
const appFields = {
  description: Type.Optional(Type.String()),
  avatar_email: Type.Optional(Type.String()),
};

/** OAuth applications of an organization, the tokens issued through them, and `/app/{client_id}`. */
export async function applicationRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  /** Quay's `org_view` of the organization owning an application, as the caller may see it (no teams). */
  const orgView = async (caller: Subject, org: Organization) => {
    const role = await deps.access.organizationRole(caller, org.name);
    const isAdmin = role === 'admin';
    return {
      name: org.name,
      email: isAdmin ? (org.email ?? '') : '',
      avatar: avatar(org.name, 'org'),
      is_admin: isAdmin,
      is_member: role !== undefined,
      teams: {},
      ordered_teams: [],
      ...(isAdmin
        ? {
            invoice_email: false,
            invoice_email_address: null,
            tag_expiration_s: org.tagExpirationSeconds,
            is_free_account: true,
          }
        : {}),
    };
  };

  app.get(
    '/organization/:orgname/applications',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganizationApplications',
        summary: 'List the applications for the specified organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: Type.Object({ orgname: Type.String() }),
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return { applications: (await deps.applications.list(request.params.orgname)).map(appView) };
    },
  );

  app.post(
    '/organization/:orgname/applications',
    {
      schema: {
        tags: ['organization'],
        operationId: 'createOrganizationApplication',
        summary: 'Creates a new application under this organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: Type.Object({ orgname: Type.String() }),
        body: Type.Object({
          name: Type.String(),
          redirect_uri: Type.Optional(Type.String()),
          application_uri: Type.Optional(Type.String()),
          ...appFields,
        }),
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const body = request.body;
      return appView(
        await deps.applications.create(request.params.orgname, {
          name: body.name,
          description: body.description,
          applicationUri: body.application_uri,
          redirectUri: body.redirect_uri,
          avatarEmail: body.avatar_email,
        }),
      );
    },
  );

  app.get(
    '/organization/:orgname/applications/:client_id',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganizationApplication',
        summary: 'Retrieves the application with the specified client_id under the specified organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return appView(await deps.applications.get(request.params.orgname, request.params.client_id));
    },
  );

  app.put(
    '/organization/:orgname/applications/:client_id',
    {
      schema: {
        tags: ['organization'],
        operationId: 'updateOrganizationApplication',
        summary: 'Updates an application under this organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
        body: Type.Object({
          name: Type.String(),
          redirect_uri: Type.String(),
          application_uri: Type.String(),
          ...appFields,
        }),
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const body = request.body;
      return appView(
        await deps.applications.update(request.params.orgname, request.params.client_id, {
          name: body.name,
          description: body.description,
          applicationUri: body.application_uri,
          redirectUri: body.redirect_uri,
          avatarEmail: body.avatar_email,
        }),
      );
    },
  );

  app.delete(
    '/organization/:orgname/applications/:client_id',
    {
      schema: {
        tags: ['organization'],
        operationId: 'deleteOrganizationApplication',
        summary: 'Deletes the application under this organization.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
      },
    },
    async (request, reply) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      await deps.applications.delete(request.params.orgname, request.params.client_id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/organization/:orgname/applications/:client_id/resetclientsecret',
    {
      schema: {
        tags: ['organization'],
        operationId: 'resetOrganizationApplicationClientSecret',
        summary: 'Resets the client secret of the application.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return appView(
        await deps.applications.resetClientSecret(request.params.orgname, request.params.client_id),
      );
    },
  );

  app.get(
    '/organization/:orgname/applications/:client_id/tokens',
    {
      schema: {
        tags: ['organization'],
        operationId: 'listOrganizationApplicationTokens',
        summary: 'List all tokens for the specified application.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
        querystring: Type.Object({ next_page: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const page = await deps.applications.listTokens(request.params.orgname, request.params.client_id, {
        offset: decodePageToken(request.query.next_page),
        limit: tokenPageSize,
      });
      return {
        tokens: page.tokens.map((t) => tokenView(t)),
        ...(page.nextOffset !== undefined ? { next_page: encodePageToken(page.nextOffset) } : {}),
      };
    },
  );

  app.post(
    '/organization/:orgname/applications/:client_id/tokens',
    {
      schema: {
        tags: ['organization'],
        operationId: 'createOrganizationApplicationToken',
        summary: 'Create a new token for the specified application.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params,
        body: Type.Object({
          name: Type.Optional(Type.String({ maxLength: 255 })),
          scope: Type.String(),
          expiration: Type.Optional(Type.Number({ minimum: 1 })),
        }),
      },
    },
    async (request) => {
      const { orgname, client_id } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const scopes = deps.credentials.parseScopes(request.body.scope);
      await deps.access.mintScopes(request.subject, orgname, scopes);
      const user = await deps.identity.getUser(requireUser(request.subject).id);
      if (!user) throw new NotFound('USER_NOT_FOUND', 'Not Found');
      const { token, record } = await deps.applications.createToken(orgname, client_id, user, {
        name: request.body.name,
        scopes,
        expirationSeconds: request.body.expiration,
      });
      return tokenView(record, token);
    },
  );

  app.delete(
    '/organization/:orgname/applications/:client_id/tokens/:token_uuid',
    {
      schema: {
        tags: ['organization'],
        operationId: 'deleteOrganizationApplicationToken',
        summary: 'Revoke a specific token for the specified application.',
        security: [{ oauth2_implicit: ['org:admin'] }],
        params: Type.Object({
          orgname: Type.String(),
          client_id: Type.String(),
          token_uuid: Type.String(),
        }),
      },
    },
    async (request, reply) => {
      const { orgname, client_id, token_uuid } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      await deps.applications.revokeToken(orgname, client_id, token_uuid);
      return reply.code(204).send();
    },
  );

  app.get(
    '/app/:client_id',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getApplicationInformation',
        summary: 'Get information on the specified application.',
        params: Type.Object({ client_id: Type.String() }),
      },
    },
    async (request) => {
      const application = await deps.applications.find(request.params.client_id);
      if (!application) throw new NotFound('APPLICATION_NOT_FOUND', 'Not Found');
      return {
        name: application.name,
        description: application.description,
        uri: application.applicationUri,
        avatar: avatar(application.name, 'app'),
        organization: await orgView(request.subject, application.organization),
      };
    },
  );
}
