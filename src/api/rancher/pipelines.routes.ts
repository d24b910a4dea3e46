/**
 * Pipelines, pipeline histories (runs) and pipeline logs of a Rancher project (`local:<namespace>`), in both
 * generations' words: tech-preview specs (`stages`, `triggers`) and 2.1+ pipelines as code (`repositoryUrl`).
 *
 * Reading needs `canReadNamespace` (a project the caller may not read is a 404, as a missing one); writing
 * (create, update, delete, run, activate, deactivate, stop, rerun) needs `canRunPipelines` (403 otherwise).
 * A pipeline log (`<historyId>-<stage>-<step>`) is the whole output so far of that Rancher step; opened as a
 * WebSocket, the same URL streams it live: the line messages of the native log socket, then `{type: "end"}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { Denied, Invalid, NotFound } from '../../platform/errors.js';
import { cicdEnvironment } from '../../runs/definition/rancher-yaml.js';
import type { JobView, RunDetail } from '../../runs/runs.service.js';
import type { RancherPipeline, RancherPipelineInput } from '../../runs/rancher/rancher-pipelines.service.js';
import { deriveRunState, isTerminal } from '../../runs/states.js';
import { lineView, sendMessage, streamOverSocket } from '../runs/log-stream.routes.js';
import {
  actionNotAvailable,
  apiRoot,
  collection,
  compact,
  normanTime,
  requestedAction,
  resource,
  type NormanResource,
} from './norman.js';
import type { RancherDeps } from './plugin.js';
import { rancherState } from './states.js';

type Params = { projectId: string; id?: string };
type Query = Record<string, string | undefined>;

const PROJECT = /^local:([^:/]+)$/;
const LOG_ID = /^(.+)-(\d{1,4})-(\d{1,4})$/;
const JOB_NAME = /^step-(\d+)-(\d+)$/;

/** A Rancher step of a run: the job that ran it and its ordinals. */
interface RancherStep {
  stage: number;
  step: number;
  job: JobView;
}

/** Rancher's stages of a run: Slipway's stages, each job one step (`step-<stage>-<step>`), in order. */
function rancherSteps(run: RunDetail): RancherStep[][] {
  const stages: RancherStep[][] = [];
  for (const job of run.jobs) {
    const named = JOB_NAME.exec(job.name);
    const stage = (stages[job.stageIndex] ??= []);
    stage.push({ stage: job.stageIndex, step: named ? Number(named[2]) : stage.length, job });
  }
  return stages.map((steps) => (steps ?? []).sort((a, b) => a.step - b.step));
}

const known = (times: (number | undefined)[]) => times.filter((t): t is number => t !== undefined);
const earliest = (times: (number | undefined)[]) =>
  known(times).length ? Math.min(...known(times)) : undefined;
const latest = (times: (number | undefined)[]) =>
  known(times).length ? Math.max(...known(times)) : undefined;

function triggerType(kind: RunDetail['trigger']['kind']): 'manual' | 'cron' | 'webhook' {
  return kind === 'manual' || kind === 'cron' ? kind : 'webhook';
}

