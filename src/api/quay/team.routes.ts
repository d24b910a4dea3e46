import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { QuayDeps } from './plugin.js';
import { avatar } from './views.js';

const TeamParams = Type.Object({
  orgname: Type.String({ description: 'The name of the organization' }),
  teamname: Type.String({ description: 'The name of the team' }),
});
const TeamMemberParams = Type.Object({
  orgname: Type.String({ description: 'The name of the organization' }),
  teamname: Type.String({ description: 'The name of the team' }),
  membername: Type.String({ description: 'The username of the team member' }),
});
const orgAdmin = [{ oauth2_implicit: ['org:admin'] }];

const memberView = (member: { name: string; isRobot: boolean }) => ({
  name: member.name,
  kind: 'user',
  is_robot: member.isRobot,
  avatar: avatar(member.name, member.isRobot ? 'robot' : 'user'),
  invited: false,
});

/**
 * Teams of an organization (there is no GET of one team: clients read `teams` of the organization),
 * their members (users and the organization's robots) and the repositories granted to them.
 */
export async function teamRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.put(
    '/organization/:orgname/team/:teamname',
    {
      schema: {
        tags: ['team'],
        operationId: 'updateOrganizationTeam',
        summary: 'Update the org-wide permission for the specified team.',
        security: orgAdmin,
        params: TeamParams,
        body: Type.Object(
          {
            role: Type.Union([Type.Literal('member'), Type.Literal('creator'), Type.Literal('admin')], {
              description: 'Org wide permissions that should apply to the team',
            }),
            description: Type.Optional(Type.String({ description: 'Markdown description for the team' })),
          },
          { description: 'Description of a team' },
        ),
      },
    },
    async (request) => {
      const { orgname, teamname } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const { team, created } = await deps.organizations.putTeam(
        orgname,
        teamname,
        request.body,
        request.subject,
      );
      return {
        name: team.name,
        description: team.description,
        can_view: await deps.access.canViewTeam(request.subject, orgname, team.name),
        role: team.role,
        avatar: avatar(team.name, 'team'),
        new_team: created,
      };
    },
  );

  app.delete(
    '/organization/:orgname/team/:teamname',
    {
      schema: {
        tags: ['team'],
        operationId: 'deleteOrganizationTeam',
        summary: 'Delete the specified team.',
        security: orgAdmin,
        params: TeamParams,
      },
    },
    async (request, reply) => {
      const { orgname, teamname } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      await deps.organizations.deleteTeam(orgname, teamname, request.subject);
      return reply.code(204).send();
    },
  );

  app.get(
    '/organization/:orgname/team/:teamname/members',
    {
      schema: {
        tags: ['team'],
        operationId: 'getOrganizationTeamMembers',
        summary: 'Retrieve the list of members for the specified team.',
        security: orgAdmin,
        params: TeamParams,
        querystring: Type.Object({
          includePending: Type.Optional(Type.String({ description: 'Whether to include pending members' })),
        }),
      },
    },
    async (request) => {
      const { orgname, teamname } = request.params;
      await deps.access.team(request.subject, orgname, teamname);
      const members = await deps.organizations.teamMembers(orgname, teamname);
      return {
        name: teamname,
        members: members.map(memberView),
        can_edit: (await deps.access.organizationRole(request.subject, orgname)) === 'admin',
      };
    },
  );

  app.put(
    '/organization/:orgname/team/:teamname/members/:membername',
    {
      schema: {
        tags: ['team'],
        operationId: 'updateOrganizationTeamMember',
        summary: 'Adds or invites a member to an existing team.',
        security: orgAdmin,
        params: TeamMemberParams,
      },
    },
    async (request) => {
      const { orgname, teamname, membername } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      return memberView(await deps.organizations.addTeamMember(orgname, teamname, membername));
    },
  );

  app.delete(
    '/organization/:orgname/team/:teamname/members/:membername',
    {
      schema: {
        tags: ['team'],
        operationId: 'deleteOrganizationTeamMember',
        summary: 'Delete a member of a team.',
        security: orgAdmin,
        params: TeamMemberParams,
      },
    },
    async (request, reply) => {
      const { orgname, teamname, membername } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      await deps.organizations.removeTeamMember(orgname, teamname, membername, request.subject);
      return reply.code(204).send();
    },
  );

  app.get(
    '/organization/:orgname/team/:teamname/permissions',
    {
      schema: {
        tags: ['team'],
        operationId: 'getOrganizationTeamPermissions',
        summary: "Returns the list of repository permissions for the org's team.",
        params: TeamParams,
      },
    },
    async (request) => {
      const { orgname, teamname } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const permissions = await deps.organizations.teamPermissions(orgname, teamname);
      return {
        permissions: permissions.map((p) => ({
          repository: { name: p.repository, is_public: p.isPublic },
          role: p.role,
        })),
      };
    },
  );
}
