import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RepositoryRole, Subject } from '../../identity/index.js';
import { Invalid } from '../../platform/errors.js';
import type { BuildTrigger, BuildTriggersService } from '../../runs/builds/build-triggers.service.js';
import type { BuildRequest, BuildView } from '../../runs/builds/index.js';
import type { QuayDeps } from './plugin.js';
import { repositoryName } from './repository.routes.js';
import { triggerOfBuild } from './trigger.routes.js';
import { formatDate } from './views.js';

const RepoParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
const BuildParams = Type.Object({
  namespace: Type.String(),
  repository: Type.String(),
  build_uuid: Type.String({ description: 'The UUID of the build' }),
});
const RequestBody = Type.Object(
  {
    file_id: Type.Optional(
      Type.String({ description: 'The file id that was generated when the build spec was uploaded' }),
    ),
    archive_url: Type.Optional(
      Type.String({ description: 'The URL of the .tar.gz to build. Must start with "http" or "https".' }),
    ),
    subdirectory: Type.Optional(
      Type.String({
        description:
          'Subdirectory in which the Dockerfile can be found. You can only specify this or dockerfile_path',
      }),
    ),
    dockerfile_path: Type.Optional(
      Type.String({ description: 'Path to a dockerfile. You can only specify this or subdirectory.' }),
    ),
    context: Type.Optional(
      Type.String({ description: 'Pass in the context for the dockerfile. This is optional.' }),
    ),
    pull_robot: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'Username of a Quay robot account to use as pull credentials',
      }),
    ),
    docker_tags: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        uniqueItems: true,
        description:
          'The tags to which the built images will be pushed. If none specified, "latest" is used.',
      }),
    ),
  },
  { description: 'Description of a new repository build.' },
);

/**
 * Quay's `build_status_view` (endpoints/api/build.py) as a caller with `role` on the repository sees it (every
 * route showing builds needs read): `archive_url` for writers, the trigger's config for admins only.
 */
export async function buildStatusView(
  triggers: Pick<BuildTriggersService, 'find'>,
  build: BuildView,
  role: RepositoryRole | undefined,
) {
  const isWriter = role === 'write' || role === 'admin';
  const slash = build.repository.indexOf('/');
  return {
    id: build.id,
    phase: build.phase,
    started: formatDate(build.createdAt),
    display_name: build.displayName,
    status: {},
    subdirectory: build.subdirectory,
    dockerfile_path: build.dockerfilePath,
    context: build.context,
    tags: build.tags,
    manual_user: build.manualUser ?? null,
    is_writer: isWriter,
    // Null for archive and upload builds.
    trigger: await triggerOfBuild(triggers, build, role === 'admin'),
    trigger_metadata: build.trigger?.metadata ?? null,
    resource_key: build.source.kind === 'upload' ? build.source.fileId : null,
    pull_robot: build.pullRobot ? { name: build.pullRobot, kind: 'user', is_robot: true } : null,
    repository: { namespace: build.repository.slice(0, slash), name: build.repository.slice(slash + 1) },
    error: build.error ?? null,
    ...(isWriter && build.archiveUrl !== undefined ? { archive_url: build.archiveUrl } : {}),
  };
}

