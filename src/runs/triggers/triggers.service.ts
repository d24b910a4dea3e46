import type { Clock } from '../../platform/clock.js';
import { Conflict, Invalid, NotFound } from '../../platform/errors.js';
import { newId, randomToken } from '../../platform/ids.js';
import type { SecretBox } from '../../platform/secrets.js';
import { validateRepositoryName } from '../../registry/index.js';
import { globError } from '../model.js';
import { RunNotTriggered } from '../runs.service.js';
import { TERMINAL_STATES, type TerminalState } from '../states.js';
import { assertCron, nextFireTime } from './cron.js';
import type { StartRun } from './start-run.js';
import type {
  CronTriggerRow,
  ImageTriggerRow,
  PipelineTriggerRow,
  TriggersStore,
  WebhookTriggerRow,
} from './triggers.store.js';
import { receiveWebhook, WEBHOOK_PROVIDERS, type WebhookProvider, type WebhookRequest } from './webhooks.js';

export interface WebhookTrigger {
  id: string;
  pipelineId: string;
  provider: WebhookProvider;
  /** Whether requests must be signed (false only for a Bitbucket hook created without a secret). */
  signed: boolean;
  createdAt: number;
}

export interface CronTrigger {
  id: string;
  pipelineId: string;
  schedule: string;
  timezone: string;
  /** Absent: the pipeline's default branch. */
  branch?: string;
  /** The next tick; null when disabled or when the schedule has no tick left. */
  nextFireAt: number | null;
  enabled: boolean;
  createdAt: number;
}

export interface ImageTrigger {
  id: string;
  pipelineId: string;
  repository: string;
  tagGlob: string;
  createdAt: number;
}

export interface PipelineTrigger {
  id: string;
  /** The pipeline that runs. */
  pipelineId: string;
  /** The pipeline whose runs' end starts it. */
  upstreamPipelineId: string;
  states: TerminalState[];
  createdAt: number;
}

export type TriggerType = 'webhook' | 'cron' | 'image' | 'pipeline';

/** What a webhook request did: runs started (one per pushed ref), or why none. */
export type WebhookResult = { runIds: [string, ...string[]] } | { ignored: string };

export interface TriggersDependencies {
  store: TriggersStore;
  secrets: SecretBox;
  startRun: StartRun;
  clock: Clock;
  /** Whether a pipeline exists; a trigger of an unknown pipeline is refused. */
  pipelineExists: (pipelineId: string) => Promise<boolean>;
}

const TABLES = {
  webhook: 'webhook_triggers',
  cron: 'cron_triggers',
  image: 'image_triggers',
  pipeline: 'pipeline_triggers',
} as const;

/**
 * Use cases of pipeline triggers: defining them, and receiving a webhook. Webhook secrets are sealed at rest;
 * a received request is verified with the secret before its body is read (see `webhooks.ts`), and every run
 * starts through the one `startRun`. Callers authorize: this service does not know who asks.
 */
export class TriggersService {
  constructor(private readonly deps: TriggersDependencies) {}

  /**
   * Verifies and maps a request sent to webhook trigger `triggerId` and starts its runs. Throws `NotFound`
   * for an unknown trigger, `Unauthenticated` for a bad signature (nothing starts), `Invalid` for a payload
   * that cannot be read. An event the pipeline's `when` turns down (`RunNotTriggered`) is ignored, not an
   * error.
   */
  async receiveWebhook(triggerId: string, request: WebhookRequest): Promise<WebhookResult> {
    const row = await this.deps.store.findWebhook(triggerId);
    if (!row) throw new NotFound('TRIGGER_NOT_FOUND', `webhook trigger ${triggerId} does not exist`);
    const secret = row.secret_sealed === null ? null : this.deps.secrets.open(row.secret_sealed);
    const outcome = receiveWebhook(row.provider as WebhookProvider, request, secret);
    if ('ignore' in outcome) return { ignored: outcome.ignore };
    const runIds: string[] = [];
    const declined: string[] = [];
    for (const context of outcome.contexts) {
      try {
        runIds.push((await this.deps.startRun(row.pipeline_id, { kind: 'webhook', context })).id);
      } catch (error) {
        // The pipeline's own conditions turned the event down: the sender did nothing wrong.
        if (!(error instanceof RunNotTriggered)) throw error;
        declined.push(error.message);
      }
    }
    const [first, ...rest] = runIds;
    return first === undefined ? { ignored: declined.join('; ') } : { runIds: [first, ...rest] };
  }

