/**
 * Pipelines, their runs and their triggers in Slipway's native API (`/api/slipway/v1`), for pipelines
 * written in Slipway's YAML or Rancher's `.rancher-pipeline.yml` and sent as text:
 *
 * - `GET|POST /namespaces/{ns}/pipelines`, `GET|PUT|DELETE /namespaces/{ns}/pipelines/{name}`
 * - `GET|POST /namespaces/{ns}/pipelines/{name}/runs` (POST: a manual run with `commit`, `branch`, `tag`,
 *   `repo_url`; without `commit`, the branch or tag is resolved in `repo_url`, or in the pipeline's own
 *   `repository`, now), `GET .../runs/{number}`, `POST .../runs/{number}/cancel`, `POST .../runs/{number}/rerun`
 * - `GET|POST /namespaces/{ns}/pipelines/{name}/triggers`, `DELETE .../triggers/{type}/{id}`
 *
 * Authorization asks the policy: reading needs `canReadNamespace`, anything else `canRunPipelines`. A
 * namespace the caller may not read answers exactly as a missing pipeline does (404). Errors are the
 * native `{error: {code, message, field?}}` of `toNativeError`.
 */
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { Denied, Invalid, NotFound } from '../../platform/errors.js';
import { resolveRef } from '../../runs/git/index.js';
import type { PipelineView, RunTrigger } from '../../runs/index.js';
import { RUN_POLICIES } from '../../runs/index.js';
import type { Services } from '../../services.js';
import { nativeApi } from './native-api.js';

export type PipelinesDeps = Pick<Services, 'credentials' | 'policy' | 'runs' | 'triggers' | 'outbound'>;

const Namespace = Type.String({ minLength: 1, maxLength: 255 });
const Name = Type.String({ minLength: 1, maxLength: 100 });
const NamespaceParams = Type.Object({ ns: Namespace });
const PipelineParams = Type.Object({ ns: Namespace, name: Name });
const RunParams = Type.Object({ ns: Namespace, name: Name, number: Type.Integer({ minimum: 1 }) });
const Dialect = Type.Union([Type.Literal('slipway'), Type.Literal('rancher')]);
const Policy = Type.Union(RUN_POLICIES.map((p) => Type.Literal(p)));

const Repository = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'clone URL' }),
    branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    credentials: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'a git credential' }),
    ),
  },
  { additionalProperties: false },
);
const PipelineBody = Type.Object(
  {
    name: Type.Optional(Name),
    source: Type.String({ minLength: 1, maxLength: 1024 * 1024, description: 'the definition, YAML' }),
    dialect: Type.Optional(Dialect),
    policy: Type.Optional(Policy),
    concurrency: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    repository: Type.Optional(Repository),
  },
  { additionalProperties: false },
);
const PipelineChanges = Type.Object(
  {
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 * 1024 })),
    dialect: Type.Optional(Dialect),
    policy: Type.Optional(Policy),
    concurrency: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    repository: Type.Optional(Type.Union([Repository, Type.Null()])),
  },
  { additionalProperties: false },
);
const ManualRun = Type.Object(
  {
    commit: Type.Optional(Type.String({ maxLength: 64 })),
    branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    repo_url: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
const RunsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
});
const TriggerBody = Type.Union([
  Type.Object(
    {
      type: Type.Literal('webhook'),
      provider: Type.String({ minLength: 1 }),
      secret: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('cron'),
      schedule: Type.String({ minLength: 1 }),
      timezone: Type.Optional(Type.String({ minLength: 1 })),
      branch: Type.Optional(Type.String({ minLength: 1 })),
      enabled: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('image'), repository: Type.String({ minLength: 1 }), tag_glob: Type.String() },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('pipeline'),
      upstream: Name,
      states: Type.Optional(Type.Array(Type.String())),
    },
    { additionalProperties: false },
  ),
]);
const TriggerParams = Type.Object({
  ns: Namespace,
  name: Name,
  type: Type.Union([
    Type.Literal('webhook'),
    Type.Literal('cron'),
    Type.Literal('image'),
    Type.Literal('pipeline'),
  ]),
  id: Type.String({ minLength: 1, maxLength: 100 }),
});

