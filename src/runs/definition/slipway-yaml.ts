import { Type } from '@sinclair/typebox';
import {
  DEFAULT_PIPELINE_TIMEOUT_SECONDS,
  MAX_RETRIES,
  TRIGGER_EVENTS,
  globError,
  validatePipeline,
  type Filter,
  type ImageLocation,
  type Job,
  type Pipeline,
  type RegistryRef,
  type SecretEnv,
  type Stage,
  type Step,
  type TriggerEvent,
  type When,
} from '../model.js';
import {
  imageReferenceProblem,
  localImageProblem,
  readFilter,
  readVariables,
  registryHostProblem,
  repositoryProblem,
  scriptTitle,
  tagProblem,
  variableNameProblem,
  workspacePath,
  type ReadContext,
} from './fields.js';
import {
  IssueCollector,
  PipelineDefinitionError,
  formatPath,
  type FieldPath,
  type ParsedPipeline,
} from './issues.js';
import { checkShape, isMapping, suggest, withoutNulls } from './shape.js';
import { YamlSource } from './yaml-source.js';

/**
 * Slipway's own pipeline file, `.slipway.yml` (full guide with an example of every field: docs/pipelines.md).
 *
 *   version: 1                     optional; the only version
 *   name: web                      default: the name the caller gives
 *   when: {branch, tag, event, paths}   no run at all unless it holds; each a value, a list or
 *                                  {include: [...], exclude: [...]}; branch, tag and paths are globs
 *   timeout: 1h                    whole run; 90s, 30m, 1h30m; default 1h
 *   clone: true                    true (default): a first stage `clone` with a job `clone` checks out the
 *                                  triggering commit; false: none; {depth: 50}: a shallow one;
 *                                  {credentials: deploy-key}: with a stored git credential
 *   env: {NAME: value}             for every job
 *   secrets: {NAME: secret | {secret, key}}   env from stored secrets (key defaults to NAME), every job
 *   pull_request_secrets: false    whether pull_request runs get secrets
 *   stages:                        run in order; or `jobs:` alone for a single stage
 *     - name: test
 *       when: {...}                skips every job of the stage unless it holds
 *       jobs:                      run in parallel, in `needs` order
 *         unit:
 *           needs: [lint]          jobs of this stage or an earlier one
 *           when: {...}
 *           env: {...}             secrets: {...}   (a job's own win over the pipeline's)
 *           timeout: 10m           retries: 2       image: node:20 (default image of its script steps)
 *           steps:                 run in order; each has one kind, and may have a `name`
 *             - checkout: {depth: 1, credentials: deploy-key}
 *             - script: make test          (a string or a list of lines; runs on the host...)
 *               image: node:20             (...or in this image)
 *             - build: {dockerfile, context, args, target, tags, cache}
 *             - push: {image, registry, credentials, repository, tags}
 *
 * Top-level keys starting with `.` are ignored: they hold YAML anchors (`.node: &node {image: node:20}`, then
 * `<<: *node` in a job). Other unknown fields are errors; every error names its line and field.
 */

export interface DefinitionOptions {
  /** Shown in error messages. */
  file?: string;
  /** The pipeline's name when the file has none. */
  name?: string;
}

/** Reads a `.slipway.yml`; throws `PipelineDefinitionError` listing every error, each with its line and field. */
export function parseSlipwayPipeline(text: string, options: DefinitionOptions = {}): ParsedPipeline {
  const parsed = YamlSource.parse(text);
  if ('syntaxErrors' in parsed) throw new PipelineDefinitionError(options.file, parsed.syntaxErrors);
  const issues = new IssueCollector(parsed.source);
  const pipeline = new SlipwayReader({ issues, source: parsed.source, unknownFields: 'error' }).read(
    parsed.source.value,
    options,
  );
  if (issues.errorCount > 0) throw new PipelineDefinitionError(options.file, issues.errors);
  return { pipeline, warnings: issues.warnings };
}

const Unknown = Type.Optional(Type.Unknown());
const Name = Type.Optional(Type.String({ minLength: 1, maxLength: 100 }));

