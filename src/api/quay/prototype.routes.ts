import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Prototype, PrototypeUser } from '../../identity/index.js';
import type { QuayDeps } from './plugin.js';
import { avatar } from './views.js';

const OrgParams = Type.Object({ orgname: Type.String({ description: 'The name of the organization' }) });
const PrototypeParams = Type.Object({
  orgname: Type.String({ description: 'The name of the organization' }),
  prototypeid: Type.String({ description: 'The ID of the prototype' }),
});
const role = (description: string) =>
  Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')], { description });
const orgAdmin = [{ oauth2_implicit: ['org:admin'] }];

const userView = (user: PrototypeUser) => ({
  name: user.name,
  is_robot: user.isRobot,
  kind: 'user',
  is_org_member: user.isOrgMember,
  avatar: avatar(user.name, user.isRobot ? 'robot' : 'user'),
});

const prototypeView = (prototype: Prototype) => ({
  activating_user: prototype.activatingUser ? userView(prototype.activatingUser) : null,
  delegate:
    prototype.delegate.kind === 'team'
      ? { name: prototype.delegate.name, kind: 'team', avatar: avatar(prototype.delegate.name, 'team') }
      : userView(prototype.delegate),
  role: prototype.role,
  id: prototype.id,
});

/** Default permissions of an organization, applied to each repository created in it. Organization admins only. */
export async function prototypeRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/organization/:orgname/prototypes',
    {
      schema: {
        tags: ['prototype'],
        operationId: 'getOrganizationPrototypePermissions',
        summary: 'List the existing prototypes for this organization.',
        security: orgAdmin,
        params: OrgParams,
      },
    },
    async (request) => {
      await deps.access.organization(request.subject, request.params.orgname, 'admin');
      return { prototypes: (await deps.prototypes.list(request.params.orgname)).map(prototypeView) };
    },
  );

  app.post(
    '/organization/:orgname/prototypes',
    {
      schema: {
        tags: ['prototype'],
        operationId: 'createOrganizationPrototypePermission',
        summary: 'Create a new permission prototype.',
        security: orgAdmin,
        params: OrgParams,
        body: Type.Object(
          {
            role: role('Role that should be applied to the delegate'),
            activating_user: Type.Optional(
              Type.Union([
                Type.Object(
                  { name: Type.String({ description: 'The username for the activating_user' }) },
                  { description: 'Repository creating user to whom the rule should apply' },
                ),
                Type.Null(),
              ]),
            ),
            delegate: Type.Object(
              {
                name: Type.String({ description: 'The name for the delegate team or user' }),
                kind: Type.Union([Type.Literal('user'), Type.Literal('team')], {
                  description: 'Whether the delegate is a user or a team',
                }),
              },
              { description: 'Information about the user or team to which the rule grants access' },
            ),
          },
          { description: 'Description of a new prototype' },
        ),
      },
    },
    async (request) => {
      const { orgname } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      const prototype = await deps.prototypes.create(orgname, {
        role: request.body.role,
        delegate: request.body.delegate,
        activatingUser: request.body.activating_user?.name,
      });
      return prototypeView(prototype);
    },
  );

  app.put(
    '/organization/:orgname/prototypes/:prototypeid',
    {
      schema: {
        tags: ['prototype'],
        operationId: 'updateOrganizationPrototypePermission',
        summary: 'Update the role of an existing permission prototype.',
        security: orgAdmin,
        params: PrototypeParams,
        body: Type.Object(
          { role: role('Role that should be applied to the permission') },
          { description: 'Description of a the new prototype role' },
        ),
      },
    },
    async (request) => {
      const { orgname, prototypeid } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      return prototypeView(await deps.prototypes.update(orgname, prototypeid, request.body.role));
    },
  );

  app.delete(
    '/organization/:orgname/prototypes/:prototypeid',
    {
      schema: {
        tags: ['prototype'],
        operationId: 'deleteOrganizationPrototypePermission',
        summary: 'Delete an existing permission prototype.',
        security: orgAdmin,
        params: PrototypeParams,
      },
    },
    async (request, reply) => {
      const { orgname, prototypeid } = request.params;
      await deps.access.organization(request.subject, orgname, 'admin');
      await deps.prototypes.delete(orgname, prototypeid);
      return reply.code(204).send();
    },
  );
}
