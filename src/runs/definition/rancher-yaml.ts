import { Type } from '@sinclair/typebox';
import {
  DEFAULT_PIPELINE_TIMEOUT_SECONDS,
  globError,
  gitRef,
  repositoryName,
  validatePipeline,
  type Filter,
  type Job,
  type Pipeline,
  type RunIdentity,
  type SecretEnv,
  type Stage,
  type Step,
  type TriggerContext,
  type TriggerEvent,
  type When,
} from '../model.js';
import {
  imageReferenceProblem,
  readFilter,
  readVariables,
  repositoryProblem,
  scriptTitle,
  tagProblem,
  variableNameProblem,
  workspacePath,
  type ReadContext,
} from './fields.js';
import { IssueCollector, PipelineDefinitionError, type FieldPath, type ParsedPipeline } from './issues.js';
import { checkShape, isMapping, suggest, withoutNulls } from './shape.js';
import type { DefinitionOptions } from './slipway-yaml.js';
import { YamlSource } from './yaml-source.js';

/**
 * Rancher's pipeline-as-code file, `.rancher-pipeline.yml` (Rancher 2.1-2.6, `PipelineConfig` of
 * `rancher/types apis/project.cattle.io/v3/pipeline_types.go`), mapped onto the model the way Rancher ran it:
 *
 * - A first stage `Clone` with one checkout job, unless the file starts with a `sourceCodeConfig` step, as
 *   Rancher added one. Stage and step ordinals therefore match Rancher's (`stageOrdinal`, `stepOrdinal`).
 * - Each stage is a stage; each of its steps, which Rancher ran concurrently, is one job named
 *   `step-<stage>-<step>` (Rancher's container name).
 * - `runScriptConfig {image, shellScript}` → a script-in-image step; `publishImageConfig {dockerfilePath,
 *   buildContext, tag, pushRemote, registry}` → build-image then push-image: to Slipway's own registry (Rancher's
 *   per-project registry) unless `pushRemote`, else to `registry` with the stored credentials for that host.
 * - `when {branch, event}` on stages and steps, `branch` on the pipeline: constraints written as a value, a list
 *   or `{include, exclude}`; branch globs also match the tag name on tag events, as in Rancher. Rancher's
 *   `push` event covers every run that is neither a tag nor a pull request (manual and cron runs included).
 * - `env`, `envFrom [{sourceName, sourceKey, targetKey}]` (secrets, never on pull requests), `timeout` (minutes,
 *   default 60).
 * - `applyYamlConfig`, `publishCatalogConfig`, `applyAppConfig` are errors (Slipway pipelines do not deploy);
 *   `notification`, `privileged`, CPU and memory settings and unknown fields are ignored with a warning, as
 *   Rancher ignored unknown fields.
 */

export const RANCHER_PIPELINE_FILES = ['.rancher-pipeline.yml', '.rancher-pipeline.yaml'] as const;

/** Reads a `.rancher-pipeline.yml`; throws `PipelineDefinitionError` listing every error with its line and field. */
export function parseRancherPipeline(text: string, options: DefinitionOptions = {}): ParsedPipeline {
  const parsed = YamlSource.parse(text);
  if ('syntaxErrors' in parsed) throw new PipelineDefinitionError(options.file, parsed.syntaxErrors);
  return readRancher(parsed.source.value, options, parsed.source);
}

/**
 * Maps a Rancher `PipelineConfig` given as an object (the API's `pushconfig` and pipeline configs, the same
 * fields as the file); errors name the field only.
 */
export function rancherPipelineFromConfig(config: unknown, options: DefinitionOptions = {}): ParsedPipeline {
  return readRancher(config, options, undefined);
}

function readRancher(
  value: unknown,
  options: DefinitionOptions,
  source: YamlSource | undefined,
): ParsedPipeline {
  const issues = new IssueCollector(source);
  const ctx: ReadContext = source
    ? { issues, source, unknownFields: 'warn' }
    : { issues, unknownFields: 'warn' };
  const pipeline = new RancherReader(ctx).read(value, options);
  if (issues.errorCount > 0) throw new PipelineDefinitionError(options.file, issues.errors);
  return { pipeline, warnings: issues.warnings };
}

const Unknown = Type.Optional(Type.Unknown());
const OptionalString = Type.Optional(Type.String());

const ConfigShape = Type.Object(
  {
    stages: Type.Array(Type.Unknown(), { minItems: 1 }),
    timeout: Type.Optional(
      Type.Integer({ minimum: 1, errorMessage: 'must be a whole number of minutes, at least 1' }),
    ),
    branch: Unknown,
    notification: Unknown,
  },
  { additionalProperties: false },
);