const TopShape = Type.Object(
  {
    version: Type.Optional(Type.Literal(1)),
    name: Name,
    when: Unknown,
    timeout: Unknown,
    clone: Unknown,
    env: Unknown,
    secrets: Unknown,
    pull_request_secrets: Type.Optional(Type.Boolean()),
    stages: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1 })),
    jobs: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { minProperties: 1 })),
  },
  { additionalProperties: false },
);

const StageShape = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    when: Unknown,
    jobs: Type.Record(Type.String(), Type.Unknown(), { minProperties: 1 }),
  },
  { additionalProperties: false },
);

const JobShape = Type.Object(
  {
    needs: Unknown,
    when: Unknown,
    env: Unknown,
    secrets: Unknown,
    timeout: Unknown,
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_RETRIES })),
    image: Type.Optional(Type.String({ minLength: 1 })),
    steps: Type.Array(Type.Unknown(), { minItems: 1 }),
  },
  { additionalProperties: false },
);

const WhenShape = Type.Object(
  { branch: Unknown, tag: Unknown, event: Unknown, paths: Unknown },
  { additionalProperties: false },
);

const STEP_KINDS = ['checkout', 'script', 'build', 'push'] as const;
type SlipwayStepKind = (typeof STEP_KINDS)[number];

const STEP_SHAPES = {
  checkout: Type.Object({ name: Name, checkout: Unknown }, { additionalProperties: false }),
  script: Type.Object(
    { name: Name, script: Type.Unknown(), image: Type.Optional(Type.String({ minLength: 1 })) },
    { additionalProperties: false },
  ),
  build: Type.Object({ name: Name, build: Unknown }, { additionalProperties: false }),
  push: Type.Object({ name: Name, push: Type.Unknown() }, { additionalProperties: false }),
} as const;

