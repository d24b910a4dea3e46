import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Organization, Subject } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';
import { namespaceQuotaFields } from './quota.views.js';
import { avatar } from './views.js';

const OrgParams = Type.Object({ orgname: Type.String({ description: 'The name of the organization' }) });
const MemberParams = Type.Object({
  orgname: Type.String({ description: 'The name of the organization' }),
  membername: Type.String({ description: 'The username of the organization member' }),
});
const orgAdmin = [{ oauth2_implicit: ['org:admin'] }];

/**
 * Quay's organization view: public basics; `email` only for admins; `teams` and `ordered_teams`
 * (in creation order) only for members; settings only for admins; `quotas` and `quota_report`
 * for members and admins.
 */
export async function organizationView(
  deps: QuayDeps,
  subject: Subject,
  org: Organization,
): Promise<Record<string, unknown>> {
  const role = await deps.access.organizationRole(subject, org.name);
  const isAdmin = role === 'admin';
  const view: Record<string, unknown> = {
    name: org.name,
    email: isAdmin ? (org.email ?? '') : '',
    avatar: avatar(org.name, 'org'),
    is_admin: isAdmin,
    is_member: role !== undefined,
  };
  if (role) {
    const teams = await deps.organizations.teams(org.name);
    const views = await Promise.all(
      teams.map(async (team) => ({
        name: team.name,
        description: team.description,
        role: team.role,
        avatar: avatar(team.name, 'team'),
        can_view: isAdmin || (await deps.access.canViewTeam(subject, org.name, team.name)),
        repo_count: team.repositoryCount,
        member_count: team.memberCount,
        is_synced: false,
      })),
    );
    view.teams = Object.fromEntries(views.map((t) => [t.name, t]));
    view.ordered_teams = teams.map((t) => t.name);
  }
  if (isAdmin) {
    view.invoice_email = false;
    view.invoice_email_address = null;
    view.tag_expiration_s = org.tagExpirationSeconds;
    view.is_free_account = true;
  }
  if (role) Object.assign(view, await namespaceQuotaFields(deps, org.name));
  return view;
}

/** Organizations: create, read, change, delete; members and outside collaborators. */
export async function organizationRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/organization/',
    {
      schema: {
        tags: ['organization'],
        operationId: 'createOrganization',
        summary: 'Create a new organization.',
        security: [{ oauth2_implicit: ['user:admin'] }],
        body: Type.Object(
          {
            name: Type.String({ description: 'Organization username' }),
            email: Type.Optional(Type.String({ description: 'Organization contact email' })),
            recaptcha_response: Type.Optional(
              Type.String({ description: 'The (may be disabled) recaptcha response code for verification' }),
            ),
          },
          { description: 'Description of a new organization.' },
        ),
      },
    },
    async (request, reply) => {
      const user = deps.access.user(request.subject, 'admin');
      await deps.organizations.create(user, { name: request.body.name, email: request.body.email });
      return reply.code(201).type('application/json').send(JSON.stringify('Created'));
    },
  );

  app.get(
    '/organization/:orgname',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganization',
        summary: 'Get the details for the specified organization.',
        params: OrgParams,
      },
    },
    async (request) => {
      const org = await deps.organizations.get(request.params.orgname);
      return organizationView(deps, request.subject, org);
    },
  );

  app.put(
    '/organization/:orgname',
    {
      schema: {
        tags: ['organization'],
        operationId: 'changeOrganizationDetails',
        summary: 'Change the details for the specified organization.',
        security: orgAdmin,
        params: OrgParams,
        body: Type.Object(
          {
            email: Type.Optional(Type.String({ description: 'Organization contact email' })),
            invoice_email: Type.Optional(
              Type.Boolean({
                description: 'Whether the organization desires to receive emails for invoices',
              }),
            ),
            invoice_email_address: Type.Optional(
              Type.Union([Type.String(), Type.Null()], {
                description: 'The email address at which to receive invoices',
              }),
            ),
            tag_expiration_s: Type.Optional(
              Type.Integer({ minimum: 0, description: 'The number of seconds for tag expiration' }),
            ),
          },
          { description: 'Description of updates for an existing organization' },
        ),
      },
    },
    async (request) => {
      const { orgname } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const org = await deps.organizations.update(orgname, {
        email: request.body.email,
        tagExpirationSeconds: request.body.tag_expiration_s,
      });
      return organizationView(deps, request.subject, org);
    },
  );

  app.delete(
    '/organization/:orgname',
    {
      schema: {
        tags: ['organization'],
        operationId: 'deleteAdminedOrganization',
        summary: 'Deletes the specified organization.',
        security: orgAdmin,
        params: OrgParams,
      },
    },
    async (request, reply) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      await deps.organizations.delete(request.params.orgname);
      return reply.code(204).send();
    },
  );

  app.get(
    '/organization/:orgname/members',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganizationMembers',
        summary: 'List the human members of the specified organization.',
        security: orgAdmin,
        params: OrgParams,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const members = await deps.organizations.members(request.params.orgname);
      return {
        members: members.map((m) => ({
          name: m.name,
          kind: 'user',
          avatar: avatar(m.name, 'user'),
          teams: m.teams.map((team) => ({ name: team, avatar: avatar(team, 'team') })),
          repositories: m.repositories,
        })),
      };
    },
  );

  app.get(
    '/organization/:orgname/members/:membername',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganizationMember',
        summary: 'Retrieves the details of a member of the organization.',
        security: orgAdmin,
        params: MemberParams,
      },
    },
    async (request) => {
      const { orgname, membername } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const member = await deps.organizations.member(orgname, membername);
      return {
        name: member.name,
        kind: member.kind,
        avatar: avatar(member.name, member.kind),
        teams: member.teams.map((team) => ({ name: team, avatar: avatar(team, 'team') })),
        repositories: member.repositories,
      };
    },
  );

  app.delete(
    '/organization/:orgname/members/:membername',
    {
      schema: {
        tags: ['organization'],
        operationId: 'removeOrganizationMember',
        summary:
          'Removes a member from an organization, revoking all its repository priviledges and removing it from all teams in the organization.',
        security: orgAdmin,
        params: MemberParams,
      },
    },
    async (request, reply) => {
      const { orgname, membername } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      await deps.organizations.removeMember(orgname, membername);
      return reply.code(204).send();
    },
  );

  app.get(
    '/organization/:orgname/collaborators',
    {
      schema: {
        tags: ['organization'],
        operationId: 'getOrganizationCollaborators',
        summary: 'List outside collaborators of the specified organization.',
        security: orgAdmin,
        params: OrgParams,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      const collaborators = await deps.organizations.collaborators(request.params.orgname);
      return {
        collaborators: collaborators.map((c) => ({
          kind: 'user',
          name: c.name,
          avatar: avatar(c.name, 'user'),
          repositories: c.repositories,
        })),
      };
    },
  );
}
