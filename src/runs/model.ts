import { Invalid } from '../platform/errors.js';

/**
 * The pipeline model every pipeline definition is normalized to: Slipway's own YAML, Rancher's
 * `.rancher-pipeline.yml` and its API spec, later Zuul jobs and OpenShift BuildConfigs. The engine and the
 * executors see only this model, never a definition format.
 *
 * Shape: a pipeline is stages run in order; the jobs of a stage run in parallel, except where `needs` orders
 * them; a job is steps run in order, in the run's one shared workspace. Everything here is plain JSON data
 * (no classes, no RegExps): a run stores the pipeline it was planned from as it is.
 *
 * Contract for values the engine fills in at run time: the `${NAME}` placeholders of job `env` values, of the
 * image of a script-in-image step, of build arguments and tags, and of the source, repositories and tags of
 * image locations and pushes, are expanded with `expandVariables` from the run's built-in variables only
 * (`runEnvironment`, plus `cicdEnvironment` for the `rancher` dialect), as Rancher did. Scripts are not
 * expanded: the shell sees the built-in variables and the job's `env` in its environment.
 */

export const TRIGGER_EVENTS = ['push', 'tag', 'pull_request', 'manual', 'cron', 'image', 'pipeline'] as const;
/**
 * What started a run: a branch push, a tag push, a pull request (opened or updated), a person (API or UI), a
 * cron schedule, an image pushed to a watched repository tag, or the end of another pipeline's run.
 */
export type TriggerEvent = (typeof TRIGGER_EVENTS)[number];

/** The run-time facts conditions are evaluated against. Built by each trigger before `plan`. */
export interface TriggerContext {
  event: TriggerEvent;
  /** Full commit id the run checks out. */
  commit: string;
  /** Clone URL of the source repository. */
  repoUrl: string;
  /**
   * push: the pushed branch; pull_request: the branch the request targets; manual, cron: the branch asked
   * for. Absent for tag events.
   */
  branch?: string;
  /** tag events: the tag name (without `refs/tags/`). */
  tag?: string;
  /** Full git ref (`refs/heads/main`, `refs/tags/v1`, `refs/pull/7/head`); `gitRef` derives it when absent. */
  ref?: string;
  /**
   * Paths changed by the push or pull request, relative to the repository root. Absent when unknown
   * (manual, cron, a first push): `paths` conditions then hold.
   */
  changedFiles?: string[];
}

/**
 * Glob patterns: a value is rejected by any matching `exclude`, accepted by any matching `include`, and
 * accepted when `include` is empty (Rancher's constraint semantics). See `matchGlob` for the syntax.
 */
export interface Filter<T extends string = string> {
  include: T[];
  exclude: T[];
}

/** Conditions; every present one must hold. An empty object always holds. */
export interface When {
  /** Matched against `TriggerContext.branch`; a context without a branch fails a non-empty include. */
  branch?: Filter;
  /** Matched against `TriggerContext.tag`, same rule. */
  tag?: Filter;
  /** Exact event names, no globs. */
  event?: Filter<TriggerEvent>;
  /** Holds when at least one changed file is included and not excluded, or when changed files are unknown. */
  paths?: Filter;
  /**
   * Rancher compatibility: Rancher set the branch of a tag event to the tag name, so its branch conditions
   * also see tags. When true, a context without a branch is matched by its tag.
   */
  tagAsBranch?: boolean;
}

/**
 * Where an image lives. Slipway's own registry is pushed to with a short-lived token of the run and a
 * one-segment repository is placed in the pipeline's namespace; an external registry uses the stored
 * credential named `credentials`, or when that is absent the stored credential for `host`, or none.
 */
export type RegistryRef = { kind: 'slipway' } | { kind: 'external'; host: string; credentials?: string };

export interface ImageLocation {
  registry: RegistryRef;
  /** `team/app`; may hold `${NAME}` placeholders. */
  repository: string;
}

interface StepBase {
  /** For people (run views, logs); steps are addressed by their index in the job. */
  name: string;
}

