/**
 * Pipelines as Rancher's API defines them, over Slipway's pipelines, runs and triggers: a 2.0 tech-preview spec
 * (stages of typed steps, cron and webhook triggers) stored as the equivalent `.rancher-pipeline.yml`, or a 2.1+
 * pipeline whose definition is the `.rancher-pipeline.yml` in its repository, read at each run's commit. Every
 * run of such a pipeline, whatever starts it, goes through `startRun` here: it fills in the source (repository,
 * branch, commit), reads the definition from the repository when the pipeline has none of its own, and refuses
 * runs of an inactive pipeline. Callers authorize.
 *
 * Private repositories: a pipeline's git credential (`sourceCodeCredentialName`, a git credential of the
 * namespace, or the one a tech-preview `remoteAccountName` becomes: the remote account's token copied into the
 * namespace by `credentialFor`) is used to resolve branches and read the pipeline file, and is set on every
 * checkout step of the pipeline's runs, as long as they clone the pipeline's own repository.
 */
import { Conflict, Invalid, NotFound } from '../../platform/errors.js';
import type { Clock } from '../../platform/clock.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import { checkRepositoryUrl, RepositoryReader } from '../definition/from-repository.js';
import type { GitCredential } from '../credentials/index.js';
import type { NamedGitCredential } from '../git/index.js';
import { gitRef, withCheckoutCredentials, type Pipeline, type TriggerContext } from '../model.js';
import {
  RunNotTriggered,
  type PipelineView,
  type RunDetail,
  type RunsService,
  type RunTrigger,
} from '../runs.service.js';
import { assertCron, type CronTrigger, type TriggersService } from '../triggers/index.js';
import type { RancherPipelineRow, RancherPipelinesStore } from './rancher-pipelines.store.js';
import { convertSpec, readSpecTriggers, type SpecStage, type SpecTriggers } from './spec.js';

/** A definition that only clones: what a repository pipeline shows until its file is read at a run's commit. */
const CLONE_ONLY = 'stages:\n  - name: clone\n    steps:\n      - sourceCodeConfig: {}\n';

/** Rancher's fields of a pipeline, as a client writes them (both generations). */
export interface RancherPipelineInput {
  displayName: string;
  active?: boolean;
  /** Tech preview. */
  stages?: unknown;
  triggers?: unknown;
  /** 2.1+. */
  repositoryUrl?: string;
  triggerWebhookPush?: boolean;
  triggerWebhookPr?: boolean;
  triggerWebhookTag?: boolean;
  sourceCodeCredentialName?: string;
}

export interface RancherPipeline {
  pipeline: PipelineView;
  displayName: string;
  active: boolean;
  form: 'stages' | 'repository';
  stages?: SpecStage[];
  triggers?: SpecTriggers;
  repositoryUrl: string;
  branch?: string;
  triggerWebhookPush: boolean;
  triggerWebhookPr: boolean;
  triggerWebhookTag: boolean;
  sourceCodeCredentialName?: string;
  webhook?: { id: string; secret: string | null };
  cron?: CronTrigger;
  createdBy?: string;
  createdAt: number;
  updatedAt: number;
}

export interface RancherPipelinesDeps {
  store: RancherPipelinesStore;
  runs: RunsService;
  triggers: TriggersService;
  outbound: OutboundPolicy;
  clock: Clock;
  /** Default `git` on PATH. */
  git?: string;
  /** The namespace's git credentials (SourceCredentialsService.open); absent: pipelines may name none. */
  credentials?: (namespace: string, name: string) => Promise<GitCredential | undefined>;
  /** Users' remote accounts (SourceAccountsService); absent: `remoteAccountName` is refused. */
  remoteAccounts?: {
    credentialFor(userName: string, accountName: string, namespace: string): Promise<string>;
  };
}

interface Prepared {
  form: 'stages' | 'repository';
  source: string;
  spec: { stages: SpecStage[]; triggers: SpecTriggers } | null;
  repositoryUrl: string;
  branch: string | null;
  triggers: SpecTriggers;
  /** The git credential the pipeline's repository is read and cloned with. */
  credential: string | null;
}

