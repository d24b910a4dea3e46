import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TeamPermission, UserPermission } from '../../registry/index.js';
import type { QuayDeps } from './plugin.js';
import { repositoryName, repositoryParams, repositoryPath } from './repository.routes.js';
import { avatar } from './views.js';

const role = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')]);
const security = [{ oauth2_implicit: ['repo:admin'] }];
const userParams = Type.Composite([repositoryParams, Type.Object({ username: Type.String() })]);
const teamParams = Type.Composite([repositoryParams, Type.Object({ teamname: Type.String() })]);

/** Quay's `UserPermission.to_dict`: `is_org_member` only in organizations. */
const userView = (p: UserPermission) => ({
  role: p.role,
  name: p.name,
  is_robot: p.isRobot,
  avatar: avatar(p.name, p.isRobot ? 'robot' : 'user'),
  ...(p.isOrgMember === undefined ? {} : { is_org_member: p.isOrgMember }),
});
const teamView = (p: TeamPermission) => ({ role: p.role, name: p.name, avatar: avatar(p.name, 'team') });

/** Repository permissions for users, robots and teams; all need admin on the repository (Quay `permission.py`). */
export async function permissionRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const admin = (
    subject: Parameters<QuayDeps['access']['repository']>[0],
    params: typeof repositoryParams.static,
  ) => deps.access.repository(subject, repositoryName(params), 'admin');

  app.get(
    `${repositoryPath}/permissions/user/`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'listRepoUserPermissions',
        summary: 'List all user permissions.',
        security,
        params: repositoryParams,
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      const permissions = await deps.repositoryPermissions.listUsers(repo);
      return { permissions: Object.fromEntries(permissions.map((p) => [p.name, userView(p)])) };
    },
  );

  app.get(
    `${repositoryPath}/permissions/user/:username/transitive`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'getUserTransitivePermission',
        summary: 'Get the fetch the permission for the specified user.',
        security,
        params: userParams,
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      const roles = await deps.repositoryPermissions.transitive(repo, request.params.username);
      return { permissions: roles.map((r) => ({ role: r })) };
    },
  );

  app.get(
    `${repositoryPath}/permissions/user/:username`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'getUserPermissions',
        summary: 'Get the permission for the specified user.',
        security,
        params: userParams,
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      return userView(await deps.repositoryPermissions.getUser(repo, request.params.username));
    },
  );

  app.put(
    `${repositoryPath}/permissions/user/:username`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'changeUserPermissions',
        summary: 'Update the perimssions for an existing repository.',
        security,
        params: userParams,
        body: Type.Object({ role }),
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      return userView(
        await deps.repositoryPermissions.setUser(
          repo,
          request.params.username,
          request.body.role,
          request.subject,
        ),
      );
    },
  );

  app.delete(
    `${repositoryPath}/permissions/user/:username`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'deleteUserPermissions',
        summary: 'Delete the permission for the user.',
        security,
        params: userParams,
      },
    },
    async (request, reply) => {
      const repo = await admin(request.subject, request.params);
      await deps.repositoryPermissions.deleteUser(repo, request.params.username, request.subject);
      return reply.code(204).send();
    },
  );

  app.get(
    `${repositoryPath}/permissions/team/`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'listRepoTeamPermissions',
        summary: 'List all team permission.',
        security,
        params: repositoryParams,
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      const permissions = await deps.repositoryPermissions.listTeams(repo);
      return { permissions: Object.fromEntries(permissions.map((p) => [p.name, teamView(p)])) };
    },
  );

  app.get(
    `${repositoryPath}/permissions/team/:teamname`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'getTeamPermissions',
        summary: 'Fetch the permission for the specified team.',
        security,
        params: teamParams,
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      const permission = await deps.repositoryPermissions.getTeam(repo, request.params.teamname);
      return { role: permission.role };
    },
  );

  app.put(
    `${repositoryPath}/permissions/team/:teamname`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'changeTeamPermissions',
        summary: 'Update the existing team permission.',
        security,
        params: teamParams,
        body: Type.Object({ role }),
      },
    },
    async (request) => {
      const repo = await admin(request.subject, request.params);
      return teamView(
        await deps.repositoryPermissions.setTeam(
          repo,
          request.params.teamname,
          request.body.role,
          request.subject,
        ),
      );
    },
  );

  app.delete(
    `${repositoryPath}/permissions/team/:teamname`,
    {
      schema: {
        tags: ['permission'],
        operationId: 'deleteTeamPermissions',
        summary: 'Delete the permission for the specified team.',
        security,
        params: teamParams,
      },
    },
    async (request, reply) => {
      const repo = await admin(request.subject, request.params);
      await deps.repositoryPermissions.deleteTeam(repo, request.params.teamname, request.subject);
      return reply.code(204).send();
    },
  );
}