/** Fetch the triggering commit (`TriggerContext.commit`) into the workspace with system git and stored credentials. */
export interface CheckoutStep extends StepBase {
  kind: 'checkout';
  /** Shallow clone depth; absent = full history. */
  depth?: number;
  /** Name of a git credential stored for the pipeline's namespace to clone with. */
  credentials?: string;
}

/** A shell script run by `/bin/sh -e` on the host, in the workspace. */
export interface ScriptStep extends StepBase {
  kind: 'script';
  script: string;
}

/** A shell script run by `/bin/sh -e` inside `image`, with the workspace mounted as the working directory. */
export interface ScriptInImageStep extends StepBase {
  kind: 'script-in-image';
  image: string;
  script: string;
}

/** Build an image from a Dockerfile (buildah); the result is known locally by `tags`. */
export interface BuildImageStep extends StepBase {
  kind: 'build-image';
  /** Path of the Dockerfile, relative to the workspace. */
  dockerfile: string;
  /** Build context directory, relative to the workspace. */
  context: string;
  buildArgs: Record<string, string>;
  /** Dockerfile stage to stop at. */
  target?: string;
  /** Local names of the built image (`web`, `web:${SLIPWAY_COMMIT_SHORT}`); at least one. */
  tags: string[];
  /** Layer cache kept in a registry: read before the build and written after it, reused across runs. */
  cache?: ImageLocation;
}

/** Push a locally built image (`source`, one of a build step's tags) to `destination` under each of `tags`. */
export interface PushImageStep extends StepBase {
  kind: 'push-image';
  source: string;
  destination: ImageLocation;
  tags: string[];
}

/**
 * Download an archive (tar, tar.gz, zip) or a bare Dockerfile and unpack it into the workspace: from an
 * http(s) `url` through the outbound policy, or from an uploaded file (`fileId`, Quay's filedrop). Exactly
 * one of the two is set. A bare Dockerfile lands as `Dockerfile` at the workspace root.
 */
export interface FetchArchiveStep extends StepBase {
  kind: 'fetch-archive';
  url?: string;
  fileId?: string;
}

export type Step =
  CheckoutStep | ScriptStep | ScriptInImageStep | BuildImageStep | PushImageStep | FetchArchiveStep;
export type StepKind = Step['kind'];

/** An environment variable whose value is key `key` of the stored secret `secret`, resolved when the job starts. */
export interface SecretEnv {
  env: string;
  secret: string;
  key: string;
}

export interface Job {
  /** Unique in the pipeline: `needs` refers to it. */
  name: string;
  /** Jobs of this stage or an earlier one that must succeed before this one starts. */
  needs: string[];
  when: When;
  /** Pipeline-wide variables already merged in; the job's own win. */
  env: Record<string, string>;
  /** Pipeline-wide secrets already merged in. Withheld from pull_request runs unless the pipeline allows them. */
  secrets: SecretEnv[];
  /** Limit for one attempt; absent = only the pipeline's limit. */
  timeoutSeconds?: number;
  /** How many more attempts a failed job gets (non-zero exit or job timeout); a cancelled job gets none. */
  retries: number;
  steps: Step[];
}

export interface Stage {
  name: string;
  when: When;
  jobs: Job[];
}

/** Which built-in variables the engine injects: SLIPWAY_* always; `rancher` adds Rancher's CICD_* set. */
export type PipelineDialect = 'slipway' | 'rancher';

export interface Pipeline {
  name: string;
  dialect: PipelineDialect;
  /** When this does not hold, the trigger creates no run at all. */
  when: When;
  /** Limit for the whole run. */
  timeoutSeconds: number;
  /** Whether pull_request runs receive `Job.secrets` (false in Rancher, which exposed none to them). */
  secretsOnPullRequest: boolean;
  stages: Stage[];
}

export const DEFAULT_PIPELINE_TIMEOUT_SECONDS = 60 * 60;
export const MAX_RETRIES = 10;
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