export class RancherPipelinesService {
  private readonly reader: RepositoryReader;

  constructor(private readonly deps: RancherPipelinesDeps) {
    this.reader = new RepositoryReader({ outbound: deps.outbound, git: deps.git });
  }

  async create(namespace: string, input: RancherPipelineInput, actor?: string): Promise<RancherPipeline> {
    const displayName = checkDisplayName(input.displayName);
    if (await this.deps.store.findByDisplayName(namespace, displayName))
      throw nameTaken(namespace, displayName);
    const prepared = await this.prepare(namespace, input, actor);
    const saved = await this.deps.runs.createPipeline({
      namespace,
      name: displayName,
      dialect: 'rancher',
      source: prepared.source,
      actor,
    });
    try {
      const now = this.deps.clock.now();
      await this.deps.store.insert({
        pipeline_id: saved.id,
        namespace,
        display_name: displayName,
        active: input.active === false ? 0 : 1,
        form: prepared.form,
        spec: prepared.spec && JSON.stringify(prepared.spec),
        repository_url: prepared.repositoryUrl,
        branch: prepared.branch,
        trigger_webhook_push: flag(input.triggerWebhookPush, true),
        trigger_webhook_pr: flag(input.triggerWebhookPr, false),
        trigger_webhook_tag: flag(input.triggerWebhookTag, false),
        source_credential: prepared.credential,
        webhook_id: null,
        cron_id: null,
        created_by: actor ?? null,
        created_at: now,
        updated_at: now,
      });
      await this.syncTriggers(saved.id);
    } catch (error) {
      await this.deps.runs.deletePipeline(saved.id).catch(() => undefined);
      throw error;
    }
    return this.get(saved.id);
  }

  /**
   * Replaces the pipeline's Rancher fields (a PUT): runs already created keep what they were planned from.
   * `actor` is whose remote account a `remoteAccountName` names.
   */
  async update(pipelineId: string, input: RancherPipelineInput, actor?: string): Promise<RancherPipeline> {
    const row = await this.row(pipelineId);
    const displayName = checkDisplayName(input.displayName);
    if (displayName !== row.display_name) {
      const other = await this.deps.store.findByDisplayName(row.namespace, displayName);
      const slipway = await this.deps.runs.findPipelineByName(row.namespace, displayName);
      if (other || (slipway && slipway.id !== pipelineId)) throw nameTaken(row.namespace, displayName);
    }
    const prepared = await this.prepare(row.namespace, input, actor, row);
    await this.deps.runs.updatePipeline(pipelineId, { source: prepared.source, dialect: 'rancher' });
    await this.deps.store.update(pipelineId, {
      display_name: displayName,
      active: input.active === undefined ? row.active : input.active ? 1 : 0,
      form: prepared.form,
      spec: prepared.spec && JSON.stringify(prepared.spec),
      repository_url: prepared.repositoryUrl,
      branch: prepared.branch,
      trigger_webhook_push: flag(input.triggerWebhookPush, row.trigger_webhook_push === 1),
      trigger_webhook_pr: flag(input.triggerWebhookPr, row.trigger_webhook_pr === 1),
      trigger_webhook_tag: flag(input.triggerWebhookTag, row.trigger_webhook_tag === 1),
      source_credential: prepared.credential,
      updated_at: this.deps.clock.now(),
    });
    await this.syncTriggers(pipelineId);
    return this.get(pipelineId);
  }

  async setActive(pipelineId: string, active: boolean): Promise<RancherPipeline> {
    await this.row(pipelineId);
    await this.deps.store.update(pipelineId, { active: active ? 1 : 0, updated_at: this.deps.clock.now() });
    await this.syncTriggers(pipelineId);
    return this.get(pipelineId);
  }