function pipelineJson(view: PipelineView) {
  return {
    id: view.id,
    namespace: view.namespace,
    name: view.name,
    dialect: view.dialect,
    policy: view.policy,
    concurrency: view.concurrency,
    last_run_number: view.lastRunNumber,
    repository: view.repository ?? null,
    source: view.source,
    definition: view.pipeline,
    created_at: new Date(view.createdAt).toISOString(),
    updated_at: new Date(view.updatedAt).toISOString(),
  };
}

export const pipelinesRoutes: FastifyPluginAsyncTypebox<PipelinesDeps> = async (app, deps) => {
  await nativeApi(app, deps);

  /** The pipeline, when the subject may read its namespace (and, for `write`, run its pipelines). */
  const pipelineFor = async (
    subject: Subject,
    namespace: string,
    name: string,
    need: 'read' | 'write',
  ): Promise<PipelineView> => {
    const readable = await deps.policy.canReadNamespace(subject, namespace);
    const pipeline = readable ? await deps.runs.findPipelineByName(namespace, name) : undefined;
    if (!pipeline) throw new NotFound('PIPELINE_NOT_FOUND', `pipeline ${namespace}/${name} not found`);
    if (need === 'write') await requireRunner(subject, namespace);
    return pipeline;
  };
  const requireRunner = async (subject: Subject, namespace: string): Promise<void> => {
    if (!(await deps.policy.canRunPipelines(subject, namespace))) {
      if (!(await deps.policy.canReadNamespace(subject, namespace))) {
        throw new NotFound('NAMESPACE_NOT_FOUND', `namespace ${namespace} not found`);
      }
      throw new Denied('DENIED', `not allowed to change or run the pipelines of ${namespace}`);
    }
  };
  const actor = (subject: Subject) => (subject.kind === 'anonymous' ? undefined : subject.name);
  /**
   * The commit of a manual run: as given, or what the branch (default: the remote's default branch) or tag
   * points at in `repo_url` now (`git ls-remote` through the outbound policy). Without a repository, none.
   */
  const sourceOf = async (body: Static<typeof ManualRun>): Promise<{ commit: string; branch?: string }> => {
    if (body.commit !== undefined || !body.repo_url)
      return { commit: body.commit ?? '', branch: body.branch };
    try {
      return await resolveRef(body.repo_url, body, { outbound: deps.outbound });
    } catch (error) {
      if (error instanceof NotFound) {
        throw new Invalid(error.code, error.message, { field: body.tag !== undefined ? 'tag' : 'branch' });
      }
      if (error instanceof Invalid && !(error.detail as { field?: string } | undefined)?.field)
        throw new Invalid(error.code, error.message, { field: 'repo_url' });
      throw error;
    }
  };

  app.get('/namespaces/:ns/pipelines', { schema: { params: NamespaceParams } }, async (request) => {
    const { ns } = request.params;
    if (!(await deps.policy.canReadNamespace(request.subject, ns))) {
      throw new NotFound('NAMESPACE_NOT_FOUND', `namespace ${ns} not found`);
    }
    return { pipelines: (await deps.runs.listPipelines(ns)).map(pipelineJson) };
  });

  app.post(
    '/namespaces/:ns/pipelines',
    { schema: { params: NamespaceParams, body: PipelineBody } },
    async (request, reply) => {
      const { ns } = request.params;
      await requireRunner(request.subject, ns);
      const saved = await deps.runs.createPipeline({
        ...request.body,
        namespace: ns,
        actor: request.subject.kind === 'user' ? request.subject.name : undefined,
      });
      return reply
        .code(201)
        .header('location', `${request.url.replace(/\/$/, '')}/${encodeURIComponent(saved.name)}`)
        .send({ ...pipelineJson(saved), warnings: saved.warnings });
    },
  );

  app.get('/namespaces/:ns/pipelines/:name', { schema: { params: PipelineParams } }, async (request) => {
    const { ns, name } = request.params;
    return pipelineJson(await pipelineFor(request.subject, ns, name, 'read'));
  });

  app.put(
    '/namespaces/:ns/pipelines/:name',
    { schema: { params: PipelineParams, body: PipelineChanges } },
    async (request) => {
      const { ns, name } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      const saved = await deps.runs.updatePipeline(pipeline.id, request.body);
      return { ...pipelineJson(saved), warnings: saved.warnings };
    },
  );

  app.delete(
    '/namespaces/:ns/pipelines/:name',
    { schema: { params: PipelineParams } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      await deps.runs.deletePipeline(pipeline.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/namespaces/:ns/pipelines/:name/runs',
    { schema: { params: PipelineParams, querystring: RunsQuery } },
    async (request) => {
      const { ns, name } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'read');
      const runs = await deps.runs.listRuns(pipeline.id, {
        limit: request.query.limit,
        beforeNumber: request.query.before,
      });
      return { runs };
    },
  );

  app.post(
    '/namespaces/:ns/pipelines/:name/runs',
    { schema: { params: PipelineParams, body: Type.Optional(ManualRun) } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      const body = request.body ?? {};
      if (body.branch !== undefined && body.tag !== undefined) {
        throw new Invalid('TRIGGER_INVALID', 'give a branch or a tag, not both', { field: 'tag' });
      }
      const source = await sourceOf(body);
      const trigger: RunTrigger = {
        kind: 'manual',
        actor: actor(request.subject),
        context: {
          event: 'manual',
          commit: source.commit,
          repoUrl: body.repo_url ?? '',
          ...(source.branch !== undefined ? { branch: source.branch } : {}),
          ...(body.tag !== undefined ? { tag: body.tag } : {}),
        },
      };
      const run = await deps.runs.startRun(pipeline.id, trigger);
      return reply
        .code(201)
        .header('location', `${request.url.replace(/\/$/, '')}/${run.number}`)
        .send(run);
    },
  );

  app.get(
    '/namespaces/:ns/pipelines/:name/runs/:number',
    { schema: { params: RunParams } },
    async (request) => {
      const { ns, name, number } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'read');
      return deps.runs.getRunByNumber(pipeline.id, number);
    },
  );

  app.post(
    '/namespaces/:ns/pipelines/:name/runs/:number/cancel',
    { schema: { params: RunParams } },
    async (request) => {
      const { ns, name, number } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      const run = await deps.runs.getRunByNumber(pipeline.id, number);
      return deps.runs.cancelRun(run.id, actor(request.subject));
    },
  );

  app.post(
    '/namespaces/:ns/pipelines/:name/runs/:number/rerun',
    { schema: { params: RunParams } },
    async (request, reply) => {
      const { ns, name, number } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      const run = await deps.runs.getRunByNumber(pipeline.id, number);
      return reply.code(201).send(await deps.runs.rerun(run.id, actor(request.subject)));
    },
  );

  app.get(
    '/namespaces/:ns/pipelines/:name/triggers',
    { schema: { params: PipelineParams } },
    async (request) => {
      const { ns, name } = request.params;
      // Trigger settings (a webhook's id is its address) are for those who may change them.
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      return deps.triggers.list(pipeline.id);
    },
  );

  app.post(
    '/namespaces/:ns/pipelines/:name/triggers',
    { schema: { params: PipelineParams, body: TriggerBody } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      const body = request.body;
      const created =
        body.type === 'webhook'
          ? await deps.triggers.createWebhook(pipeline.id, body.provider, { secret: body.secret })
          : body.type === 'cron'
            ? await deps.triggers.createCron(pipeline.id, body)
            : body.type === 'image'
              ? await deps.triggers.createImageTrigger(pipeline.id, {
                  repository: body.repository,
                  tagGlob: body.tag_glob,
                })
              : await deps.triggers.createPipelineTrigger(pipeline.id, {
                  upstreamPipelineId: (await pipelineFor(request.subject, ns, body.upstream, 'read')).id,
                  states: body.states,
                });
      const url = body.type === 'webhook' ? { url: `/api/slipway/v1/hooks/${created.id}` } : {};
      return reply.code(201).send({ type: body.type, ...created, ...url });
    },
  );

  app.delete(
    '/namespaces/:ns/pipelines/:name/triggers/:type/:id',
    { schema: { params: TriggerParams } },
    async (request, reply) => {
      const { ns, name, type, id } = request.params;
      const pipeline = await pipelineFor(request.subject, ns, name, 'write');
      await deps.triggers.delete(pipeline.id, type, id);
      return reply.code(204).send();
    },
  );
};
