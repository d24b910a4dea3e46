import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Robot, Subject } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';
import { avatar, formatDate } from './views.js';

const robotBodyLimit = 1024 * 1024; // Quay's max_json_size for robot bodies

const ShortnameParam = {
  robot_shortname: Type.String({
    description: 'The short name for the robot, without any user or organization prefix',
  }),
};
const OrgParam = { orgname: Type.String({ description: 'The name of the organization' }) };
const ListQuery = Type.Object({
  permissions: Type.Optional(
    Type.String({
      description: 'Whether to include repositories and teams in which the robots have permission.',
    }),
  ),
  token: Type.Optional(Type.String({ description: "If false, the robot's token is not returned." })),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, description: 'If specified, the number of robots to return.' }),
  ),
});
const CreateRobot = Type.Object(
  {
    description: Type.Optional(
      Type.String({ maxLength: 255, description: 'Optional text description for the robot' }),
    ),
    unstructured_metadata: Type.Optional(
      Type.Object(
        {},
        { additionalProperties: true, description: 'Optional unstructured metadata for the robot' },
      ),
    ),
  },
  { description: 'Optional data for creating a robot' },
);
type CreateRobotBody = { description?: string; unstructured_metadata?: Record<string, unknown> };

const userAdmin = [{ oauth2_implicit: ['user:admin'] }];
const orgAdmin = [{ oauth2_implicit: ['org:admin'] }];

/** Quay's truthy_bool: anything but false, 0, null and the empty string is true. */
const truthy = (value: string | undefined, fallback: boolean) =>
  value === undefined ? fallback : !['false', 'False', 'FALSE', '0', '', 'null'].includes(value);

function robotView(
  robot: Robot,
  opts: { token?: string; metadata?: Record<string, unknown> | null } = {},
): Record<string, unknown> {
  const view: Record<string, unknown> = {
    name: robot.name,
    created: formatDate(robot.createdAt),
    last_accessed: formatDate(robot.lastAccessed),
    description: robot.description,
  };
  if (opts.token !== undefined) view.token = opts.token;
  if (opts.metadata !== undefined) view.unstructured_metadata = opts.metadata;
  return view;
}

/**
 * Robot accounts of the caller (`/user/robots`, user:admin) and of organizations
 * (`/organization/{org}/robots`, admins; members may list them, without tokens).
 * Create takes an optional body, so an empty JSON body is accepted here.
 */