  /** Deletes the pipeline with its triggers and finished runs; Conflict while a run is unfinished. */
  async delete(pipelineId: string): Promise<void> {
    await this.row(pipelineId);
    await this.deps.runs.deletePipeline(pipelineId);
  }

  async get(pipelineId: string): Promise<RancherPipeline> {
    return this.view(await this.row(pipelineId));
  }

  /** The Rancher settings of a pipeline, or undefined for a pipeline made elsewhere. */
  async find(pipelineId: string): Promise<RancherPipeline | undefined> {
    const row = await this.deps.store.find(pipelineId);
    return row && this.view(row);
  }

  async list(namespace: string): Promise<RancherPipeline[]> {
    // One read of the namespace's pipelines rather than one per Rancher pipeline.
    const [rows, pipelines] = await Promise.all([
      this.deps.store.list(namespace),
      this.deps.runs.listPipelines(namespace),
    ]);
    const byId = new Map(pipelines.map((p) => [p.id, p]));
    return Promise.all(rows.map((row) => this.view(row, byId.get(row.pipeline_id))));
  }

  /** A person's run of `branch` (default: the pipeline's). Invalid `PIPELINE_INACTIVE` for an inactive pipeline. */
  async run(pipelineId: string, options: { branch?: string; actor?: string }): Promise<RunDetail> {
    await this.row(pipelineId);
    return this.startRun(pipelineId, {
      kind: 'manual',
      context: {
        event: 'manual',
        commit: '',
        repoUrl: '',
        ...(options.branch ? { branch: options.branch } : {}),
      },
      actor: options.actor,
    });
  }

  /**
   * The one way runs of pipelines start (every trigger calls it): pipelines made elsewhere go straight to
   * `runs.startRun`. For Rancher's: runs of an inactive pipeline are refused (manual: Invalid; triggers:
   * `RunNotTriggered`, which they ignore), webhook events the pipeline does not take are declined, the source
   * is filled in (repository; branch and commit from `git ls-remote` when the trigger knows none), and a
   * repository pipeline's definition is read at the commit.
   */
  async startRun(pipelineId: string, trigger: Omit<RunTrigger, 'rerunOf'>): Promise<RunDetail> {
    const row = await this.deps.store.find(pipelineId);
    if (!row) return this.deps.runs.startRun(pipelineId, trigger);
    const manual = trigger.kind === 'manual';
    if (row.active !== 1) {
      if (manual)
        throw new Invalid('PIPELINE_INACTIVE', `pipeline ${row.display_name} is inactive: activate it first`);
      throw new RunNotTriggered('the pipeline is inactive');
    }
    if (trigger.kind === 'webhook' && !this.takesEvent(row, trigger.context)) {
      throw new RunNotTriggered(`the pipeline does not run on ${trigger.context.event} webhooks`);
    }
    try {
      const context: TriggerContext = { ...trigger.context };
      if (context.repoUrl === '') context.repoUrl = row.repository_url;
      // The pipeline's credential goes only to the pipeline's own repository, never to a URL a trigger names.
      const credentialName = context.repoUrl === row.repository_url ? row.source_credential : null;
      const credential = credentialName
        ? await this.openCredential(row.namespace, credentialName, 'sourceCodeCredentialName')
        : undefined;
      if (context.commit === '') {
        const branch = context.branch ?? row.branch ?? undefined;
        const resolved = await this.reader
          .resolveBranch(context.repoUrl, branch, credential)
          .catch((error: unknown) => {
            if (error instanceof NotFound) throw new Invalid(error.code, error.message, { field: 'branch' });
            throw error;
          });
        context.commit = resolved.commit;
        if (context.tag === undefined) context.branch = resolved.branch;
      }
      let definition: Pipeline | undefined = trigger.definition;
      if (row.form === 'repository' && definition === undefined) {
        const read = await this.reader
          .read(context.repoUrl, context.commit, {
            ref: gitRef(context) || undefined,
            name: (await this.deps.runs.getPipeline(pipelineId)).name,
            credential,
          })
          .catch((error: unknown) => {
            if (error instanceof NotFound) throw new Invalid(error.code, error.message);
            throw error;
          });
        definition = read.pipeline;
      }
      if (credentialName) {
        definition ??= (await this.deps.runs.getPipeline(pipelineId)).pipeline;
        definition = withCheckoutCredentials(definition, credentialName);
      }
      return await this.deps.runs.startRun(pipelineId, { ...trigger, context, definition });
    } catch (error) {
      // A schedule or a webhook whose commit has no usable definition starts nothing; the sender did no wrong.
      if (!manual && error instanceof Invalid && !(error instanceof RunNotTriggered))
        throw new RunNotTriggered(error.message);
      throw error;
    }
  }