export async function pipelineRoutes(app: FastifyInstance, deps: RancherDeps): Promise<void> {
  const service = deps.rancherPipelines;
  const projectUrl = (request: FastifyRequest, namespace: string) =>
    `${apiRoot(request, deps.publicUrl)}/projects/local:${namespace}`;

  /** The namespace of a project the caller may read; NotFound, as for a missing one, otherwise. */
  async function readableProject(request: FastifyRequest, projectId: string | undefined): Promise<string> {
    const namespace = PROJECT.exec(projectId ?? '')?.[1];
    if (!namespace || !(await deps.policy.canReadNamespace(request.subject, namespace)))
      throw new NotFound('NotFound', `project ${JSON.stringify(projectId ?? '')} not found`);
    return namespace;
  }

  /** `readableProject` of `?projectId=`, which the top-level collections (`/v3/pipelines`, ...) require. */
  async function queriedProject(request: FastifyRequest<{ Querystring: Query }>): Promise<string> {
    if (!request.query.projectId)
      throw new Invalid('MissingRequired', 'projectId: this collection is listed per project', {
        field: 'projectId',
      });
    return readableProject(request, request.query.projectId);
  }

  const mayWrite = (request: FastifyRequest, namespace: string) =>
    deps.policy.canRunPipelines(request.subject, namespace);

  async function requireWrite(request: FastifyRequest, namespace: string): Promise<void> {
    if (!(await mayWrite(request, namespace)))
      throw new Denied(
        'PermissionDenied',
        `not allowed to change the pipelines of project local:${namespace}`,
      );
  }

  /** A Rancher pipeline of the namespace; NotFound for others' and for pipelines not made through /v3. */
  async function pipelineIn(namespace: string, id: string): Promise<RancherPipeline> {
    const pipeline = await service.find(id);
    if (!pipeline || pipeline.pipeline.namespace !== namespace)
      throw new NotFound('NotFound', `pipeline ${JSON.stringify(id)} not found`);
    return pipeline;
  }

  /** A run of a Rancher pipeline of the namespace, with that pipeline. */
  async function historyIn(
    namespace: string,
    id: string,
  ): Promise<{ run: RunDetail; pipeline: RancherPipeline }> {
    const run = await deps.runs.getRun(id).catch((error: unknown) => {
      if (error instanceof NotFound) return undefined;
      throw error;
    });
    const pipeline = run && run.namespace === namespace ? await service.find(run.pipelineId) : undefined;
    if (!run || !pipeline) throw new NotFound('NotFound', `pipeline history ${JSON.stringify(id)} not found`);
    return { run, pipeline };
  }

  function specFields(p: RancherPipeline) {
    return p.form === 'stages'
      ? { stages: p.stages, triggers: p.triggers }
      : compact({
          repositoryUrl: p.repositoryUrl,
          triggerWebhookPush: p.triggerWebhookPush,
          triggerWebhookPr: p.triggerWebhookPr,
          triggerWebhookTag: p.triggerWebhookTag,
          sourceCodeCredentialName: p.sourceCodeCredentialName,
        });
  }

  async function pipelineView(
    request: FastifyRequest,
    p: RancherPipeline,
    write: boolean,
  ): Promise<NormanResource> {
    const namespace = p.pipeline.namespace;
    const self = `${projectUrl(request, namespace)}/pipelines/${p.pipeline.id}`;
    const [last] = await deps.runs.listRuns(p.pipeline.id, { limit: 1 });
    const webhookUrl =
      p.webhook && `${new URL(apiRoot(request, deps.publicUrl)).origin}/api/slipway/v1/hooks/${p.webhook.id}`;
    const token = write ? (p.webhook?.secret ?? undefined) : undefined;
    const status = compact({
      pipelineState: p.active ? 'active' : 'inactive',
      nextRunNumber: p.pipeline.lastRunNumber + 1,
      nextRun: p.pipeline.lastRunNumber + 1,
      lastRunId: last?.id,
      lastExecutionId: last?.id,
      lastRunState: last && rancherState(last.state),
      lastRunTime: normanTime(last?.createdAt),
      lastStarted: normanTime(last?.createdAt),
      nextRunTime: normanTime(p.cron?.nextFireAt),
      nextStart: normanTime(p.cron?.nextFireAt),
      webhookId: p.webhook?.id,
      webhookUrl,
      webhookToken: token,
      token,
    });
    return resource(
      'pipeline',
      self,
      compact({
        id: p.pipeline.id,
        name: p.displayName,
        displayName: p.displayName,
        projectId: `local:${namespace}`,
        projectName: `local:${namespace}`,
        created: normanTime(p.createdAt),
        createdTS: p.createdAt,
        creatorId: p.createdBy,
        state: p.active ? 'active' : 'inactive',
        active: p.active,
        ...specFields(p),
        status,
      }),
      {
        update: write,
        remove: write,
        actions: write ? ['run', 'export', p.active ? 'deactivate' : 'activate'] : ['export'],
        links: {
          pipelinehistories: `${projectUrl(request, namespace)}/pipelinehistories?pipelineId=${p.pipeline.id}`,
          yaml: `${self}/yaml`,
        },
      },
    );
  }

  async function historyView(request: FastifyRequest, run: RunDetail, p: RancherPipeline, write: boolean) {
    const namespace = run.namespace;
    const base = projectUrl(request, namespace);
    const self = `${base}/pipelinehistories/${run.id}`;
    const { context } = run.trigger;
    const stageStatus = rancherSteps(run).map((steps) => {
      const jobs = steps.map((s) => s.job);
      return compact({
        state: rancherState(deriveRunState(jobs.map((j) => j.state))),
        startTime: normanTime(earliest(jobs.map((j) => j.startedAt))),
        endTime: jobs.every((j) => isTerminal(j.state))
          ? normanTime(latest(jobs.map((j) => j.finishedAt)))
          : undefined,
        stepStatus: steps.map((s) =>
          compact({
            state: rancherState(s.job.state),
            startTime: normanTime(s.job.startedAt),
            endTime: normanTime(s.job.finishedAt),
            ...(s.job.reason ? { message: s.job.reason } : {}),
          }),
        ),
      });
    });
    const startTime = normanTime(run.startedAt ?? run.jobs.find((j) => j.startedAt)?.startedAt);
    return resource(
      'pipelineHistory',
      self,
      compact({
        id: run.id,
        name: `${p.displayName}-${run.number}`,
        projectId: `local:${namespace}`,
        projectName: `local:${namespace}`,
        pipelineId: run.pipelineId,
        created: normanTime(run.createdAt),
        createdTS: run.createdAt,
        creatorId: run.trigger.actor,
        displayName: `${p.displayName}-${run.number}`,
        runNumber: run.number,
        triggerType: triggerType(run.trigger.kind),
        triggerUserName: run.trigger.actor,
        branch: context.branch,
        commit: context.commit || undefined,
        event: context.event,
        repositoryUrl: context.repoUrl || undefined,
        pipeline: { displayName: p.displayName, active: p.active, ...specFields(p) },
        state: rancherState(run.state),
        status: compact({
          commitInfo: context.commit || undefined,
          envVars: cicdEnvironment(context, {
            pipelineId: run.pipelineId,
            number: run.number,
            projectId: `local:${namespace}`,
            clusterId: 'local',
            triggerType:
              run.trigger.kind === 'manual'
                ? 'user'
                : triggerType(run.trigger.kind) === 'cron'
                  ? 'cron'
                  : 'webhook',
          }),
          state: rancherState(run.state),
          startTime,
          endTime: normanTime(run.finishedAt),
          reason: run.reason,
          stageStatus,
        }),
      }),
      {
        remove: false,
        actions: write ? (isTerminal(run.state) ? ['rerun'] : ['stop']) : [],
        links: {
          pipeline: `${base}/pipelines/${run.pipelineId}`,
          pipelinelogs: `${base}/pipelinelogs?pipelineHistoryId=${run.id}`,
        },
      },
    );
  }

  /** The Rancher step `stage`/`step` of a run. */
  function stepOf(run: RunDetail, stage: number, step: number): RancherStep {
    const found = rancherSteps(run)[stage]?.find((s) => s.step === step);
    if (!found) throw new NotFound('NotFound', `pipeline log ${run.id}-${stage}-${step} not found`);
    return found;
  }

  async function logView(request: FastifyRequest, run: RunDetail, p: RancherPipeline, s: RancherStep) {
    const base = projectUrl(request, run.namespace);
    const id = `${run.id}-${s.stage}-${s.step}`;
    const texts: string[] = [];
    for (const step of s.job.steps) {
      const page = await deps.stepLogs.read(step.id).catch(() => undefined);
      if (page) texts.push(...page.lines.map((line) => line.data.toString('utf8')));
    }
    const native = `${new URL(apiRoot(request, deps.publicUrl)).origin}/api/slipway/v1/logs`;
    const first = s.job.steps[0];
    return resource(
      'pipelineLog',
      `${base}/pipelinelogs/${id}`,
      compact({
        id,
        projectId: `local:${run.namespace}`,
        projectName: `local:${run.namespace}`,
        pipelineHistoryId: run.id,
        pipelineHistoryName: `${p.displayName}-${run.number}`,
        stageOrdinal: s.stage,
        stepOrdinal: s.step,
        state: rancherState(s.job.state),
        message: texts.length > 0 ? `${texts.join('\n')}\n` : '',
        // The native streams of each Slipway step of this Rancher step (a publish step builds, then pushes).
        streams: s.job.steps.map((step) => `${native}/${step.id}/stream`),
      }),
      {
        links: compact({
          pipelineHistory: `${base}/pipelinehistories/${run.id}`,
          stream: first && `${native}/${first.id}/stream`,
        }) as Record<string, string>,
      },
    );
  }

  const body = (request: FastifyRequest): Record<string, unknown> => {
    const raw = request.body;
    if (raw === undefined || raw === null) return {};
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw new Invalid('InvalidBodyContent', 'the request body must be a JSON object');
    // Accept the CRD form `{spec: {...}}` as well as Norman's flattened one.
    const { spec, ...rest } = raw as Record<string, unknown>;
    return typeof spec === 'object' && spec !== null
      ? { ...rest, ...(spec as Record<string, unknown>) }
      : rest;
  };

  const pipelineInput = (fields: Record<string, unknown>): RancherPipelineInput => {
    const bool = (key: string): boolean | undefined => {
      const v = fields[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'boolean')
        throw new Invalid('InvalidFormat', `${key}: must be true or false`, { field: key });
      return v;
    };
    const str = (key: string): string | undefined => {
      const v = fields[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string')
        throw new Invalid('InvalidFormat', `${key}: must be a string`, { field: key });
      return v;
    };
    const displayName = str('displayName') ?? str('name');
    if (!displayName)
      throw new Invalid('MissingRequired', 'displayName: is required', { field: 'displayName' });
    return compact({
      displayName,
      active: bool('active'),
      stages: fields.stages,
      triggers: fields.triggers,
      repositoryUrl: str('repositoryUrl'),
      triggerWebhookPush: bool('triggerWebhookPush'),
      triggerWebhookPr: bool('triggerWebhookPr'),
      triggerWebhookTag: bool('triggerWebhookTag'),
      sourceCodeCredentialName: str('sourceCodeCredentialName'),
    }) as RancherPipelineInput;
  };

  const actor = (request: FastifyRequest) =>
    request.subject.kind === 'anonymous' ? undefined : request.subject.name;

  // ---------------------------------------------------------------------------------------------------------
  // Pipelines

  const listPipelines = async (request: FastifyRequest, namespace: string) => {
    const write = await mayWrite(request, namespace);
    const pipelines = await service.list(namespace);
    const data = await Promise.all(pipelines.map((p) => pipelineView(request, p, write)));
    return collection('pipeline', `${projectUrl(request, namespace)}/pipelines`, data, { create: write });
  };

  app.get('/projects/:projectId/pipelines', async (request: FastifyRequest<{ Params: Params }>) =>
    listPipelines(request, await readableProject(request, request.params.projectId)),
  );
  app.get('/pipelines', async (request: FastifyRequest<{ Querystring: Query }>) =>
    listPipelines(request, await queriedProject(request)),
  );

  app.post(
    '/projects/:projectId/pipelines',
    async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const namespace = await readableProject(request, request.params.projectId);
      const action = requestedAction(request);
      if (action !== undefined) throw actionNotAvailable(action);
      await requireWrite(request, namespace);
      const created = await service.create(namespace, pipelineInput(body(request)), actor(request));
      return reply.code(201).send(await pipelineView(request, created, true));
    },
  );

  app.get('/projects/:projectId/pipelines/:id', async (request: FastifyRequest<{ Params: Params }>) => {
    const namespace = await readableProject(request, request.params.projectId);
    const p = await pipelineIn(namespace, request.params.id!);
    return pipelineView(request, p, await mayWrite(request, namespace));
  });

  app.get(
    '/projects/:projectId/pipelines/:id/yaml',
    async (request: FastifyRequest<{ Params: Params }>, reply) => {
      const namespace = await readableProject(request, request.params.projectId);
      const p = await pipelineIn(namespace, request.params.id!);
      return reply
        .header('content-type', 'application/x-yaml; charset=utf-8')
        .send(await service.export(p.pipeline.id));
    },
  );

  app.put('/projects/:projectId/pipelines/:id', async (request: FastifyRequest<{ Params: Params }>) => {
    const namespace = await readableProject(request, request.params.projectId);
    const p = await pipelineIn(namespace, request.params.id!);
    await requireWrite(request, namespace);
    const updated = await service.update(p.pipeline.id, pipelineInput(body(request)), actor(request));
    return pipelineView(request, updated, true);
  });

  app.delete('/projects/:projectId/pipelines/:id', async (request: FastifyRequest<{ Params: Params }>) => {
    const namespace = await readableProject(request, request.params.projectId);
    const p = await pipelineIn(namespace, request.params.id!);
    await requireWrite(request, namespace);
    const view = await pipelineView(request, p, true);
    await service.delete(p.pipeline.id);
    return { ...view, state: 'removing' };
  });

  app.post(
    '/projects/:projectId/pipelines/:id',
    async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const namespace = await readableProject(request, request.params.projectId);
      const p = await pipelineIn(namespace, request.params.id!);
      const action = requestedAction(request);
      if (action === 'export') {
        return reply
          .header('content-type', 'application/x-yaml; charset=utf-8')
          .send(await service.export(p.pipeline.id));
      }
      if (action !== 'run' && action !== 'activate' && action !== 'deactivate')
        throw actionNotAvailable(action);
      await requireWrite(request, namespace);
      if (action === 'run') {
        const input = body(request);
        const branch = input.branch;
        if (branch !== undefined && branch !== null && (typeof branch !== 'string' || branch === ''))
          throw new Invalid('InvalidFormat', 'branch: must be a branch name', { field: 'branch' });
        const run = await service.run(p.pipeline.id, {
          branch: (branch as string | undefined) ?? undefined,
          actor: actor(request),
        });
        return historyView(request, run, p, true);
      }
      if (action === 'activate' && p.active)
        throw new Invalid('InvalidState', 'the pipeline is already active');
      if (action === 'deactivate' && !p.active)
        throw new Invalid('InvalidState', 'the pipeline is already inactive');
      return pipelineView(request, await service.setActive(p.pipeline.id, action === 'activate'), true);
    },
  );

  // ---------------------------------------------------------------------------------------------------------
  // Pipeline histories

  const listHistories = async (request: FastifyRequest<{ Querystring: Query }>, namespace: string) => {
    const write = await mayWrite(request, namespace);
    const { pipelineId } = request.query;
    const pipelines = pipelineId ? [await pipelineIn(namespace, pipelineId)] : await service.list(namespace);
    const data: NormanResource[] = [];
    for (const p of pipelines) {
      for (const summary of await deps.runs.listRuns(p.pipeline.id, { limit: 50 })) {
        data.push(await historyView(request, await deps.runs.getRun(summary.id), p, write));
      }
    }
    data.sort((a, b) => Number(b.createdTS) - Number(a.createdTS));
    return collection('pipelineHistory', `${projectUrl(request, namespace)}/pipelinehistories`, data);
  };

  app.get(
    '/projects/:projectId/pipelinehistories',
    async (request: FastifyRequest<{ Params: Params; Querystring: Query }>) =>
      listHistories(request, await readableProject(request, request.params.projectId)),
  );
  app.get('/pipelinehistories', async (request: FastifyRequest<{ Querystring: Query }>) =>
    listHistories(request, await queriedProject(request)),
  );

  app.get(
    '/projects/:projectId/pipelinehistories/:id',
    async (request: FastifyRequest<{ Params: Params }>) => {
      const namespace = await readableProject(request, request.params.projectId);
      const { run, pipeline } = await historyIn(namespace, request.params.id!);
      return historyView(request, run, pipeline, await mayWrite(request, namespace));
    },
  );

  app.post(
    '/projects/:projectId/pipelinehistories/:id',
    async (request: FastifyRequest<{ Params: Params }>) => {
      const namespace = await readableProject(request, request.params.projectId);
      const { run, pipeline } = await historyIn(namespace, request.params.id!);
      const action = requestedAction(request);
      if (action !== 'stop' && action !== 'rerun') throw actionNotAvailable(action);
      await requireWrite(request, namespace);
      if (action === 'stop') {
        if (isTerminal(run.state))
          throw new Invalid('InvalidState', `the run has already ended: ${run.state}`);
        return historyView(request, await deps.runs.cancelRun(run.id, actor(request)), pipeline, true);
      }
      if (!isTerminal(run.state)) throw new Invalid('InvalidState', 'the run has not ended: stop it first');
      return historyView(request, await deps.runs.rerun(run.id, actor(request)), pipeline, true);
    },
  );

  // ---------------------------------------------------------------------------------------------------------
  // Pipeline logs

  const ordinal = (value: string | undefined, field: string): number | undefined => {
    if (value === undefined || value === '') return undefined;
    if (!/^\d{1,4}$/.test(value)) throw new Invalid('InvalidFormat', `${field}: must be a number`, { field });
    return Number(value);
  };

  app.get(
    '/projects/:projectId/pipelinelogs',
    async (request: FastifyRequest<{ Params: Params; Querystring: Query }>) => {
      const namespace = await readableProject(request, request.params.projectId);
      const historyId = request.query.pipelineHistoryId;
      if (!historyId)
        throw new Invalid('MissingRequired', 'pipelineHistoryId: logs are listed per pipeline history', {
          field: 'pipelineHistoryId',
        });
      const stage = ordinal(request.query.stageOrdinal, 'stageOrdinal');
      const step = ordinal(request.query.stepOrdinal, 'stepOrdinal');
      const { run, pipeline } = await historyIn(namespace, historyId);
      const steps = rancherSteps(run)
        .flat()
        .filter((s) => (stage === undefined || s.stage === stage) && (step === undefined || s.step === step));
      const data = await Promise.all(steps.map((s) => logView(request, run, pipeline, s)));
      return collection('pipelineLog', `${projectUrl(request, namespace)}/pipelinelogs`, data);
    },
  );

  /** The run and Rancher step a log id names, after checking the caller may read them. */
  async function logTarget(request: FastifyRequest<{ Params: Params }>) {
    const namespace = await readableProject(request, request.params.projectId);
    const parsed = LOG_ID.exec(request.params.id ?? '');
    if (!parsed)
      throw new NotFound('NotFound', `pipeline log ${JSON.stringify(request.params.id)} not found`);
    const { run, pipeline } = await historyIn(namespace, parsed[1]!);
    return { run, pipeline, step: stepOf(run, Number(parsed[2]), Number(parsed[3])) };
  }

  /**
   * Aborts with `signal`, or a while after the step has ended: a step that never ran (skipped, cancelled before
   * its turn) has no log that would ever close, and its followers must not wait for one.
   */
  function endedSignal(
    runId: string,
    stepId: string,
    signal: AbortSignal,
  ): { signal: AbortSignal; dispose: () => void } {
    const controller = new AbortController();
    const stop = () => {
      clearInterval(timer);
      controller.abort();
    };
    signal.addEventListener('abort', stop, { once: true });
    let endedAt: number | undefined;
    const timer = setInterval(() => {
      void deps.runs.getRun(runId).then(
        (current) => {
          const state = current.jobs.flatMap((j) => j.steps).find((st) => st.id === stepId)?.state;
          if (state === undefined || isTerminal(state)) endedAt ??= Date.now();
          if (endedAt !== undefined && Date.now() - endedAt >= 2000) stop();
        },
        () => stop(),
      );
    }, 500);
    return {
      signal: controller.signal,
      dispose: () => {
        clearInterval(timer);
        signal.removeEventListener('abort', stop);
      },
    };
  }

  const targets = new WeakMap<FastifyRequest, Awaited<ReturnType<typeof logTarget>>>();
  // Streams still open when the server closes end now, so that closing does not wait for them.
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const controller of open) controller.abort();
  });

  app.route<{ Params: Params }>({
    method: 'GET',
    url: '/projects/:projectId/pipelinelogs/:id',
    // Before a WebSocket is upgraded: a log the caller may not read is refused with a plain HTTP error.
    preHandler: async (request) => {
      targets.set(request, await logTarget(request));
    },
    handler: async (request) => {
      const { run, pipeline, step } = targets.get(request)!;
      return logView(request, run, pipeline, step);
    },
    wsHandler: (socket: WebSocket, request) => {
      const { run, step } = targets.get(request as FastifyRequest)!;
      const failed = (err: unknown) => request.log.error({ err }, 'failed to stream a pipeline log');
      streamOverSocket(socket, open, failed, async (signal) => {
        // A publish step's build, then its push: each Slipway step's log in turn, as one Rancher step's.
        for (const [index, s] of step.job.steps.entries()) {
          const ended = endedSignal(run.id, s.id, signal);
          try {
            for await (const line of deps.stepLogs.follow(s.id, { signal: ended.signal })) {
              await sendMessage(socket, JSON.stringify({ type: 'line', step: index, ...lineView(line) }));
            }
          } finally {
            ended.dispose();
          }
          if (signal.aborted) return;
        }
        await sendMessage(socket, JSON.stringify({ type: 'end' }));
      });
    },
  });
}