  /**
   * Adds a webhook trigger. Without `secret` a random one is made; `secret: null` (Bitbucket only) accepts
   * unsigned requests, as Bitbucket Cloud hooks without a secret send them. Returns the secret to configure
   * at the provider.
   */
  async createWebhook(
    pipelineId: string,
    provider: string,
    options: { secret?: string | null } = {},
  ): Promise<WebhookTrigger & { secret: string | null }> {
    if (!(WEBHOOK_PROVIDERS as readonly string[]).includes(provider))
      throw new Invalid('TRIGGER_INVALID', `unknown webhook provider "${provider}"`, { field: 'provider' });
    if (options.secret === null && provider !== 'bitbucket')
      throw new Invalid('TRIGGER_INVALID', `a ${provider} webhook needs a secret`, { field: 'secret' });
    if (options.secret === '')
      throw new Invalid('TRIGGER_INVALID', 'the webhook secret is empty', { field: 'secret' });
    await this.requirePipeline(pipelineId);
    const secret = options.secret === undefined ? randomToken(20) : options.secret;
    const row: WebhookTriggerRow = {
      id: newId(),
      pipeline_id: pipelineId,
      provider,
      secret_sealed: secret === null ? null : this.deps.secrets.seal(secret),
      created_at: this.deps.clock.now(),
    };
    await this.deps.store.insertWebhook(row);
    return { ...webhookView(row), secret };
  }

  /** The secret of a webhook trigger, to show to whoever configures the provider. */
  async webhookSecret(pipelineId: string, id: string): Promise<string | null> {
    const row = await this.deps.store.findWebhook(id);
    if (!row || row.pipeline_id !== pipelineId) throw triggerNotFound('webhook', id);
    return row.secret_sealed === null ? null : this.deps.secrets.open(row.secret_sealed);
  }

  /** Adds a cron trigger; its first tick is the first after now. `timezone` defaults to UTC. */
  async createCron(
    pipelineId: string,
    input: { schedule: string; timezone?: string; branch?: string; enabled?: boolean },
  ): Promise<CronTrigger> {
    const timezone = input.timezone ?? 'UTC';
    assertCron(input.schedule, timezone);
    await this.requirePipeline(pipelineId);
    const now = this.deps.clock.now();
    const enabled = input.enabled ?? true;
    const row: CronTriggerRow = {
      id: newId(),
      pipeline_id: pipelineId,
      schedule: input.schedule,
      timezone,
      branch: input.branch || null,
      next_fire_at: enabled ? nextFireTime(input.schedule, timezone, now) : null,
      enabled: enabled ? 1 : 0,
      created_at: now,
    };
    await this.deps.store.insertCron(row);
    return cronView(row);
  }

  /**
   * Changes a cron trigger. A changed schedule or time zone, or enabling it, moves its next tick to the first
   * after now; disabling clears it.
   */
  async updateCron(
    pipelineId: string,
    id: string,
    changes: { schedule?: string; timezone?: string; branch?: string | null; enabled?: boolean },
  ): Promise<CronTrigger> {
    const row = await this.deps.store.findCron(id);
    if (!row || row.pipeline_id !== pipelineId) throw triggerNotFound('cron', id);
    const schedule = changes.schedule ?? row.schedule;
    const timezone = changes.timezone ?? row.timezone;
    assertCron(schedule, timezone);
    const enabled = changes.enabled ?? row.enabled === 1;
    const rescheduled =
      schedule !== row.schedule || timezone !== row.timezone || (enabled && row.enabled !== 1);
    const next = !enabled
      ? null
      : rescheduled
        ? nextFireTime(schedule, timezone, this.deps.clock.now())
        : row.next_fire_at;
    const updated: CronTriggerRow = {
      ...row,
      schedule,
      timezone,
      branch: changes.branch === undefined ? row.branch : changes.branch || null,
      enabled: enabled ? 1 : 0,
      next_fire_at: next,
    };
    await this.deps.store.updateCron(id, {
      schedule,
      timezone,
      branch: updated.branch,
      enabled: updated.enabled,
      next_fire_at: next,
    });
    return cronView(updated);
  }

  /** Adds an image trigger: a push to `repository` under a tag matching `tagGlob` starts a run. */
  async createImageTrigger(
    pipelineId: string,
    input: { repository: string; tagGlob: string },
  ): Promise<ImageTrigger> {
    try {
      validateRepositoryName(input.repository);
    } catch {
      throw new Invalid('TRIGGER_INVALID', `"${input.repository}" is not a repository name`, {
        field: 'repository',
      });
    }
    const problem = globError(input.tagGlob);
    if (problem)
      throw new Invalid('TRIGGER_INVALID', `tag glob "${input.tagGlob}": ${problem}`, { field: 'tagGlob' });
    await this.requirePipeline(pipelineId);
    const row: ImageTriggerRow = {
      id: newId(),
      pipeline_id: pipelineId,
      repository: input.repository,
      tag_glob: input.tagGlob,
      created_at: this.deps.clock.now(),
    };
    await this.deps.store.insertImage(row);
    return imageView(row);
  }