  /** The definition as `.rancher-pipeline.yml` text (for a repository pipeline: the file read at creation). */
  async export(pipelineId: string): Promise<string> {
    await this.row(pipelineId);
    return (await this.deps.runs.getPipeline(pipelineId)).source;
  }

  /** The secret of the pipeline's webhook, for those who configure the sender. */
  async webhookSecret(pipelineId: string): Promise<string | null | undefined> {
    const row = await this.row(pipelineId);
    return row.webhook_id ? this.deps.triggers.webhookSecret(pipelineId, row.webhook_id) : undefined;
  }

  private takesEvent(row: RancherPipelineRow, context: TriggerContext): boolean {
    if (row.form === 'stages') return true; // the tech preview had one switch: the webhook exists or not
    if (context.event === 'tag') return row.trigger_webhook_tag === 1;
    if (context.event === 'pull_request') return row.trigger_webhook_pr === 1;
    return row.trigger_webhook_push === 1;
  }

  /**
   * Checks the input and makes the definition's text: converted from the spec, or read from the repository (with
   * the pipeline's credential). `previous` is the pipeline an update replaces.
   */
  private async prepare(
    namespace: string,
    input: RancherPipelineInput,
    actor: string | undefined,
    previous?: RancherPipelineRow,
  ): Promise<Prepared> {
    const hasStages = input.stages !== undefined && input.stages !== null;
    if (input.repositoryUrl !== undefined && input.repositoryUrl !== '') {
      if (hasStages)
        throw new Invalid(
          'PIPELINE_SPEC_INVALID',
          'stages: a pipeline has stages or a repositoryUrl, not both',
          {
            field: 'stages',
          },
        );
      await checkRepositoryUrl(this.deps.outbound, input.repositoryUrl);
      // A PUT without the field keeps the pipeline's credential (Rancher's UI sends it back only when changed).
      const credentialName = input.sourceCodeCredentialName ?? previous?.source_credential ?? null;
      const credential = credentialName
        ? await this.openCredential(namespace, credentialName, 'sourceCodeCredentialName')
        : undefined;
      const head = await this.reader
        .resolveBranch(input.repositoryUrl, undefined, credential)
        .catch((error: unknown) => {
          throw new Invalid('REPOSITORY_UNREADABLE', `repositoryUrl: ${(error as Error).message}`, {
            field: 'repositoryUrl',
          });
        });
      const source = await this.reader
        .read(input.repositoryUrl, head.commit, { ref: `refs/heads/${head.branch}`, credential })
        .then(
          (read) => read.source,
          (error: unknown) => {
            if (error instanceof NotFound) return CLONE_ONLY; // Rancher let pipelines wait for their file
            throw error;
          },
        );
      return {
        form: 'repository',
        source,
        spec: null,
        repositoryUrl: input.repositoryUrl,
        branch: null,
        triggers: { webhookTrigger: { active: true } },
        credential: credentialName,
      };
    }
    const converted = convertSpec(input.stages);
    const triggers = readSpecTriggers(input.triggers);
    const cron = triggers.cronTrigger;
    if (cron?.expression !== undefined) {
      try {
        assertCron(cron.expression, cron.timezone ?? 'UTC');
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        const field =
          (error.detail as { field?: string } | undefined)?.field === 'timezone' ? 'timezone' : 'expression';
        throw new Invalid('PIPELINE_SPEC_INVALID', `triggers.cronTrigger.${field}: ${error.message}`, {
          field: `triggers.cronTrigger.${field}`,
        });
      }
    }
    await checkRepositoryUrl(
      this.deps.outbound,
      converted.repository,
      'stages[0].steps[0].sourceCodeStepConfig.repository',
    );
    const credential = await this.specCredential(namespace, converted.stages, input, actor, previous);
    return {
      form: 'stages',
      source: converted.yaml,
      spec: { stages: converted.stages, triggers },
      repositoryUrl: converted.repository,
      branch: converted.branch ?? null,
      triggers,
      credential,
    };
  }