// ---------------------------------------------------------------------------------------------------------
// Globs

/**
 * Glob syntax of every `Filter`: `*` any characters but `/`; `**` any characters including `/`, and as a
 * whole path segment also no segment at all (the pattern `a`, `**`, `b` joined by slashes matches `a/b`); `?`
 * one character but `/`; `[abc]`, `[a-z]`, `[!a]` or `[^a]` one character of (or not of) a class; `{x,y}`
 * either alternative; `\` escapes the next character. The whole value must match.
 */
export function matchGlob(pattern: string, value: string): boolean {
  return compileGlob(pattern).test(value);
}

/** Why `pattern` is not a valid glob, or undefined when it is. */
export function globError(pattern: string): string | undefined {
  try {
    compileGlob(pattern);
    return undefined;
  } catch (error) {
    if (error instanceof GlobSyntaxError) return error.message;
    throw error;
  }
}

class GlobSyntaxError extends Error {}

const globCache = new Map<string, RegExp>();
const GLOB_CACHE_LIMIT = 2000;

function compileGlob(pattern: string): RegExp {
  const cached = globCache.get(pattern);
  if (cached) return cached;
  if (pattern === '') throw new GlobSyntaxError('empty pattern');
  const source = globToRegExp(pattern, 0, false).source;
  const compiled = new RegExp(`^${source}$`, 'u');
  if (globCache.size >= GLOB_CACHE_LIMIT) globCache.clear();
  globCache.set(pattern, compiled);
  return compiled;
}

/** Translates from `start` to the end of the pattern, or, inside braces, to the `,` or `}` that ends the alternative. */
function globToRegExp(pattern: string, start: number, inBraces: boolean): { source: string; end: number } {
  let out = '';
  let i = start;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (inBraces && (c === ',' || c === '}')) return { source: out, end: i };
    if (c === '\\') {
      if (i + 1 >= pattern.length) throw new GlobSyntaxError('pattern ends with an escape "\\"');
      out += escapeRegExp(pattern[i + 1] as string);
      i += 2;
    } else if (c === '*') {
      if (pattern[i + 1] === '*') {
        const atSegmentStart = i === 0 || pattern[i - 1] === '/';
        if (atSegmentStart && pattern[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 3;
        } else {
          out += '.*';
          i += 2;
        }
      } else {
        out += '[^/]*';
        i += 1;
      }
    } else if (c === '?') {
      out += '[^/]';
      i += 1;
    } else if (c === '[') {
      const cls = charClass(pattern, i);
      out += cls.source;
      i = cls.end;
    } else if (c === '{') {
      const alternatives: string[] = [];
      let j = i + 1;
      for (;;) {
        const alt = globToRegExp(pattern, j, true);
        alternatives.push(alt.source);
        if (alt.end >= pattern.length) throw new GlobSyntaxError(`unclosed "{" at position ${i + 1}`);
        j = alt.end + 1;
        if (pattern[alt.end] === '}') break;
      }
      out += `(?:${alternatives.join('|')})`;
      i = j;
    } else {
      out += escapeRegExp(c);
      i += 1;
    }
  }
  return { source: out, end: i };
}

function charClass(pattern: string, open: number): { source: string; end: number } {
  let i = open + 1;
  let negated = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negated = true;
    i += 1;
  }
  let body = '';
  let count = 0;
  while (i < pattern.length && pattern[i] !== ']') {
    let c = pattern[i] as string;
    if (c === '\\') {
      if (i + 1 >= pattern.length) break;
      c = pattern[i + 1] as string;
      i += 1;
    }
    i += 1;
    if (pattern[i] === '-' && i + 1 < pattern.length && pattern[i + 1] !== ']') {
      let hi = pattern[i + 1] as string;
      i += 2;
      if (hi === '\\' && i < pattern.length) {
        hi = pattern[i] as string;
        i += 1;
      }
      if (hi < c) throw new GlobSyntaxError(`bad range "${c}-${hi}" at position ${open + 1}`);
      body += `${escapeClassChar(c)}-${escapeClassChar(hi)}`;
    } else {
      body += escapeClassChar(c);
    }
    count += 1;
  }
  if (i >= pattern.length) throw new GlobSyntaxError(`unclosed "[" at position ${open + 1}`);
  if (count === 0) throw new GlobSyntaxError(`empty character class at position ${open + 1}`);
  return { source: negated ? `[^/${body}]` : `[${body}]`, end: i + 1 };
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\]\\^[-]/.test(c) ? `\\${c}` : c;
}