const StageShape = Type.Object(
  { name: Type.String({ minLength: 1 }), steps: Type.Array(Type.Unknown(), { minItems: 1 }), when: Unknown },
  { additionalProperties: false },
);

const STEP_TYPES = ['sourceCodeConfig', 'runScriptConfig', 'publishImageConfig'] as const;
const UNSUPPORTED_STEP_TYPES = ['applyYamlConfig', 'publishCatalogConfig', 'applyAppConfig'] as const;
const IGNORED_STEP_FIELDS = ['privileged', 'cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'] as const;

const StepShape = Type.Object(
  {
    sourceCodeConfig: Unknown,
    runScriptConfig: Unknown,
    publishImageConfig: Unknown,
    applyYamlConfig: Unknown,
    publishCatalogConfig: Unknown,
    applyAppConfig: Unknown,
    env: Unknown,
    envFrom: Type.Optional(Type.Array(Type.Unknown())),
    privileged: Type.Optional(Type.Boolean()),
    cpuRequest: OptionalString,
    cpuLimit: OptionalString,
    memoryRequest: OptionalString,
    memoryLimit: OptionalString,
    when: Unknown,
  },
  { additionalProperties: false },
);

const RunScriptShape = Type.Object(
  { image: Type.String({ minLength: 1 }), shellScript: OptionalString },
  { additionalProperties: false },
);

const PublishImageShape = Type.Object(
  {
    dockerfilePath: OptionalString,
    buildContext: OptionalString,
    tag: OptionalString,
    pushRemote: Type.Optional(Type.Boolean()),
    registry: OptionalString,
  },
  { additionalProperties: false },
);

const EnvFromShape = Type.Object(
  {
    sourceName: Type.String({ minLength: 1 }),
    sourceKey: Type.String({ minLength: 1 }),
    targetKey: OptionalString,
  },
  { additionalProperties: false },
);

const WhenShape = Type.Object({ branch: Unknown, event: Unknown }, { additionalProperties: false });

/** Rancher's `PublishImageConfig.tag` default (its spec wrote `CICD_GIT_REPOSITORY_NAME`, a variable it never set). */
const DEFAULT_TAG = '${CICD_GIT_REPO_NAME}:${CICD_GIT_BRANCH}';
const DOCKER_HUB = 'index.docker.io';
const RANCHER_EVENTS = ['push', 'pull_request', 'tag'] as const;
const EVENTS_OF: Record<(typeof RANCHER_EVENTS)[number], TriggerEvent[]> = {
  push: ['push', 'manual', 'cron', 'image', 'pipeline'],
  pull_request: ['pull_request'],
  tag: ['tag'],
};

class RancherReader {
  constructor(private readonly ctx: ReadContext) {}

  private get issues() {
    return this.ctx.issues;
  }

  read(value: unknown, options: DefinitionOptions): Pipeline {
    const pipeline: Pipeline = {
      name: options.name ?? 'pipeline',
      dialect: 'rancher',
      when: {},
      timeoutSeconds: DEFAULT_PIPELINE_TIMEOUT_SECONDS,
      secretsOnPullRequest: false,
      stages: [],
    };
    if (value === null || value === undefined) {
      this.issues.error([], 'the file is empty: a pipeline needs stages');
      return pipeline;
    }
    if (!isMapping(value)) {
      this.issues.error([], 'must be a mapping with stages');
      return pipeline;
    }
    const config = withoutNulls(value) as Record<string, unknown>;
    checkShape(ConfigShape, config, [], this.issues, this.ctx);
    if (typeof config.timeout === 'number' && Number.isInteger(config.timeout) && config.timeout > 0) {
      pipeline.timeoutSeconds = config.timeout * 60;
    }
    if (config.branch !== undefined) {
      pipeline.when = { branch: this.readBranch(config.branch, ['branch']), tagAsBranch: true };
    }
    if (config.notification !== undefined) {
      this.issues.warn(['notification'], 'ignored: Slipway does not send Rancher notifier messages');
    }

    const stagePaths: FieldPath[] = [];
    const rawStages = Array.isArray(config.stages) ? config.stages : [];
    if (!startsWithSourceCode(rawStages)) {
      pipeline.stages.push({
        name: 'Clone',
        when: {},
        jobs: [{ ...emptyJob('step-0-0'), steps: [{ kind: 'checkout', name: 'clone' }] }],
      });
      stagePaths.push([]);
    }
    rawStages.forEach((raw, i) => {
      const stage = this.readStage(raw, ['stages', i], pipeline.stages.length);
      if (!stage) return;
      pipeline.stages.push(stage);
      stagePaths.push(['stages', i]);
    });

    // The shape checks above cover the model's rules for this format (there are no needs); what the model
    // still finds is reported where it comes from, unless an error there already explains it.
    for (const issue of validatePipeline(pipeline)) {
      const base = issue.stage === undefined ? [] : (stagePaths[issue.stage] ?? []);
      const job = issue.job === undefined ? [] : ['steps', issue.job];
      const renamed: Record<string, string> = { timeoutSeconds: 'timeout', jobs: 'steps' };
      const [head, ...rest] = issue.field;
      const field =
        typeof head === 'string' && head in renamed ? [renamed[head] as string, ...rest] : issue.field;
      const path = [...base, ...job, ...field];
      if (!this.issues.hasErrorAround(path)) this.issues.error(path, issue.message);
    }
    return pipeline;
  }

