import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { DomainError, Invalid } from '../../platform/errors.js';
import type { Repository } from '../../registry/index.js';
import type { BuildTrigger, BuildTriggersService } from '../../runs/builds/build-triggers.service.js';
import type { BuildView } from '../../runs/builds/index.js';
import { BUILD_TRIGGER_SERVICES } from '../../runs/builds/trigger-payloads.js';
import type { Services } from '../../services.js';
import { QuayAccess } from './access.js';
import { authenticate, baseUrlOf, quayErrorHandler, type QuayDeps } from './plugin.js';
import { buildStatusView, mayUsePullRobot, readsOnce } from './build.routes.js';

const RepoParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
const TriggerParams = Type.Object({
  namespace: Type.String(),
  repository: Type.String(),
  trigger_uuid: Type.String({ description: 'The UUID of the build trigger' }),
});
const security = [{ oauth2_implicit: ['repo:admin'] }];
const tags = ['trigger'];

/** Quay's trigger view (endpoints/api/trigger.py); `config` only for admins, as Quay shows it. */
export function triggerView(trigger: BuildTrigger, isAdmin: boolean) {
  return {
    id: trigger.id,
    service: trigger.service,
    is_active: trigger.active,
    build_source: trigger.config.build_source ?? null,
    repository_url: trigger.repositoryUrl,
    config: isAdmin ? trigger.config : {},
    can_invoke: isAdmin,
    enabled: trigger.enabled,
    disabled_reason: trigger.disabledReason,
    pull_robot: trigger.pullRobot ? { name: trigger.pullRobot, kind: 'user', is_robot: true } : null,
  };
}

/**
 * The `trigger` field of Quay's build view for a build a trigger started; null for other builds and for
 * builds of a trigger deleted since. `config` only for repository admins.
 */
export async function triggerOfBuild(
  triggers: Pick<BuildTriggersService, 'find'>,
  build: BuildView,
  isAdmin: boolean,
): Promise<ReturnType<typeof triggerView> | null> {
  const trigger = build.trigger ? await triggers.find(build.trigger.id) : undefined;
  return trigger ? triggerView(trigger, isAdmin) : null;
}

/**
 * Build triggers of a repository (`/repository/{r}/trigger/...`), all for repository admins, as in Quay.
 * Quay creates trigger rows outside /api/v1 (OAuth callbacks of the source hosts, `/customtrigger/setup`);
 * Slipway has no OAuth apps at GitHub, GitLab or Bitbucket, so `POST /repository/{r}/trigger/` creates one of
 * any service (an extension); `GET /customtrigger/setup/{r}` (below) does what Quay's does.
 */