// ---------------------------------------------------------------------------------------------------------
// Conditions

/** Whether every condition of `when` holds for `context`. */
export function evaluateWhen(when: When, context: TriggerContext): boolean {
  return explainWhen(when, context) === undefined;
}

/** Why `when` does not hold for `context` (one sentence for run views), or undefined when it holds. */
export function explainWhen(when: When, context: TriggerContext): string | undefined {
  if (when.event && !filterAccepts(when.event, context.event, (p, v) => p === v)) {
    return `event ${context.event} does not match ${describeFilter(when.event)}`;
  }
  if (when.branch) {
    const branch = context.branch ?? (when.tagAsBranch ? context.tag : undefined);
    if (!filterAccepts(when.branch, branch, matchGlob)) {
      return branch === undefined
        ? `no branch to match ${describeFilter(when.branch)}`
        : `branch ${branch} does not match ${describeFilter(when.branch)}`;
    }
  }
  if (when.tag && !filterAccepts(when.tag, context.tag, matchGlob)) {
    return context.tag === undefined
      ? `no tag to match ${describeFilter(when.tag)}`
      : `tag ${context.tag} does not match ${describeFilter(when.tag)}`;
  }
  if (when.paths && context.changedFiles !== undefined) {
    const paths = when.paths;
    const hit = context.changedFiles.some((file) => filterAccepts(paths, file, matchGlob));
    if (!hit) return `no changed file matches ${describeFilter(paths)}`;
  }
  return undefined;
}

function filterAccepts<T extends string>(
  filter: Filter<T>,
  value: T | undefined,
  match: (pattern: T, value: T) => boolean,
): boolean {
  if (value === undefined) return filter.include.length === 0;
  if (filter.exclude.some((p) => match(p, value))) return false;
  if (filter.include.length === 0) return true;
  return filter.include.some((p) => match(p, value));
}