  /**
   * The git credential of a tech-preview spec: `sourceCodeCredentialName` when given, else the one its sourcecode
   * step's `remoteAccountName` becomes (the actor's remote account, copied into the namespace). An update by
   * someone without that account keeps the credential the pipeline already has for the same account; an update
   * naming neither keeps a credential named outright before.
   */
  private async specCredential(
    namespace: string,
    stages: SpecStage[],
    input: RancherPipelineInput,
    actor: string | undefined,
    previous: RancherPipelineRow | undefined,
  ): Promise<string | null> {
    if (input.sourceCodeCredentialName) {
      await this.openCredential(namespace, input.sourceCodeCredentialName, 'sourceCodeCredentialName');
      return input.sourceCodeCredentialName;
    }
    const account = stages[0]?.steps[0]?.sourceCodeStepConfig?.remoteAccountName;
    const before = previous?.spec ? (JSON.parse(previous.spec) as { stages: SpecStage[] }) : undefined;
    const accountBefore = before?.stages[0]?.steps[0]?.sourceCodeStepConfig?.remoteAccountName;
    // A credential named outright stays until replaced; one that came from a remote account goes with it.
    if (account === undefined)
      return accountBefore === undefined ? (previous?.source_credential ?? null) : null;
    const field = 'stages[0].steps[0].sourceCodeStepConfig.remoteAccountName';
    if (!this.deps.remoteAccounts)
      throw new Invalid('REMOTE_ACCOUNTS_UNAVAILABLE', `${field}: this server has no remote accounts`, {
        field,
      });
    try {
      if (!actor) throw new NotFound('REMOTE_ACCOUNT_NOT_FOUND', 'remote accounts belong to users');
      return await this.deps.remoteAccounts.credentialFor(actor, account, namespace);
    } catch (error) {
      if (!(error instanceof NotFound)) throw error;
      if (accountBefore === account && previous?.source_credential) return previous.source_credential;
      throw new Invalid(
        'REMOTE_ACCOUNT_NOT_FOUND',
        `${field}: ${actor ?? 'the caller'} has no remote account ${JSON.stringify(account)}: log in to it first (POST /v3/remoteaccounts?action=login)`,
        { field },
      );
    }
  }

  /** The namespace's git credential `name`, opened; Invalid naming `field` when there is none. */
  private async openCredential(namespace: string, name: string, field: string): Promise<NamedGitCredential> {
    const credential = await this.deps.credentials?.(namespace, name);
    if (!credential)
      throw new Invalid(
        'GIT_CREDENTIAL_NOT_FOUND',
        `${field}: no git credential named ${JSON.stringify(name)} in project local:${namespace}`,
        { field },
      );
    return { ...credential, name };
  }