const CheckoutShape = Type.Object(
  {
    depth: Type.Optional(Type.Integer({ minimum: 1 })),
    credentials: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const BuildShape = Type.Object(
  {
    dockerfile: Type.Optional(Type.String({ minLength: 1 })),
    context: Type.Optional(Type.String({ minLength: 1 })),
    args: Unknown,
    target: Type.Optional(Type.String({ minLength: 1 })),
    tags: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    cache: Unknown,
  },
  { additionalProperties: false },
);

const PushShape = Type.Object(
  {
    image: Type.Optional(Type.String({ minLength: 1 })),
    registry: Type.Optional(Type.String({ minLength: 1 })),
    credentials: Type.Optional(Type.String({ minLength: 1 })),
    repository: Type.String({ minLength: 1 }),
    tags: Type.Array(Type.String(), { minItems: 1 }),
  },
  { additionalProperties: false },
);

const CacheShape = Type.Object(
  {
    registry: Type.Optional(Type.String({ minLength: 1 })),
    credentials: Type.Optional(Type.String({ minLength: 1 })),
    repository: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);

const SecretShape = Type.Object(
  { secret: Type.String({ minLength: 1 }), key: Type.Optional(Type.String({ minLength: 1 })) },
  { additionalProperties: false },
);

const CLONE = 'clone';
const SINGLE_STAGE = 'default';

/** Where each stage and job of the model came from, to put the model's own issues on the right lines. */
interface Origins {
  stages: FieldPath[];
  jobs: FieldPath[][];
  stagesField: 'stages' | 'jobs';
}

class SlipwayReader {
  /** The `needs` fields written as one name: the model's `needs[0]` is the field itself. */
  private readonly singleNeeds = new Set<string>();

  constructor(private readonly ctx: ReadContext) {}

  private get issues() {
    return this.ctx.issues;
  }

  read(value: unknown, options: DefinitionOptions): Pipeline {
    const pipeline: Pipeline = {
      name: options.name ?? 'pipeline',
      dialect: 'slipway',
      when: {},
      timeoutSeconds: DEFAULT_PIPELINE_TIMEOUT_SECONDS,
      secretsOnPullRequest: false,
      stages: [],
    };
    if (value === null) {
      this.issues.error([], 'the file is empty: a pipeline needs stages or jobs');
      return pipeline;
    }
    if (!isMapping(value)) {
      this.issues.error([], 'must be a mapping with stages or jobs');
      return pipeline;
    }
    // Top-level keys starting with "." hold YAML anchors for `<<: *name` merges, and are not pipeline fields.
    const top = Object.fromEntries(
      Object.entries(withoutNulls(value) as Record<string, unknown>).filter(([key]) => !key.startsWith('.')),
    );
    checkShape(TopShape, top, [], this.issues);
    if (typeof top.name === 'string') pipeline.name = top.name;
    pipeline.when = this.readWhen(top.when, ['when']);
    pipeline.timeoutSeconds = this.readDuration(top.timeout, ['timeout']) ?? DEFAULT_PIPELINE_TIMEOUT_SECONDS;
    if (typeof top.pull_request_secrets === 'boolean') {
      pipeline.secretsOnPullRequest = top.pull_request_secrets;
    }
    const env = readVariables(top.env, ['env'], this.ctx, reservedVariable);
    const secrets = this.readSecrets(top.secrets, ['secrets']);
    this.rejectEnvSecretClash(env, secrets, ['secrets']);

    const origins: Origins = {
      stages: [],
      jobs: [],
      stagesField: top.stages !== undefined ? 'stages' : 'jobs',
    };
    const clone = this.readClone(top.clone);
    if (clone) {
      pipeline.stages.push({
        name: CLONE,
        when: {},
        jobs: [
          { ...emptyJob(CLONE), env: { ...env }, steps: [{ kind: 'checkout', name: 'checkout', ...clone }] },
        ],
      });
      origins.stages.push(['clone']);
      origins.jobs.push([['clone']]);
    }

    const inherited = { env, secrets, reservedJobName: clone ? CLONE : undefined };
    if (top.stages !== undefined && top.jobs !== undefined) {
      this.issues.error(['jobs'], 'use either stages or jobs, not both');
    } else if (Array.isArray(top.stages)) {
      const seen = new Set<string>();
      top.stages.forEach((raw, i) => {
        const read = this.readStage(raw, ['stages', i], inherited);
        if (!read) return;
        if (seen.has(read.stage.name)) {
          this.issues.error(['stages', i, 'name'], `stage name "${read.stage.name}" is used twice`);
        }
        seen.add(read.stage.name);
        pipeline.stages.push(read.stage);
        origins.stages.push(['stages', i]);
        origins.jobs.push(read.jobPaths);
      });
    } else if (isMapping(top.jobs)) {
      const read = this.readJobs(top.jobs, ['jobs'], inherited);
      pipeline.stages.push({ name: SINGLE_STAGE, when: {}, jobs: read.jobs });
      origins.stages.push([]);
      origins.jobs.push(read.jobPaths);
    } else if (top.stages === undefined && top.jobs === undefined) {
      this.issues.error([], 'a pipeline needs stages or jobs');
    }

    this.reportModelIssues(pipeline, origins);
    return pipeline;
  }

  private readStage(
    raw: unknown,
    path: FieldPath,
    inherited: Inherited,
  ): { stage: Stage; jobPaths: FieldPath[] } | undefined {
    if (!isMapping(raw)) {
      this.issues.error(path, 'must be a mapping with name and jobs');
      return undefined;
    }
    const stage = withoutNulls(raw) as Record<string, unknown>;
    checkShape(StageShape, stage, path, this.issues);
    const read = isMapping(stage.jobs)
      ? this.readJobs(stage.jobs, [...path, 'jobs'], inherited)
      : { jobs: [], jobPaths: [] };
    return {
      stage: {
        name: typeof stage.name === 'string' ? stage.name : `stage ${String(path[1])}`,
        when: this.readWhen(stage.when, [...path, 'when']),
        jobs: read.jobs,
      },
      jobPaths: read.jobPaths,
    };
  }

  private readJobs(
    jobs: Record<string, unknown>,
    path: FieldPath,
    inherited: Inherited,
  ): { jobs: Job[]; jobPaths: FieldPath[] } {
    const out: Job[] = [];
    const jobPaths: FieldPath[] = [];
    for (const [name, raw] of Object.entries(jobs)) {
      const at = [...path, name];
      if (name === inherited.reservedJobName) {
        this.issues.error(at, `the name "${name}" belongs to the clone job (set clone: false to use it)`);
        continue;
      }
      out.push(this.readJob(name, raw, at, inherited));
      jobPaths.push(at);
    }
    return { jobs: out, jobPaths };
  }

  private readJob(name: string, raw: unknown, path: FieldPath, inherited: Inherited): Job {
    const job = emptyJob(name);
    if (!isMapping(raw)) {
      this.issues.error(path, 'must be a mapping with steps');
      return job;
    }
    const fields = withoutNulls(raw) as Record<string, unknown>;
    checkShape(JobShape, fields, path, this.issues);
    job.needs = this.readNeeds(fields.needs, [...path, 'needs']);
    job.when = this.readWhen(fields.when, [...path, 'when']);
    const env = readVariables(fields.env, [...path, 'env'], this.ctx, reservedVariable);
    const secrets = this.readSecrets(fields.secrets, [...path, 'secrets']);
    this.rejectEnvSecretClash(env, secrets, [...path, 'secrets']);
    // The innermost definition of a name wins, whether it is a value or a secret.
    const own = new Set([...Object.keys(env), ...secrets.map((s) => s.env)]);
    job.env = { ...without(inherited.env, own), ...env };
    job.secrets = [...inherited.secrets.filter((s) => !own.has(s.env)), ...secrets];
    const timeout = this.readDuration(fields.timeout, [...path, 'timeout']);
    if (timeout !== undefined) job.timeoutSeconds = timeout;
    if (typeof fields.retries === 'number' && Number.isInteger(fields.retries)) job.retries = fields.retries;
    const image =
      typeof fields.image === 'string'
        ? this.checked(fields.image, [...path, 'image'], imageReferenceProblem)
        : undefined;

    const context: StepContext = { name, image, lastBuild: undefined };
    if (Array.isArray(fields.steps)) {
      fields.steps.forEach((rawStep, i) => {
        const step = this.readStep(rawStep, [...path, 'steps', i], context);
        // A build step in error still counts as one, so the pushes after it report nothing more.
        if (isMapping(rawStep) && 'build' in rawStep) {
          context.lastBuild = step?.kind === 'build-image' ? step.tags[0] : null;
        }
        if (step) job.steps.push(step);
      });
    }
    return job;
  }

  private readStep(raw: unknown, path: FieldPath, job: StepContext): Step | undefined {
    if (!isMapping(raw)) {
      this.issues.error(path, 'must be a mapping such as {script: make test}');
      return undefined;
    }
    const kinds = STEP_KINDS.filter((k) => k in raw);
    if (kinds.length === 0) {
      const other = Object.keys(raw).find((k) => k !== 'name' && k !== 'image');
      const hint = other === undefined ? undefined : suggest(other, STEP_KINDS);
      const expected = 'expected one of checkout, script, build, push';
      if (other === undefined) this.issues.error(path, `a step needs a kind: ${expected}`);
      else
        this.issues.error(
          [...path, other],
          `unknown step kind (${hint ? `did you mean ${hint}? ` : ''}${expected})`,
        );
      return undefined;
    }
    const [kind, second] = kinds as [SlipwayStepKind, SlipwayStepKind | undefined];
    if (second !== undefined) {
      this.issues.error([...path, second], `a step has one kind, and this one is already a ${kind} step`);
      return undefined;
    }
    const fields = withoutNulls(raw) as Record<string, unknown>;
    if (!checkShape(STEP_SHAPES[kind], { ...fields, [kind]: raw[kind] }, path, this.issues)) return undefined;
    const name = typeof fields.name === 'string' ? fields.name : undefined;
    switch (kind) {
      case 'checkout':
        return this.readCheckout(raw.checkout, [...path, 'checkout'], name);
      case 'script':
        return this.readScript(fields, path, name, job);
      case 'build':
        return this.readBuild(raw.build, [...path, 'build'], name, job);
      case 'push':
        return this.readPush(raw.push, [...path, 'push'], name, job);
    }
  }

  private readCheckout(value: unknown, path: FieldPath, name: string | undefined): Step | undefined {
    if (value === null || value === undefined) return { kind: 'checkout', name: name ?? 'checkout' };
    if (!isMapping(value)) {
      this.issues.error(path, 'must be empty or a mapping with depth');
      return undefined;
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    if (!checkShape(CheckoutShape, fields, path, this.issues)) return undefined;
    const step: Step = { kind: 'checkout', name: name ?? 'checkout' };
    if (typeof fields.depth === 'number') step.depth = fields.depth;
    if (typeof fields.credentials === 'string') step.credentials = fields.credentials;
    return step;
  }

  private readScript(
    fields: Record<string, unknown>,
    path: FieldPath,
    name: string | undefined,
    job: StepContext,
  ): Step | undefined {
    const script = this.readScriptText(fields.script, [...path, 'script']);
    let image = job.image;
    if (typeof fields.image === 'string') {
      image = this.checked(fields.image, [...path, 'image'], imageReferenceProblem);
    }
    if (script === undefined) return undefined;
    const title = name ?? scriptTitle(script);
    return image === undefined
      ? { kind: 'script', name: title, script }
      : { kind: 'script-in-image', name: title, image, script };
  }

  private readScriptText(value: unknown, path: FieldPath): string | undefined {
    if (typeof value === 'string') {
      if (value.trim() !== '') return value;
      this.issues.error(path, 'must not be empty');
      return undefined;
    }
    if (Array.isArray(value) && value.length > 0) {
      const bad = value.findIndex((line) => typeof line !== 'string' || line.trim() === '');
      if (bad < 0) return value.join('\n');
      this.issues.error([...path, bad], 'must be a non-empty string');
      return undefined;
    }
    this.issues.error(path, 'must be a string or a list of command lines');
    return undefined;
  }

  private readBuild(
    value: unknown,
    path: FieldPath,
    name: string | undefined,
    job: StepContext,
  ): Step | undefined {
    if (value !== null && value !== undefined && !isMapping(value)) {
      this.issues.error(
        path,
        'must be empty or a mapping of dockerfile, context, args, target, tags and cache',
      );
      return undefined;
    }
    const fields = withoutNulls(value ?? {}) as Record<string, unknown>;
    if (!checkShape(BuildShape, fields, path, this.issues)) return undefined;
    const context = this.readWorkspacePath(fields.context, [...path, 'context']) ?? '.';
    const dockerfile =
      this.readWorkspacePath(fields.dockerfile, [...path, 'dockerfile']) ??
      (context === '.' ? 'Dockerfile' : `${context}/Dockerfile`);
    const buildArgs = readVariables(fields.args, [...path, 'args'], this.ctx);
    let tags: string[];
    if (Array.isArray(fields.tags)) {
      tags = this.checkedList(fields.tags as string[], [...path, 'tags'], localImageProblem);
    } else {
      tags = [job.name.toLowerCase()];
      if (localImageProblem(tags[0] as string)) {
        this.issues.error(
          [...path, 'tags'],
          `is required: the job name "${job.name}" is not a valid image name`,
        );
      }
    }
    const step: Step = {
      kind: 'build-image',
      name: name ?? `build ${tags[0] ?? ''}`,
      dockerfile,
      context,
      buildArgs,
      tags,
    };
    if (typeof fields.target === 'string') step.target = fields.target;
    if (fields.cache !== undefined) {
      const cache = this.readCache(fields.cache, [...path, 'cache']);
      if (cache) step.cache = cache;
    }
    return step;
  }

  private readPush(
    value: unknown,
    path: FieldPath,
    name: string | undefined,
    job: StepContext,
  ): Step | undefined {
    if (!isMapping(value)) {
      this.issues.error(path, 'must be a mapping with repository and tags');
      return undefined;
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    if (!checkShape(PushShape, fields, path, this.issues)) return undefined;
    const repository = this.checked(fields.repository as string, [...path, 'repository'], repositoryProblem);
    const tags = this.checkedList(fields.tags as string[], [...path, 'tags'], tagProblem);
    const registry = this.readRegistry(fields, path);
    if (typeof fields.image === 'string') this.checked(fields.image, [...path, 'image'], localImageProblem);
    const source = typeof fields.image === 'string' ? fields.image : job.lastBuild;
    if (source === undefined) {
      this.issues.error([...path, 'image'], 'is required: no build step before this one in the job');
      return undefined;
    }
    if (source === null) return undefined;
    return {
      kind: 'push-image',
      name: name ?? `push ${repository}`,
      source,
      destination: { registry, repository },
      tags,
    };
  }

  private readCache(value: unknown, path: FieldPath): ImageLocation | undefined {
    if (typeof value === 'string') {
      return { registry: { kind: 'slipway' }, repository: this.checked(value, path, repositoryProblem) };
    }
    if (!isMapping(value)) {
      this.issues.error(
        path,
        'must be a repository name or a mapping with registry, repository and credentials',
      );
      return undefined;
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    if (!checkShape(CacheShape, fields, path, this.issues)) return undefined;
    return {
      registry: this.readRegistry(fields, path),
      repository: this.checked(fields.repository as string, [...path, 'repository'], repositoryProblem),
    };
  }

  /** `registry` absent or `slipway`: Slipway's own (no credentials); else an external host. */
  private readRegistry(fields: Record<string, unknown>, path: FieldPath): RegistryRef {
    const host = typeof fields.registry === 'string' ? fields.registry : 'slipway';
    const credentials = typeof fields.credentials === 'string' ? fields.credentials : undefined;
    if (host === 'slipway') {
      if (credentials !== undefined) {
        this.issues.error(
          [...path, 'credentials'],
          "only for an external registry: Slipway's own registry is reached with a token of the run",
        );
      }
      return { kind: 'slipway' };
    }
    this.checked(host, [...path, 'registry'], registryHostProblem);
    return credentials === undefined ? { kind: 'external', host } : { kind: 'external', host, credentials };
  }

  private readWorkspacePath(value: unknown, path: FieldPath): string | undefined {
    if (typeof value !== 'string') return undefined;
    const normalized = workspacePath(value);
    if (normalized === undefined) {
      this.issues.error(path, `"${value}" must be a relative path inside the workspace`);
    }
    return normalized;
  }

  private readWhen(value: unknown, path: FieldPath): When {
    if (value === undefined || value === null) return {};
    if (!isMapping(value)) {
      this.issues.error(path, 'must be a mapping of branch, tag, event and paths');
      return {};
    }
    const fields = withoutNulls(value) as Record<string, unknown>;
    checkShape(WhenShape, fields, path, this.issues);
    const when: When = {};
    const glob = (pattern: string) => {
      const error = globError(pattern);
      return error ? `invalid glob "${pattern}": ${error}` : undefined;
    };
    if (fields.branch !== undefined) {
      when.branch = readFilter(fields.branch, [...path, 'branch'], this.ctx, glob);
    }
    if (fields.tag !== undefined) when.tag = readFilter(fields.tag, [...path, 'tag'], this.ctx, glob);
    if (fields.paths !== undefined) when.paths = readFilter(fields.paths, [...path, 'paths'], this.ctx, glob);
    if (fields.event !== undefined) {
      when.event = readFilter(
        fields.event,
        [...path, 'event'],
        this.ctx,
        eventProblem,
      ) as Filter<TriggerEvent>;
    }
    return when;
  }

  private readNeeds(value: unknown, path: FieldPath): string[] {
    if (value === undefined) return [];
    if (typeof value === 'string') {
      this.singleNeeds.add(formatPath(path));
      return [value];
    }
    if (Array.isArray(value)) {
      const out: string[] = [];
      value.forEach((need, i) => {
        if (typeof need === 'string') out.push(need);
        else this.issues.error([...path, i], 'must be a job name');
      });
      return out;
    }
    this.issues.error(path, 'must be a job name or a list of job names');
    return [];
  }

  private readSecrets(value: unknown, path: FieldPath): SecretEnv[] {
    if (value === undefined || value === null) return [];
    if (!isMapping(value)) {
      this.issues.error(path, 'must be a mapping of variable names to secrets');
      return [];
    }
    const out: SecretEnv[] = [];
    for (const [env, raw] of Object.entries(value)) {
      const at = [...path, env];
      const problem = variableNameProblem(env) ?? reservedVariable(env);
      if (problem) {
        this.issues.error(at, problem);
      } else if (typeof raw === 'string' && raw !== '') {
        out.push({ env, secret: raw, key: env });
      } else if (isMapping(raw)) {
        if (checkShape(SecretShape, raw, at, this.issues)) {
          out.push({ env, secret: raw.secret as string, key: typeof raw.key === 'string' ? raw.key : env });
        }
      } else {
        this.issues.error(at, 'must be a secret name or a mapping with secret and key');
      }
    }
    return out;
  }

  private rejectEnvSecretClash(env: Record<string, string>, secrets: SecretEnv[], path: FieldPath): void {
    for (const secret of secrets) {
      if (Object.hasOwn(env, secret.env)) {
        this.issues.error([...path, secret.env], `${secret.env} is also set in env`);
      }
    }
  }

  private readClone(value: unknown): { depth?: number; credentials?: string } | undefined {
    if (value === undefined || value === true) return {};
    if (value === false) return undefined;
    if (isMapping(value)) {
      const fields = withoutNulls(value) as Record<string, unknown>;
      if (!checkShape(CheckoutShape, fields, ['clone'], this.issues)) return {};
      return {
        ...(typeof fields.depth === 'number' ? { depth: fields.depth } : {}),
        ...(typeof fields.credentials === 'string' ? { credentials: fields.credentials } : {}),
      };
    }
    this.issues.error(['clone'], 'must be true, false or a mapping with depth');
    return {};
  }

  private readDuration(value: unknown, path: FieldPath): number | undefined {
    if (value === undefined) return undefined;
    const match = typeof value === 'string' ? /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value) : null;
    if (!match || value === '') {
      this.issues.error(path, 'must be a duration such as 90s, 30m or 1h30m');
      return undefined;
    }
    const seconds = Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
    if (seconds === 0) {
      this.issues.error(path, 'must be longer than 0s');
      return undefined;
    }
    return seconds;
  }

  private checked(value: string, path: FieldPath, problem: (value: string) => string | undefined): string {
    const error = problem(value);
    if (error) this.issues.error(path, error);
    return value;
  }

  private checkedList(
    values: string[],
    path: FieldPath,
    problem: (value: string) => string | undefined,
  ): string[] {
    values.forEach((value, i) => this.checked(value, [...path, i], problem));
    return values;
  }

  /** The model's own rules (names, needs, cycles), reported at the fields they come from. */
  private reportModelIssues(pipeline: Pipeline, origins: Origins): void {
    for (const issue of validatePipeline(pipeline)) {
      let field = issue.field;
      if (field[0] === 'timeoutSeconds') field = ['timeout'];
      else if (field[0] === 'name') field = [];
      let base: FieldPath = [];
      if (issue.stage === undefined) {
        if (field[0] === 'stages') field = [origins.stagesField];
      } else if (issue.job === undefined) {
        base = origins.stages[issue.stage] ?? [];
      } else {
        base = origins.jobs[issue.stage]?.[issue.job] ?? [];
      }
      if (field[0] === 'needs' && this.singleNeeds.has(formatPath([...base, 'needs']))) field = ['needs'];
      const path = [...base, ...field];
      if (!this.issues.hasErrorAround(path)) this.issues.error(path, issue.message);
    }
  }
}

interface Inherited {
  env: Record<string, string>;
  secrets: SecretEnv[];
  reservedJobName: string | undefined;
}

interface StepContext {
  name: string;
  image: string | undefined;
  /** First tag of the job's latest build step so far; null when that step is in error. */
  lastBuild: string | null | undefined;
}

function emptyJob(name: string): Job {
  return { name, needs: [], when: {}, env: {}, secrets: [], retries: 0, steps: [] };
}

function without(values: Record<string, string>, names: ReadonlySet<string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([name]) => !names.has(name)));
}

function reservedVariable(name: string): string | undefined {
  return name === 'CI' || name.startsWith('SLIPWAY_') ? `${name} is set by Slipway` : undefined;
}

function eventProblem(event: string): string | undefined {
  if ((TRIGGER_EVENTS as readonly string[]).includes(event)) return undefined;
  const hint = suggest(event, TRIGGER_EVENTS);
  return `unknown event "${event}" (${hint ? `did you mean ${hint}? ` : ''}expected one of ${TRIGGER_EVENTS.join(', ')})`;
}