function describeFilter(filter: Filter): string {
  const parts: string[] = [];
  if (filter.include.length > 0) parts.push(`[${filter.include.join(', ')}]`);
  if (filter.exclude.length > 0) parts.push(`not [${filter.exclude.join(', ')}]`);
  return parts.join(' and ');
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/** A rule a pipeline breaks. `stage` and `job` are indexes; `field` is the path inside the innermost of them. */
export interface PipelineIssue {
  stage?: number;
  job?: number;
  field: (string | number)[];
  message: string;
}

/** A pipeline that breaks the model's rules; `issues` lists every broken rule. */
export class InvalidPipeline extends Invalid {
  constructor(readonly issues: PipelineIssue[]) {
    super('PIPELINE_INVALID', `invalid pipeline: ${issues.map((i) => i.message).join('; ')}`, { issues });
  }
}

/**
 * Every rule of the model a definition parser cannot express in its own shape checks: job names unique and
 * well formed, `needs` naming known jobs of the same or an earlier stage and free of cycles, globs valid,
 * limits in range. Returns no issues for a valid pipeline.
 */
export function validatePipeline(pipeline: Pipeline): PipelineIssue[] {
  const issues: PipelineIssue[] = [];
  if (pipeline.stages.length === 0) {
    issues.push({ field: ['stages'], message: 'at least one stage is required' });
  }
  if (!Number.isInteger(pipeline.timeoutSeconds) || pipeline.timeoutSeconds <= 0) {
    issues.push({ field: ['timeoutSeconds'], message: 'must be a positive number of seconds' });
  }
  issues.push(...whenIssues(pipeline.when).map((i) => ({ field: ['when', ...i.field], message: i.message })));

  const stageOf = new Map<string, number>();
  pipeline.stages.forEach((stage, s) => {
    if (stage.jobs.length === 0) {
      issues.push({ stage: s, field: ['jobs'], message: 'at least one job is required' });
    }
    for (const i of whenIssues(stage.when)) {
      issues.push({ stage: s, field: ['when', ...i.field], message: i.message });
    }
    stage.jobs.forEach((job, j) => {
      if (!JOB_NAME_PATTERN.test(job.name)) {
        issues.push({
          stage: s,
          job: j,
          field: ['name'],
          message: `job name "${job.name}" must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`,
        });
      }
      if (stageOf.has(job.name)) {
        issues.push({ stage: s, job: j, field: ['name'], message: `job name "${job.name}" is used twice` });
      } else {
        stageOf.set(job.name, s);
      }
    });
  });

  pipeline.stages.forEach((stage, s) =>
    stage.jobs.forEach((job, j) => {
      const at = (field: (string | number)[], message: string) =>
        issues.push({ stage: s, job: j, field, message });
      job.needs.forEach((need, n) => {
        const needStage = stageOf.get(need);
        if (need === job.name) at(['needs', n], `job "${job.name}" cannot need itself`);
        else if (needStage === undefined) at(['needs', n], `needs unknown job "${need}"`);
        else if (needStage > s) at(['needs', n], `needs job "${need}" of a later stage`);
      });
      if (job.steps.length === 0) at(['steps'], 'at least one step is required');
      if (!Number.isInteger(job.retries) || job.retries < 0 || job.retries > MAX_RETRIES) {
        at(['retries'], `must be an integer from 0 to ${MAX_RETRIES}`);
      }
      if (
        job.timeoutSeconds !== undefined &&
        (!Number.isInteger(job.timeoutSeconds) || job.timeoutSeconds <= 0)
      ) {
        at(['timeoutSeconds'], 'must be a positive number of seconds');
      }
      for (const i of whenIssues(job.when)) at(['when', ...i.field], i.message);
    }),
  );

  for (const cycle of needsCycles(pipeline)) {
    const first = cycle[0] as string;
    const s = stageOf.get(first) ?? 0;
    const j = pipeline.stages[s]?.jobs.findIndex((job) => job.name === first) ?? 0;
    const links = cycle.map((name, i) => `${name} needs ${cycle[(i + 1) % cycle.length]}`);
    issues.push({ stage: s, job: j, field: ['needs'], message: `needs form a cycle: ${links.join(', ')}` });
  }
  return issues;
}

function whenIssues(when: When): { field: (string | number)[]; message: string }[] {
  const issues: { field: (string | number)[]; message: string }[] = [];
  for (const key of ['branch', 'tag', 'paths'] as const) {
    const filter = when[key];
    if (!filter) continue;
    for (const list of ['include', 'exclude'] as const) {
      filter[list].forEach((pattern, i) => {
        const error = globError(pattern);
        if (error) issues.push({ field: [key, list, i], message: `invalid glob "${pattern}": ${error}` });
      });
    }
  }
  if (when.event) {
    for (const list of ['include', 'exclude'] as const) {
      when.event[list].forEach((event, i) => {
        if (!(TRIGGER_EVENTS as readonly string[]).includes(event)) {
          issues.push({ field: ['event', list, i], message: `unknown event "${event}"` });
        }
      });
    }
  }
  return issues;
}

/** The cycles a depth-first walk meets (at least one per cyclic group), as the job names along each. */
function needsCycles(pipeline: Pipeline): string[][] {
  const jobs = new Map<string, Job>();
  for (const stage of pipeline.stages) {
    for (const job of stage.jobs) if (!jobs.has(job.name)) jobs.set(job.name, job);
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (name: string) => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const need of jobs.get(name)?.needs ?? []) {
      if (!jobs.has(need) || need === name) continue;
      const s = state.get(need);
      if (s === 'visiting') cycles.push(stack.slice(stack.indexOf(need)));
      else if (s === undefined) visit(need);
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of jobs.keys()) if (!state.has(name)) visit(name);
  return cycles;
}

// ---------------------------------------------------------------------------------------------------------
// Planning

export type SkipKind = 'pipeline-when' | 'stage-when' | 'job-when' | 'needs-skipped';

export interface SkipReason {
  kind: SkipKind;
  /** For people: `branch dev does not match [main]`, `needs skipped job "lint"`. */
  message: string;
}

interface PlannedJobBase {
  stageIndex: number;
  stage: string;
  job: Job;
}

export interface JobToRun extends PlannedJobBase {
  status: 'run';
  /**
   * The jobs that must succeed before this one starts: its `needs` and the jobs to run of the nearest earlier
   * stage that has any (which wait for theirs in turn). Empty for the first jobs of the run.
   */
  waitsFor: string[];
  /** True on a pull_request run of a pipeline that does not allow secrets there: start the job without `job.secrets`. */
  withholdSecrets: boolean;
}

export interface JobToSkip extends PlannedJobBase {
  status: 'skip';
  reason: SkipReason;
}

export type PlannedJob = JobToRun | JobToSkip;

export interface Plan {
  /** False when the pipeline's own `when` does not hold: create no run (every job is then a skip). */
  triggered: boolean;
  /** Why not triggered. */
  reason?: string;
  /** Every job of the pipeline once: stage by stage, in `needs` order inside a stage, else in definition order. */
  jobs: PlannedJob[];
}

/**
 * Which jobs of `pipeline` run for `context` and which are skipped, with why. A job is skipped when the
 * pipeline's, its stage's or its own `when` does not hold, or when a job it needs is skipped. Throws
 * `InvalidPipeline` for a pipeline `validatePipeline` rejects.
 */
export function plan(pipeline: Pipeline, context: TriggerContext): Plan {
  const issues = validatePipeline(pipeline);
  if (issues.length > 0) throw new InvalidPipeline(issues);

  const pipelineWhy = explainWhen(pipeline.when, context);
  const jobs: PlannedJob[] = [];
  const running = new Set<string>();
  const skipped = new Set<string>();
  let barrier: string[] = [];

  pipeline.stages.forEach((stage, stageIndex) => {
    const stageWhy = pipelineWhy === undefined ? explainWhen(stage.when, context) : undefined;
    const runningHere: string[] = [];
    for (const job of orderByNeeds(stage.jobs)) {
      const base = { stageIndex, stage: stage.name, job };
      const reason = skipReason(job, pipelineWhy, stageWhy, skipped, context);
      if (reason) {
        skipped.add(job.name);
        jobs.push({ ...base, status: 'skip', reason });
        continue;
      }
      const waitsFor = [...new Set([...job.needs.filter((n) => running.has(n)), ...barrier])];
      running.add(job.name);
      runningHere.push(job.name);
      jobs.push({
        ...base,
        status: 'run',
        waitsFor,
        withholdSecrets:
          context.event === 'pull_request' && !pipeline.secretsOnPullRequest && job.secrets.length > 0,
      });
    }
    if (runningHere.length > 0) barrier = runningHere;
  });

  return pipelineWhy === undefined
    ? { triggered: true, jobs }
    : { triggered: false, reason: pipelineWhy, jobs };
}

function skipReason(
  job: Job,
  pipelineWhy: string | undefined,
  stageWhy: string | undefined,
  skipped: ReadonlySet<string>,
  context: TriggerContext,
): SkipReason | undefined {
  if (pipelineWhy !== undefined) return { kind: 'pipeline-when', message: pipelineWhy };
  if (stageWhy !== undefined) return { kind: 'stage-when', message: stageWhy };
  const jobWhy = explainWhen(job.when, context);
  if (jobWhy !== undefined) return { kind: 'job-when', message: jobWhy };
  const skippedNeed = job.needs.find((n) => skipped.has(n));
  if (skippedNeed !== undefined) {
    return { kind: 'needs-skipped', message: `needs skipped job "${skippedNeed}"` };
  }
  return undefined;
}

/** Kahn's algorithm over the needs inside one stage; ties keep definition order. The stage is acyclic. */
function orderByNeeds(jobs: Job[]): Job[] {
  const here = new Set(jobs.map((j) => j.name));
  const placed = new Set<string>();
  const ordered: Job[] = [];
  while (ordered.length < jobs.length) {
    const next = jobs.find((j) => !placed.has(j.name) && j.needs.every((n) => !here.has(n) || placed.has(n)));
    if (!next) throw new Error('needs cycle in a validated pipeline');
    placed.add(next.name);
    ordered.push(next);
  }
  return ordered;
}

// ---------------------------------------------------------------------------------------------------------
// Variables

/** Replaces each `${NAME}` whose NAME is in `vars`; other text, unknown names included, stays as it is. */
export function expandVariables(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? (vars[name] as string) : whole,
  );
}