  private readStage(raw: unknown, path: FieldPath, ordinal: number): Stage | undefined {
    if (!isMapping(raw)) {
      this.issues.error(path, 'must be a mapping with name and steps');
      return undefined;
    }
    const fields = withoutNulls(raw) as Record<string, unknown>;
    checkShape(StageShape, fields, path, this.issues, this.ctx);
    const jobs: Job[] = [];
    if (Array.isArray(fields.steps)) {
      fields.steps.forEach((step, j) => {
        const job = this.readStep(step, [...path, 'steps', j], `step-${ordinal}-${j}`);
        if (job) jobs.push(job);
      });
    }
    return {
      name: typeof fields.name === 'string' ? fields.name : `stage ${ordinal}`,
      when: this.readWhen(fields.when, [...path, 'when']),
      jobs,
    };
  }

  private readStep(raw: unknown, path: FieldPath, name: string): Job | undefined {
    if (!isMapping(raw)) {
      this.issues.error(path, 'must be a mapping with runScriptConfig or publishImageConfig');
      return undefined;
    }
    const fields = withoutNulls(raw) as Record<string, unknown>;
    checkShape(StepShape, fields, path, this.issues, this.ctx);

    const unsupported = UNSUPPORTED_STEP_TYPES.find((t) => t in raw);
    if (unsupported) {
      this.issues.error(
        [...path, unsupported],
        'not supported: Slipway pipelines do not deploy to Kubernetes; run kubectl or helm from a runScriptConfig step',
      );
      return undefined;
    }
    const types = STEP_TYPES.filter((t) => t in raw);
    if (types.length === 0) {
      this.issues.error(path, 'a step needs one of runScriptConfig, publishImageConfig or sourceCodeConfig');
      return undefined;
    }
    if (types.length > 1) {
      this.issues.error(
        [...path, types[1] as string],
        `a step has one type, and this one already has ${types[0]}`,
      );
      return undefined;
    }
    for (const ignored of IGNORED_STEP_FIELDS) {
      if (fields[ignored] !== undefined && fields[ignored] !== false) {
        this.issues.warn(
          [...path, ignored],
          ignored === 'privileged'
            ? 'ignored: steps run unprivileged (buildah --isolation chroot)'
            : 'ignored: Slipway sets no CPU or memory requests and limits',
        );
      }
    }

    const job = emptyJob(name);
    job.when = this.readWhen(fields.when, [...path, 'when']);
    job.env = readVariables(fields.env, [...path, 'env'], this.ctx);
    job.secrets = this.readEnvFrom(fields.envFrom, [...path, 'envFrom']);
    const type = types[0] as (typeof STEP_TYPES)[number];
    const steps =
      type === 'sourceCodeConfig'
        ? this.readSourceCode(raw.sourceCodeConfig, [...path, type])
        : type === 'runScriptConfig'
          ? this.readRunScript(raw.runScriptConfig, [...path, type])
          : this.readPublishImage(raw.publishImageConfig, [...path, type], name);
    if (!steps) return undefined;
    job.steps = steps;
    return job;
  }

  private readSourceCode(value: unknown, path: FieldPath): Step[] | undefined {
    if (value !== null && value !== undefined && !isMapping(value)) {
      this.issues.error(path, 'must be an empty mapping');
      return undefined;
    }
    if (isMapping(value)) {
      checkShape(Type.Object({}, { additionalProperties: false }), value, path, this.issues, this.ctx);
    }
    return [{ kind: 'checkout', name: 'clone' }];
  }