export async function triggerRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const admin = (request: { subject: Subject; params: { namespace: string; repository: string } }) =>
    deps.access.repository(
      request.subject,
      `${request.params.namespace}/${request.params.repository}`,
      'admin',
    );
  const triggers = deps.buildTriggers;

  app.get(
    '/repository/:namespace/:repository/trigger/',
    {
      schema: {
        tags,
        operationId: 'listBuildTriggers',
        summary: 'List the triggers for the specified repository.',
        security,
        params: RepoParams,
      },
    },
    async (request) => {
      const repo = await admin(request);
      return { triggers: (await triggers.list(repo)).map((t) => triggerView(t, true)) };
    },
  );

  app.post(
    '/repository/:namespace/:repository/trigger/',
    {
      preValidation: refuseUnknownKeys(['service', 'build_source']),
      schema: {
        tags,
        operationId: 'createBuildTrigger',
        summary:
          'Create an inactive build trigger (Slipway extension: Quay does this in its OAuth callbacks).',
        security,
        params: RepoParams,
        body: Type.Object(
          {
            service: Type.Unsafe<string>({ type: 'string', enum: [...BUILD_TRIGGER_SERVICES] }),
            build_source: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const repo = await admin(request);
      const created = await triggers.create(
        repo,
        request.body.service,
        request.subject.kind === 'user' ? request.subject.name : '',
        {
          buildSource: request.body.build_source,
        },
      );
      return reply.code(201).send(triggerView(created, true));
    },
  );

  app.get(
    '/repository/:namespace/:repository/trigger/:trigger_uuid',
    {
      schema: {
        tags,
        operationId: 'getBuildTrigger',
        summary: 'Get information for the specified build trigger.',
        security,
        params: TriggerParams,
      },
    },
    async (request) =>
      triggerView(await triggers.get(await admin(request), request.params.trigger_uuid), true),
  );

  app.put(
    '/repository/:namespace/:repository/trigger/:trigger_uuid',
    {
      schema: {
        tags,
        operationId: 'updateBuildTrigger',
        summary: 'Updates the specified build trigger.',
        security,
        params: TriggerParams,
        body: Type.Object({ enabled: Type.Boolean({ description: 'Whether the build trigger is enabled' }) }),
      },
    },
    async (request) => {
      const repo = await admin(request);
      return triggerView(
        await triggers.setEnabled(repo, request.params.trigger_uuid, request.body.enabled),
        true,
      );
    },
  );

  app.delete(
    '/repository/:namespace/:repository/trigger/:trigger_uuid',
    {
      schema: {
        tags,
        operationId: 'deleteBuildTrigger',
        summary: 'Delete the specified build trigger.',
        security,
        params: TriggerParams,
      },
    },
    async (request, reply) => {
      await triggers.delete(await admin(request), request.params.trigger_uuid);
      return reply.code(204).send();
    },
  );

  app.post(
    '/repository/:namespace/:repository/trigger/:trigger_uuid/activate',
    {
      schema: {
        tags,
        operationId: 'activateBuildTrigger',
        summary: 'Activate the specified build trigger.',
        security,
        params: TriggerParams,
        body: Type.Object({
          config: Type.Record(Type.String(), Type.Unknown(), { description: 'Arbitrary json.' }),
          pull_robot: Type.Optional(
            Type.Union([Type.String(), Type.Null()], {
              description: 'The name of the robot that will be used to pull images.',
            }),
          ),
        }),
      },
    },
    async (request) => {
      const repo = await admin(request);
      const pullRobot = request.body.pull_robot ?? undefined;
      if (pullRobot !== undefined && !(await mayUsePullRobot(deps, request.subject, pullRobot)))
        throw new Invalid('PULL_ROBOT_INVALID', 'Could not find robot with specified username');
      const activated = await triggers.activate(repo, request.params.trigger_uuid, {
        config: request.body.config,
        pullRobot,
        webhookBase: baseUrlOf(request, deps.publicUrl),
      });
      return triggerView(activated, true);
    },
  );

  app.post(
    '/repository/:namespace/:repository/trigger/:trigger_uuid/start',
    {
      preValidation: refuseUnknownKeys(['branch_name', 'commit_sha', 'refs']),
      schema: {
        tags,
        operationId: 'manuallyStartBuildTrigger',
        summary: 'Manually start a build from the specified trigger.',
        security,
        params: TriggerParams,
        body: Type.Object(
          {
            branch_name: Type.Optional(
              Type.String({
                minLength: 1,
                description: '(SCM only) If specified, the name of the branch to build.',
              }),
            ),
            commit_sha: Type.Optional(
              Type.String({
                pattern: '^[0-9a-fA-F]{7,64}$',
                description: '(Custom Only) If specified, the ref/SHA1 used to checkout a git repository.',
              }),
            ),
            refs: Type.Optional(
              Type.Object(
                {
                  kind: Type.Union([Type.Literal('branch'), Type.Literal('tag')]),
                  name: Type.String({ minLength: 1 }),
                },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const repo = await admin(request);
      const user = request.subject.kind === 'user' ? request.subject.name : '';
      const build = await triggers.start(repo, request.params.trigger_uuid, request.body, user);
      return reply
        .code(201)
        .header('location', `/api/v1/repository/${repo.name}/build/${build.id}/status`)
        .send(await buildStatusView(triggers, build, 'admin'));
    },
  );

  app.get(
    '/repository/:namespace/:repository/trigger/:trigger_uuid/builds',
    {
      schema: {
        tags,
        operationId: 'listTriggerRecentBuilds',
        summary: 'List the builds started by the specified trigger.',
        security,
        params: TriggerParams,
        querystring: Type.Object({
          limit: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 100,
              default: 5,
              description: 'The maximum number of builds to return',
            }),
          ),
        }),
      },
    },
    async (request) => {
      const repo = await admin(request);
      const id = request.params.trigger_uuid;
      const builds = await triggers.listBuilds(repo, id, request.query.limit ?? 5);
      const reader = readsOnce(triggers);
      return { builds: await Promise.all(builds.map((b) => buildStatusView(reader, b, 'admin'))) };
    },
  );
}

/**
 * Fastify's validator strips unknown keys instead of refusing them; Quay's schemas with
 * `additionalProperties: false` answer 400 with jsonschema's message.
 */
function refuseUnknownKeys(allowed: string[]) {
  return async (request: FastifyRequest) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
    const extra = Object.keys(body).filter((key) => !allowed.includes(key));
    if (extra.length > 0)
      throw new Invalid(
        'INVALID_REQUEST',
        `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`,
      );
  };
}

/**
 * Quay's `GET /customtrigger/setup/{repository}` (endpoints/web.py): a repository admin (session or bearer)
 * gets a new inactive custom-git trigger and is sent to its page, `?tab=builds&newtrigger=<uuid>`.
 */
export const customTriggerSetupRoutes: FastifyPluginAsyncTypebox<Services & { publicUrl?: string }> = async (
  app,
  services,
) => {
  const access = new QuayAccess(services.policy, services.repositories);
  await app.register(import('@fastify/cookie'));
  app.addHook('onRequest', async (request, reply) => {
    const { error } = await authenticate(services, request);
    if (error) return reply.code(403).send({ error });
  });
  app.setErrorHandler(quayErrorHandler(services.publicUrl));
  app.get(
    '/customtrigger/setup/:namespace/:repository',
    { schema: { params: RepoParams } },
    async (request, reply) => {
      const { namespace, repository } = request.params;
      const repo: Repository = await access.repository(
        request.subject,
        `${namespace}/${repository}`,
        'admin',
      );
      const user = request.subject.kind === 'user' ? request.subject.name : '';
      const created = await services.buildTriggers.create(repo, 'custom-git', user);
      return reply.redirect(
        `/repository/${namespace}/${repository}?tab=builds&newtrigger=${created.id}`,
        302,
      );
    },
  );
};

/** Webhook bodies up to GitHub's 25 MB; the raw bytes are kept for GitHub's signature. */
const HOOK_BODY_LIMIT = 25 * 1024 * 1024;

/**
 * Quay's webhook receiver `POST /webhooks/push/trigger/{uuid}` (and `/webhooks/push/{ns}/{repo}/trigger/{uuid}`):
 * authenticated by Basic `$token:<the trigger's token>` (or a GitHub `X-Hub-Signature-256` when the trigger has
 * a webhook secret). Answers the text "Okay" whether a build started or the push was skipped; 400 for an
 * unreadable payload, 401 for a bad signature, 403 without a valid token, 503 for a read-only or mirror
 * repository. Errors are Quay's `{"error": ...}` bodies (util/http.abort).
 */
export const triggerWebhookRoutes: FastifyPluginAsyncTypebox<Pick<Services, 'buildTriggers'>> = async (
  app,
  { buildTriggers },
) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (_request, body, done) =>
    done(null, body),
  );
  app.setErrorHandler((error: Error, request, reply: FastifyReply) => {
    if (error instanceof DomainError) {
      const status =
        error.code === 'REPOSITORY_NOT_NORMAL'
          ? 503
          : (({ not_found: 404, denied: 403, unauthenticated: 401 } as Record<string, number>)[error.kind] ??
            400);
      if (status === 403 || status === 401)
        request.log.warn({ trigger: (request.params as { uuid?: string }).uuid }, 'trigger webhook refused');
      return reply.code(status).send({ error: error.message });
    }
    const statusCode = (error as { statusCode?: number }).statusCode;
    if (statusCode && statusCode < 500) return reply.code(statusCode).send({ error: error.message });
    request.log.error({ err: error }, 'failed to receive trigger webhook');
    return reply.code(500).send({ error: 'internal error' });
  });

  const receive = async (request: FastifyRequest, uuid: string, repository?: string) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    await buildTriggers.receivePush(uuid, {
      headers: request.headers,
      body,
      token: basicTokenOf(request.headers.authorization),
      ...(repository !== undefined ? { repository } : {}),
    });
    return 'Okay';
  };
  const text = (reply: FastifyReply, body: string) => reply.type('text/plain; charset=utf-8').send(body);

  app.post(
    '/webhooks/push/trigger/:uuid',
    {
      bodyLimit: HOOK_BODY_LIMIT,
      schema: { params: Type.Object({ uuid: Type.String({ maxLength: 100 }) }) },
    },
    async (request, reply) => text(reply, await receive(request, request.params.uuid)),
  );
  app.post(
    '/webhooks/push/:namespace/:repository/trigger/:uuid',
    {
      bodyLimit: HOOK_BODY_LIMIT,
      schema: {
        params: Type.Object({
          namespace: Type.String(),
          repository: Type.String(),
          uuid: Type.String({ maxLength: 100 }),
        }),
      },
    },
    async (request, reply) =>
      text(
        reply,
        await receive(
          request,
          request.params.uuid,
          `${request.params.namespace}/${request.params.repository}`,
        ),
      ),
  );
};

/** The password of `Authorization: Basic base64("$token:<password>")`; undefined for any other header. */
function basicTokenOf(header: string | undefined): string | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(0, colon) !== '$token') return undefined;
  return decoded.slice(colon + 1);
}