/** The git ref of the context: its own, else derived from the tag or the branch, else empty. */
export function gitRef(context: TriggerContext): string {
  if (context.ref) return context.ref;
  if (context.event === 'tag' && context.tag) return `refs/tags/${context.tag}`;
  if (context.branch) return `refs/heads/${context.branch}`;
  if (context.tag) return `refs/tags/${context.tag}`;
  return '';
}

/** Last path segment of a clone URL without `.git`: `https://git.example.com/team/app.git` → `app`. */
export function repositoryName(repoUrl: string): string {
  const trimmed = repoUrl.replace(/\/+$/, '');
  const last = trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf(':')) + 1);
  return last.replace(/\.git$/, '');
}

/** What the engine knows about a run when it starts a job. */
export interface RunIdentity {
  /** Stable id of the pipeline. */
  pipelineId: string;
  /** Run number inside the pipeline, from 1. */
  number: number;
  /** host[:port] of Slipway's own registry as a job reaches it. */
  registry?: string;
}

/**
 * The SLIPWAY_* variables every job of every dialect gets (plus `CI=true`): SLIPWAY_EVENT, SLIPWAY_BRANCH,
 * SLIPWAY_TAG, SLIPWAY_REF, SLIPWAY_COMMIT, SLIPWAY_COMMIT_SHORT (7 characters), SLIPWAY_REPO_URL,
 * SLIPWAY_REPO_NAME, SLIPWAY_PIPELINE_ID, SLIPWAY_RUN_NUMBER, SLIPWAY_REGISTRY. Absent facts are empty strings.
 */