  /**
   * Makes `pipelineId` run when a run of `upstreamPipelineId` ends in one of `states` (default: success).
   * Refuses a trigger that would close a loop of pipelines starting each other.
   */
  async createPipelineTrigger(
    pipelineId: string,
    input: { upstreamPipelineId: string; states?: string[] },
  ): Promise<PipelineTrigger> {
    const states = [...new Set(input.states ?? ['success'])];
    const unknown = states.find((s) => !(TERMINAL_STATES as readonly string[]).includes(s));
    if (states.length === 0 || unknown !== undefined)
      throw new Invalid(
        'TRIGGER_INVALID',
        `states must be terminal run states (${TERMINAL_STATES.join(', ')})${unknown ? `, not "${unknown}"` : ''}`,
        { field: 'states' },
      );
    await this.requirePipeline(pipelineId);
    await this.requirePipeline(input.upstreamPipelineId);
    if (await this.wouldLoop(pipelineId, input.upstreamPipelineId))
      throw new Conflict(
        'TRIGGER_LOOP',
        `pipeline ${input.upstreamPipelineId} already follows pipeline ${pipelineId}, directly or through others`,
      );
    const row: PipelineTriggerRow = {
      id: newId(),
      pipeline_id: pipelineId,
      upstream_pipeline_id: input.upstreamPipelineId,
      states: states.join(','),
      created_at: this.deps.clock.now(),
    };
    await this.deps.store.insertPipeline(row);
    return pipelineView(row);
  }

  /** The triggers of every type of a pipeline. */
  async list(pipelineId: string): Promise<{
    webhooks: WebhookTrigger[];
    crons: CronTrigger[];
    images: ImageTrigger[];
    pipelines: PipelineTrigger[];
  }> {
    const rows = await this.deps.store.ofPipeline(pipelineId);
    return {
      webhooks: rows.webhooks.map(webhookView),
      crons: rows.crons.map(cronView),
      images: rows.images.map(imageView),
      pipelines: rows.pipelines.map(pipelineView),
    };
  }

  async delete(pipelineId: string, type: TriggerType, id: string): Promise<void> {
    if (!(await this.deps.store.delete(TABLES[type], pipelineId, id))) throw triggerNotFound(type, id);
  }

  private async requirePipeline(pipelineId: string): Promise<void> {
    if (!(await this.deps.pipelineExists(pipelineId)))
      throw new NotFound('PIPELINE_NOT_FOUND', `pipeline ${pipelineId} does not exist`);
  }

  /** Whether `upstream` follows `follower` already (so the new edge would close a loop). */
  private async wouldLoop(follower: string, upstream: string): Promise<boolean> {
    if (follower === upstream) return true;
    const upstreamsOf = new Map<string, string[]>();
    for (const edge of await this.deps.store.pipelineEdges())
      upstreamsOf.set(edge.pipeline_id, [
        ...(upstreamsOf.get(edge.pipeline_id) ?? []),
        edge.upstream_pipeline_id,
      ]);
    const seen = new Set<string>();
    const queue = [upstream];
    while (queue.length > 0) {
      const current = queue.pop() as string;
      if (current === follower) return true;
      if (seen.has(current)) continue;
      seen.add(current);
      queue.push(...(upstreamsOf.get(current) ?? []));
    }
    return false;
  }
}

function triggerNotFound(type: TriggerType, id: string): NotFound {
  return new NotFound('TRIGGER_NOT_FOUND', `${type} trigger ${id} does not exist`);
}

function webhookView(row: WebhookTriggerRow): WebhookTrigger {
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    provider: row.provider as WebhookProvider,
    signed: row.secret_sealed !== null,
    createdAt: row.created_at,
  };
}

function cronView(row: CronTriggerRow): CronTrigger {
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    schedule: row.schedule,
    timezone: row.timezone,
    ...(row.branch ? { branch: row.branch } : {}),
    nextFireAt: row.next_fire_at,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
  };
}

function imageView(row: ImageTriggerRow): ImageTrigger {
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    repository: row.repository,
    tagGlob: row.tag_glob,
    createdAt: row.created_at,
  };
}

function pipelineView(row: PipelineTriggerRow): PipelineTrigger {
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    upstreamPipelineId: row.upstream_pipeline_id,
    states: row.states.split(',') as TerminalState[],
    createdAt: row.created_at,
  };
}