/** Repository builds (`/repository/{r}/build/...`): read to see, write to start and read logs, admin to cancel. */
export async function buildRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  // The role found by the access check decides what the views show.
  const needs = (subject: Subject, params: { namespace: string; repository: string }, role: RepositoryRole) =>
    deps.access.repositoryWithRole(subject, repositoryName(params), role);
  const view = (role: RepositoryRole, build: BuildView) => buildStatusView(deps.buildTriggers, build, role);

  app.get(
    '/repository/:namespace/:repository/build/',
    {
      schema: {
        tags: ['build'],
        operationId: 'getRepoBuilds',
        summary: 'Get the list of repository builds.',
        security: [{ oauth2_implicit: ['repo:read'] }],
        params: RepoParams,
        querystring: Type.Object({
          limit: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 100, description: 'The maximum number of builds to return' }),
          ),
          since: Type.Optional(
            Type.Integer({ minimum: 0, description: 'Returns all builds since the given unix timecode' }),
          ),
        }),
      },
    },
    async (request) => {
      const { role } = await needs(request.subject, request.params, 'read');
      const builds = await deps.repositoryBuilds.listBuilds(repositoryName(request.params), {
        ...(request.query.limit !== undefined ? { limit: request.query.limit } : {}),
        ...(request.query.since !== undefined ? { since: request.query.since } : {}),
      });
      const triggers = readsOnce(deps.buildTriggers);
      return { builds: await Promise.all(builds.map((b) => buildStatusView(triggers, b, role))) };
    },
  );

  app.post(
    '/repository/:namespace/:repository/build/',
    {
      schema: {
        tags: ['build'],
        operationId: 'requestRepoBuild',
        summary: 'Request that a repository be built and pushed from the specified input.',
        security: [{ oauth2_implicit: ['repo:write'] }],
        params: RepoParams,
        body: RequestBody,
      },
    },
    async (request, reply) => {
      const { role } = await needs(request.subject, request.params, 'write');
      const body = request.body;
      if (!body.file_id && !body.archive_url) {
        throw new Invalid('BUILD_SOURCE_REQUIRED', 'file_id or archive_url required');
      }
      if (body.pull_robot && !(await mayUsePullRobot(deps, request.subject, body.pull_robot))) {
        throw new Invalid('INVALID_PULL_ROBOT', `pull_robot: could not find robot ${body.pull_robot}`, {
          field: 'pull_robot',
        });
      }
      const manualUser = request.subject.kind === 'anonymous' ? undefined : request.subject.name;
      const buildRequest: BuildRequest = {
        source: body.archive_url
          ? { kind: 'archive', url: body.archive_url }
          : { kind: 'upload', fileId: body.file_id! },
        tags: body.docker_tags ?? ['latest'],
        ...(body.dockerfile_path ? { dockerfilePath: body.dockerfile_path } : {}),
        ...(body.subdirectory ? { subdirectory: body.subdirectory } : {}),
        ...(body.context ? { context: body.context } : {}),
        ...(body.pull_robot ? { pullRobot: body.pull_robot } : {}),
        ...(manualUser ? { manualUser } : {}),
      };
      const build = await deps.repositoryBuilds.requestBuild(repositoryName(request.params), buildRequest);
      return reply
        .code(201)
        .header('location', `/api/v1/repository/${repositoryName(request.params)}/build/${build.id}/status`)
        .send(await view(role, build));
    },
  );

  for (const [suffix, operationId, summary] of [
    ['', 'getRepoBuild', 'Returns information about a build.'],
    ['/status', 'getRepoBuildStatus', 'Return the status for the builds specified by the build uuids.'],
  ] as const) {
    app.get(
      `/repository/:namespace/:repository/build/:build_uuid${suffix}`,
      {
        schema: {
          tags: ['build'],
          operationId,
          summary,
          security: [{ oauth2_implicit: ['repo:read'] }],
          params: BuildParams,
        },
      },
      async (request) => {
        const { role } = await needs(request.subject, request.params, 'read');
        const build = await deps.repositoryBuilds.getBuild(
          repositoryName(request.params),
          request.params.build_uuid,
        );
        return view(role, build);
      },
    );
  }

  app.delete(
    '/repository/:namespace/:repository/build/:build_uuid',
    {
      schema: {
        tags: ['build'],
        operationId: 'cancelRepoBuild',
        summary: 'Cancels a repository build.',
        security: [{ oauth2_implicit: ['repo:admin'] }],
        params: BuildParams,
      },
    },
    async (request, reply) => {
      await needs(request.subject, request.params, 'admin');
      const actor = request.subject.kind === 'anonymous' ? undefined : request.subject.name;
      await deps.repositoryBuilds.cancelBuild(
        repositoryName(request.params),
        request.params.build_uuid,
        actor,
      );
      return reply.code(201).send('Okay');
    },
  );

  // Quay shows build logs to writers only (readers need its READER_BUILD_LOGS feature, not offered here).
  app.get(
    '/repository/:namespace/:repository/build/:build_uuid/logs',
    {
      schema: {
        tags: ['build'],
        operationId: 'getRepoBuildLogs',
        summary: 'Return the build logs for the build specified by the build uuid.',
        security: [{ oauth2_implicit: ['repo:write'] }],
        params: BuildParams,
        querystring: Type.Object({
          start: Type.Optional(Type.Integer({ minimum: 0, description: 'The index at which to start' })),
        }),
      },
    },
    async (request) => {
      await needs(request.subject, request.params, 'write');
      return deps.repositoryBuilds.buildLogs(
        repositoryName(request.params),
        request.params.build_uuid,
        request.query.start ?? 0,
      );
    },
  );
}

/** Reads each trigger once: the builds of a listing share a few triggers. */
export function readsOnce(triggers: Pick<BuildTriggersService, 'find'>): Pick<BuildTriggersService, 'find'> {
  const found = new Map<string, Promise<BuildTrigger | undefined>>();
  return {
    find: (id) => {
      let trigger = found.get(id);
      if (!trigger) found.set(id, (trigger = triggers.find(id)));
      return trigger;
    },
  };
}

/** Quay: a pull robot (of builds and of triggers) must exist and the caller must administer its namespace. */
export async function mayUsePullRobot(deps: QuayDeps, subject: Subject, name: string): Promise<boolean> {
  const plus = name.indexOf('+');
  return (
    plus > 0 &&
    (await deps.access.administersNamespace(subject, name.slice(0, plus))) &&
    (await deps.robots.find(name)) !== undefined
  );
}