  private readRunScript(value: unknown, path: FieldPath): Step[] | undefined {
    if (!isMapping(value)) {
      this.issues.error(path, 'must be a mapping with image and shellScript');
      return undefined;
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    if (!checkShape(RunScriptShape, fields, path, this.issues, this.ctx)) return undefined;
    const image = fields.image as string;
    const problem = imageReferenceProblem(image);
    if (problem) this.issues.error([...path, 'image'], problem);
    const script = typeof fields.shellScript === 'string' ? fields.shellScript : '';
    return [
      { kind: 'script-in-image', name: script.trim() === '' ? image : scriptTitle(script), image, script },
    ];
  }

  private readPublishImage(value: unknown, path: FieldPath, jobName: string): Step[] | undefined {
    if (value !== null && value !== undefined && !isMapping(value)) {
      this.issues.error(
        path,
        'must be a mapping of dockerfilePath, buildContext, tag, pushRemote and registry',
      );
      return undefined;
    }
    const fields = withoutNulls(value ?? {}) as Record<string, unknown>;
    if (!checkShape(PublishImageShape, fields, path, this.issues, this.ctx)) return undefined;
    const dockerfile = this.readWorkspacePath(fields.dockerfilePath, './Dockerfile', [
      ...path,
      'dockerfilePath',
    ]);
    const context = this.readWorkspacePath(fields.buildContext, '.', [...path, 'buildContext']);
    const tag = typeof fields.tag === 'string' && fields.tag !== '' ? fields.tag : DEFAULT_TAG;
    const image = splitImageTag(tag);
    const tagPath = [...path, 'tag'];
    const problem = repositoryProblem(image.repository) ?? tagProblem(image.tag);
    if (problem) this.issues.error(tagPath, problem);
    if (dockerfile === undefined || context === undefined) return undefined;

    const remote = fields.pushRemote === true;
    const host = typeof fields.registry === 'string' && fields.registry !== '' ? fields.registry : image.host;
    return [
      { kind: 'build-image', name: `build ${tag}`, dockerfile, context, buildArgs: {}, tags: [jobName] },
      {
        kind: 'push-image',
        name: `push ${tag}`,
        source: jobName,
        destination: {
          registry: remote ? { kind: 'external', host: host ?? DOCKER_HUB } : { kind: 'slipway' },
          repository: image.repository,
        },
        tags: [image.tag],
      },
    ];
  }

  private readEnvFrom(value: unknown, path: FieldPath): SecretEnv[] {
    if (!Array.isArray(value)) return [];
    const out: SecretEnv[] = [];
    value.forEach((raw, i) => {
      const at = [...path, i];
      if (!isMapping(raw)) {
        this.issues.error(at, 'must be a mapping with sourceName, sourceKey and targetKey');
        return;
      }
      const fields = withoutNulls(raw) as Record<string, unknown>;
      if (!checkShape(EnvFromShape, fields, at, this.issues, this.ctx)) return;
      const env =
        typeof fields.targetKey === 'string' && fields.targetKey !== ''
          ? fields.targetKey
          : (fields.sourceKey as string);
      const problem = variableNameProblem(env);
      if (problem) {
        this.issues.error([...at, fields.targetKey ? 'targetKey' : 'sourceKey'], problem);
        return;
      }
      out.push({ env, secret: fields.sourceName as string, key: fields.sourceKey as string });
    });
    return out;
  }

  private readWhen(value: unknown, path: FieldPath): When {
    if (value === undefined || value === null) return {};
    if (!isMapping(value)) {
      this.issues.error(path, 'must be a mapping of branch and event');
      return {};
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    checkShape(WhenShape, fields, path, this.issues, this.ctx);
    const when: When = {};
    if (fields.branch !== undefined) {
      when.branch = this.readBranch(fields.branch, [...path, 'branch']);
      when.tagAsBranch = true;
    }
    if (fields.event !== undefined) {
      const events = readFilter(fields.event, [...path, 'event'], this.ctx, rancherEventProblem);
      const expand = (list: string[]) => [
        ...new Set(list.flatMap((e) => EVENTS_OF[e as keyof typeof EVENTS_OF])),
      ];
      when.event = { include: expand(events.include), exclude: expand(events.exclude) };
    }
    return when;
  }

  private readBranch(value: unknown, path: FieldPath): Filter {
    return readFilter(value, path, this.ctx, (pattern) => {
      const error = globError(pattern);
      return error ? `invalid glob "${pattern}": ${error}` : undefined;
    });
  }

  private readWorkspacePath(value: unknown, fallback: string, path: FieldPath): string | undefined {
    const raw = typeof value === 'string' && value !== '' ? value : fallback;
    const normalized = workspacePath(raw);
    if (normalized === undefined) {
      this.issues.error(path, `"${raw}" must be a relative path inside the workspace`);
    }
    return normalized;
  }
}

function emptyJob(name: string): Job {
  return { name, needs: [], when: {}, env: {}, secrets: [], retries: 0, steps: [] };
}

function startsWithSourceCode(stages: unknown[]): boolean {
  const first = stages[0];
  if (!isMapping(first) || !Array.isArray(first.steps)) return false;
  const step = first.steps[0];
  return isMapping(step) && 'sourceCodeConfig' in step;
}

function rancherEventProblem(event: string): string | undefined {
  if ((RANCHER_EVENTS as readonly string[]).includes(event)) return undefined;
  const hint = suggest(event, RANCHER_EVENTS);
  return `unknown event "${event}" (${hint ? `did you mean ${hint}? ` : ''}expected push, pull_request or tag)`;
}

/**
 * Rancher's `SplitImageTag`: a first segment with `.` or `:`, or `localhost`, is a registry host; the tag
 * follows the first `:` of the rest and defaults to `latest`.
 */
export function splitImageTag(image: string): { host?: string; repository: string; tag: string } {
  let rest = image;
  let host: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost') {
      host = first;
      rest = rest.slice(slash + 1);
    }
  }
  const colon = rest.indexOf(':');
  const repository = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? 'latest' : rest.slice(colon + 1);
  return host === undefined ? { repository, tag } : { host, repository, tag };
}