export async function robotRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const parseJson = scope.getDefaultJsonParser('error', 'ignore');
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    body === '' ? done(null, undefined) : parseJson(request, body as string, done),
  );
  // No body at all is as good as `{}` (Quay: `request.get_json(silent=True) or {}`).
  scope.addHook('preValidation', async (request) => {
    if (request.method === 'PUT' && (request.body === undefined || request.body === null)) request.body = {};
  });
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  async function list(
    namespace: string,
    query: { permissions?: string; token?: string; limit?: number },
    mayAdminister: boolean,
  ) {
    const robots = (await deps.robots.list(namespace)).slice(0, query.limit);
    const withToken = mayAdminister && truthy(query.token, true);
    const memberships =
      mayAdminister && truthy(query.permissions, false)
        ? await deps.organizations.robotMemberships(namespace)
        : undefined;
    return {
      robots: await Promise.all(
        robots.map(async (robot) => {
          const view: Record<string, unknown> = {
            name: robot.name,
            created: formatDate(robot.createdAt),
            last_accessed: formatDate(robot.lastAccessed),
          };
          if (memberships) {
            const access = memberships.get(robot.name);
            view.teams = (access?.teams ?? []).map((team) => ({ name: team, avatar: avatar(team, 'team') }));
            view.repositories = access?.repositories ?? [];
          }
          view.description = robot.description;
          if (withToken) view.token = await deps.robots.token(robot.name);
          return view;
        }),
      ),
    };
  }

  const get = async (name: string) => {
    const robot = await deps.robots.get(name);
    return robotView(robot, { token: await deps.robots.token(name), metadata: robot.metadata ?? {} });
  };
  const create = async (name: string, body: CreateRobotBody) => {
    const [namespace, shortname] = [name.slice(0, name.indexOf('+')), name.slice(name.indexOf('+') + 1)];
    const robot = await deps.robots.create(namespace, shortname, {
      description: body.description,
      metadata: body.unstructured_metadata,
    });
    return robotView(robot, { token: robot.token, metadata: body.unstructured_metadata ?? null });
  };
  const regenerate = async (name: string) => {
    const robot = await deps.robots.regenerate(name);
    return robotView(robot, { token: robot.token });
  };
  const permissions = async (name: string) => ({
    permissions: (await deps.organizations.robotPermissions(name)).map((p) => ({
      repository: { name: p.repository, is_public: p.isPublic },
      role: p.role,
    })),
  });

  // The caller's robots

  const userRobot = (request: { subject: Subject; params: { robot_shortname: string } }) =>
    `${deps.access.user(request.subject, 'admin').name}+${request.params.robot_shortname}`;

  app.get(
    '/user/robots',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getUserRobots',
        summary: 'List the available robots for the user.',
        security: userAdmin,
        querystring: ListQuery,
      },
    },
    async (request) => list(deps.access.user(request.subject, 'admin').name, request.query, true),
  );

  app.get(
    '/user/robots/:robot_shortname',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getUserRobot',
        summary: "Returns the user's robot with the specified name.",
        security: userAdmin,
        params: Type.Object(ShortnameParam),
      },
    },
    async (request) => get(userRobot(request)),
  );

  app.put(
    '/user/robots/:robot_shortname',
    {
      bodyLimit: robotBodyLimit,
      schema: {
        tags: ['robot'],
        operationId: 'createUserRobot',
        summary: 'Create a new user robot with the specified name.',
        security: userAdmin,
        params: Type.Object(ShortnameParam),
        body: CreateRobot,
      },
    },
    async (request, reply) => reply.code(201).send(await create(userRobot(request), request.body)),
  );

  app.delete(
    '/user/robots/:robot_shortname',
    {
      schema: {
        tags: ['robot'],
        operationId: 'deleteUserRobot',
        summary: 'Delete an existing robot.',
        security: userAdmin,
        params: Type.Object(ShortnameParam),
      },
    },
    async (request, reply) => {
      await deps.robots.delete(userRobot(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/user/robots/:robot_shortname/regenerate',
    {
      schema: {
        tags: ['robot'],
        operationId: 'regenerateUserRobotToken',
        summary: "Regenerates the token for a user's robot.",
        security: userAdmin,
        params: Type.Object(ShortnameParam),
      },
    },
    async (request) => regenerate(userRobot(request)),
  );

  app.get(
    '/user/robots/:robot_shortname/permissions',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getUserRobotPermissions',
        summary: "Returns the list of repository permissions for the user's robot.",
        security: userAdmin,
        params: Type.Object(ShortnameParam),
      },
    },
    async (request) => permissions(userRobot(request)),
  );

  // Organization robots

  const orgRobot = async (request: {
    subject: Subject;
    params: { orgname: string; robot_shortname: string };
  }): Promise<string> => {
    await deps.access.organization(request.subject, request.params.orgname, 'admin');
    return `${request.params.orgname}+${request.params.robot_shortname}`;
  };

  app.get(
    '/organization/:orgname/robots',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getOrgRobots',
        summary: "List the organization's robots.",
        security: orgAdmin,
        params: Type.Object(OrgParam),
        querystring: ListQuery,
      },
    },
    async (request) => {
      const { orgname } = request.params;
      await deps.access.organization(request.subject, orgname, 'member');
      const isAdmin = (await deps.access.organizationRole(request.subject, orgname)) === 'admin';
      return list(orgname, request.query, isAdmin);
    },
  );

  app.get(
    '/organization/:orgname/robots/:robot_shortname',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getOrgRobot',
        summary: "Returns the organization's robot with the specified name.",
        security: orgAdmin,
        params: Type.Object({ ...OrgParam, ...ShortnameParam }),
      },
    },
    async (request) => get(await orgRobot(request)),
  );

  app.put(
    '/organization/:orgname/robots/:robot_shortname',
    {
      bodyLimit: robotBodyLimit,
      schema: {
        tags: ['robot'],
        operationId: 'createOrgRobot',
        summary: 'Create a new robot in the organization.',
        security: orgAdmin,
        params: Type.Object({ ...OrgParam, ...ShortnameParam }),
        body: CreateRobot,
      },
    },
    async (request, reply) => reply.code(201).send(await create(await orgRobot(request), request.body)),
  );

  app.delete(
    '/organization/:orgname/robots/:robot_shortname',
    {
      schema: {
        tags: ['robot'],
        operationId: 'deleteOrgRobot',
        summary: 'Delete an existing organization robot.',
        security: orgAdmin,
        params: Type.Object({ ...OrgParam, ...ShortnameParam }),
      },
    },
    async (request, reply) => {
      await deps.robots.delete(await orgRobot(request));
      return reply.code(204).send();
    },
  );

  app.post(
    '/organization/:orgname/robots/:robot_shortname/regenerate',
    {
      schema: {
        tags: ['robot'],
        operationId: 'regenerateOrgRobotToken',
        summary: 'Regenerates the token for an organization robot.',
        security: orgAdmin,
        params: Type.Object({ ...OrgParam, ...ShortnameParam }),
      },
    },
    async (request) => regenerate(await orgRobot(request)),
  );

  app.get(
    '/organization/:orgname/robots/:robot_shortname/permissions',
    {
      schema: {
        tags: ['robot'],
        operationId: 'getOrgRobotPermissions',
        summary: "Returns the list of repository permissions for the org's robot.",
        security: userAdmin,
        params: Type.Object({ ...OrgParam, ...ShortnameParam }),
      },
    },
    async (request) => {
      // Quay asks for user:admin here (require_user_admin) on top of organization admin.
      deps.access.user(request.subject, 'admin');
      return permissions(await orgRobot(request));
    },
  );
}