  /** Makes the pipeline's webhook and cron triggers what its settings say. */
  private async syncTriggers(pipelineId: string): Promise<void> {
    const row = await this.row(pipelineId);
    const spec = row.spec ? (JSON.parse(row.spec) as { triggers: SpecTriggers }) : undefined;
    const wantsWebhook =
      row.form === 'repository'
        ? row.trigger_webhook_push + row.trigger_webhook_pr + row.trigger_webhook_tag > 0
        : spec?.triggers.webhookTrigger?.active === true;
    let webhookId = row.webhook_id;
    if (wantsWebhook && !webhookId) {
      webhookId = (await this.deps.triggers.createWebhook(pipelineId, 'generic')).id;
    } else if (!wantsWebhook && webhookId) {
      await this.deps.triggers.delete(pipelineId, 'webhook', webhookId).catch(ignoreNotFound);
      webhookId = null;
    }
    const cron = spec?.triggers.cronTrigger;
    let cronId = row.cron_id;
    if (cron?.expression !== undefined) {
      const settings = {
        schedule: cron.expression,
        timezone: cron.timezone ?? 'UTC',
        enabled: cron.active === true && row.active === 1,
        ...(row.branch ? { branch: row.branch } : {}),
      };
      cronId = cronId
        ? (await this.deps.triggers.updateCron(pipelineId, cronId, settings)).id
        : (await this.deps.triggers.createCron(pipelineId, settings)).id;
    } else if (cronId) {
      await this.deps.triggers.delete(pipelineId, 'cron', cronId).catch(ignoreNotFound);
      cronId = null;
    }
    if (webhookId !== row.webhook_id || cronId !== row.cron_id)
      await this.deps.store.update(pipelineId, { webhook_id: webhookId, cron_id: cronId });
  }

  /** `pipeline`: the Slipway pipeline of the row, when the caller has read it already. */
  private async view(row: RancherPipelineRow, pipeline?: PipelineView): Promise<RancherPipeline> {
    pipeline ??= await this.deps.runs.getPipeline(row.pipeline_id);
    const spec = row.spec
      ? (JSON.parse(row.spec) as { stages: SpecStage[]; triggers: SpecTriggers })
      : undefined;
    const triggers = row.cron_id ? await this.deps.triggers.list(row.pipeline_id) : undefined;
    const cron = triggers?.crons.find((c) => c.id === row.cron_id);
    const secret = row.webhook_id
      ? await this.deps.triggers.webhookSecret(row.pipeline_id, row.webhook_id).catch(() => null)
      : undefined;
    return {
      pipeline,
      displayName: row.display_name,
      active: row.active === 1,
      form: row.form === 'repository' ? 'repository' : 'stages',
      ...(spec ? { stages: spec.stages, triggers: spec.triggers } : {}),
      repositoryUrl: row.repository_url,
      ...(row.branch ? { branch: row.branch } : {}),
      triggerWebhookPush: row.trigger_webhook_push === 1,
      triggerWebhookPr: row.trigger_webhook_pr === 1,
      triggerWebhookTag: row.trigger_webhook_tag === 1,
      ...(row.source_credential ? { sourceCodeCredentialName: row.source_credential } : {}),
      ...(row.webhook_id ? { webhook: { id: row.webhook_id, secret: secret ?? null } } : {}),
      ...(cron ? { cron } : {}),
      ...(row.created_by ? { createdBy: row.created_by } : {}),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private async row(pipelineId: string): Promise<RancherPipelineRow> {
    const row = await this.deps.store.find(pipelineId);
    if (!row) throw new NotFound('PIPELINE_NOT_FOUND', `pipeline ${pipelineId} not found`);
    return row;
  }
}

function checkDisplayName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new Invalid('PIPELINE_SPEC_INVALID', 'displayName: is required', {
      field: 'displayName',
      missing: true,
    });
  if (value.length > 100 || /[\s/]/.test(value))
    throw new Invalid('PIPELINE_SPEC_INVALID', 'displayName: 1 to 100 characters, no spaces or slashes', {
      field: 'displayName',
    });
  return value;
}

function nameTaken(namespace: string, name: string): Conflict {
  return new Conflict(
    'PIPELINE_EXISTS',
    `a pipeline named ${name} already exists in project local:${namespace}`,
    {
      field: 'displayName',
    },
  );
}

const flag = (value: boolean | undefined, fallback: boolean) => ((value ?? fallback) ? 1 : 0);

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof NotFound)) throw error;
}