/** What Rancher's variables need to know of a run beyond the trigger. */
export interface RancherRunInfo extends RunIdentity {
  /** Rancher project id (`p-xxxxx`); Slipway passes the pipeline's namespace. */
  projectId?: string;
  /** Rancher cluster id (`c-xxxxx`); Slipway passes `local`. */
  clusterId?: string;
  /** Who started the run, as Rancher said it; default derived from the event. */
  triggerType?: 'user' | 'cron' | 'webhook';
}

/**
 * The CICD_* variables Rancher gave every step (`rancher/rancher pkg/pipeline/utils GetEnvVarMap`):
 * CICD_GIT_REPO_NAME, CICD_GIT_URL, CICD_GIT_COMMIT (abbreviated to 7 characters, as Rancher did),
 * CICD_GIT_REF, CICD_GIT_BRANCH (the tag name on tag events, as Rancher did), CICD_GIT_TAG (tag events only),
 * CICD_TRIGGER_TYPE (user, cron, webhook), CICD_EVENT (push, pull_request, tag; every other event is a push),
 * CICD_EXECUTION_ID (`<pipeline>-<run>`), CICD_EXECUTION_SEQUENCE, CICD_PIPELINE_ID, CICD_PROJECT_ID,
 * CICD_CLUSTER_ID, CICD_LOCAL_REGISTRY. Rancher's CICD_REGISTRY and CICD_IMAGE_REPO existed only for
 * applyYamlConfig steps, which Slipway does not run.
 */
export function cicdEnvironment(context: TriggerContext, run: RancherRunInfo): Record<string, string> {
  const event = context.event === 'tag' || context.event === 'pull_request' ? context.event : 'push';
  const triggerType =
    run.triggerType ?? (context.event === 'manual' ? 'user' : context.event === 'cron' ? 'cron' : 'webhook');
  const ref = gitRef(context);
  const env: Record<string, string> = {
    CICD_GIT_REPO_NAME: repositoryName(context.repoUrl),
    CICD_GIT_URL: context.repoUrl,
    CICD_GIT_COMMIT: context.commit.slice(0, 7),
    CICD_GIT_REF: ref,
    CICD_GIT_BRANCH: context.branch ?? context.tag ?? '',
    CICD_TRIGGER_TYPE: triggerType,
    CICD_EVENT: event,
    CICD_EXECUTION_ID: `${run.pipelineId}-${run.number}`,
    CICD_EXECUTION_SEQUENCE: String(run.number),
    CICD_PIPELINE_ID: run.pipelineId,
    CICD_PROJECT_ID: run.projectId ?? '',
    CICD_CLUSTER_ID: run.clusterId ?? '',
    CICD_LOCAL_REGISTRY: run.registry ?? '',
  };
  if (event === 'tag') env.CICD_GIT_TAG = context.tag ?? ref.replace(/^refs\/tags\//, '');
  return env;
}