export function runEnvironment(context: TriggerContext, run: RunIdentity): Record<string, string> {
  return {
    CI: 'true',
    SLIPWAY_EVENT: context.event,
    SLIPWAY_BRANCH: context.branch ?? '',
    SLIPWAY_TAG: context.tag ?? '',
    SLIPWAY_REF: gitRef(context),
    SLIPWAY_COMMIT: context.commit,
    SLIPWAY_COMMIT_SHORT: context.commit.slice(0, 7),
    SLIPWAY_REPO_URL: context.repoUrl,
    SLIPWAY_REPO_NAME: repositoryName(context.repoUrl),
    SLIPWAY_PIPELINE_ID: run.pipelineId,
    SLIPWAY_RUN_NUMBER: String(run.number),
    SLIPWAY_REGISTRY: run.registry ?? '',
  };
}

/** `pipeline` whose checkout steps that name no credential clone with `credential`. */
export function withCheckoutCredentials(pipeline: Pipeline, credential: string): Pipeline {
  const step = (s: Step): Step =>
    s.kind === 'checkout' && s.credentials === undefined ? { ...s, credentials: credential } : s;
  return {
    ...pipeline,
    stages: pipeline.stages.map((stage) => ({
      ...stage,
      jobs: stage.jobs.map((job) => ({ ...job, steps: job.steps.map(step) })),
    })),
  };
}
