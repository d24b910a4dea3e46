/**
 * Rancher 2.0 tech-preview pipeline specs (`stages[{name, steps[{type, …StepConfig}]}]`) as the
 * `.rancher-pipeline.yml` text that says the same, so that one parser (definition/rancher-yaml.ts) makes the
 * model of both generations:
 *
 * - `sourcecode` → `sourceCodeConfig {}`; its `repository` and `branch` are the runs' source. It must be the
 *   first step of the first stage, as Rancher's UI always made it.
 * - `runscript` → `runScriptConfig {image, shellScript}` with `env ["K=V"]` as the step's env; `entrypoint` and
 *   `args` without a shellScript become the script (each word quoted for the shell).
 * - `buildimage` → `publishImageConfig {dockerfilePath, buildContext, tag}`: built and pushed to Slipway's
 *   registry (the tech preview's build step pushed to the project's registry too). A `pushimage` of the same
 *   `imageTag` later in the pipeline is that same push: it is folded into the build's step, and a `pushimage`
 *   with no build of its tag before it is refused.
 * - `timeout` (minutes) of steps: the pipeline's timeout is the largest of them (the YAML has one per pipeline).
 */
import { stringify } from 'yaml';
import { Invalid } from '../../platform/errors.js';

export const STEP_TYPES = ['sourcecode', 'runscript', 'buildimage', 'pushimage'] as const;
export type StepType = (typeof STEP_TYPES)[number];

export interface SpecStep {
  type: StepType;
  sourceCodeStepConfig?: { repository: string; branch?: string; remoteAccountName?: string };
  runScriptStepConfig?: {
    image: string;
    shellScript?: string;
    entrypoint?: string;
    args?: string;
    env?: string[];
  };
  buildImageStepConfig?: { dockerFilePath?: string; buildPath?: string; imageTag: string };
  pushImageStepConfig?: { imageTag: string };
  timeout?: number;
}

export interface SpecStage {
  name: string;
  steps: SpecStep[];
}

export interface SpecTriggers {
  cronTrigger?: { active?: boolean; timezone?: string; expression?: string };
  webhookTrigger?: { active?: boolean };
}

/** What a spec becomes: the definition's text, and where its runs get their source. */
export interface ConvertedSpec {
  stages: SpecStage[];
  yaml: string;
  repository: string;
  branch?: string;
}

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(field: string, message: string, missing = false): Invalid {
  return new Invalid('PIPELINE_SPEC_INVALID', `${field}: ${message}`, {
    field,
    ...(missing ? { missing } : {}),
  });
}

function optionalString(value: Raw, key: string, at: string): string | undefined {
  const v = value[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`${at}.${key}`, 'must be a string');
  return v;
}

function requiredString(value: Raw, key: string, at: string): string {
  const v = optionalString(value, key, at);
  if (v === undefined) throw invalid(`${at}.${key}`, 'is required', true);
  return v;
}

function config(step: Raw, key: string, at: string, aliases: string[] = []): Raw {
  const value = [key, ...aliases].map((k) => step[k]).find((v) => v !== undefined && v !== null);
  if (value === undefined) throw invalid(`${at}.${key}`, 'is required', true);
  if (!isObject(value)) throw invalid(`${at}.${key}`, 'must be an object');
  return value;
}

/** `'a b'` → `'a b'` quoted for sh. */
const shellQuote = (word: string) =>
  /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;

/** Reads and checks a spec's stages; errors name the field (`stages[1].steps[0].runScriptStepConfig.image`). */
export function readSpecStages(value: unknown): SpecStage[] {
  if (value === undefined || value === null) throw invalid('stages', 'is required', true);
  if (!Array.isArray(value) || value.length === 0)
    throw invalid('stages', 'must be a list of at least one stage');
  return value.map((rawStage, i) => {
    const at = `stages[${i}]`;
    if (!isObject(rawStage)) throw invalid(at, 'must be an object with name and steps');
    const name = requiredString(rawStage, 'name', at);
    const steps = rawStage.steps;
    if (steps === undefined || steps === null) throw invalid(`${at}.steps`, 'is required', true);
    if (!Array.isArray(steps) || steps.length === 0)
      throw invalid(`${at}.steps`, 'must be a list of at least one step');
    return { name, steps: steps.map((rawStep, j) => readStep(rawStep, `${at}.steps[${j}]`)) };
  });
}

function readStep(raw: unknown, at: string): SpecStep {
  if (!isObject(raw)) throw invalid(at, 'must be an object with a type');
  const type = raw.type;
  if (type === undefined || type === null || type === '') throw invalid(`${at}.type`, 'is required', true);
  if (typeof type !== 'string' || !(STEP_TYPES as readonly string[]).includes(type))
    throw invalid(`${at}.type`, `must be one of ${STEP_TYPES.join(', ')}`);
  const step: SpecStep = { type: type as StepType };
  if (raw.timeout !== undefined && raw.timeout !== null) {
    if (typeof raw.timeout !== 'number' || !Number.isInteger(raw.timeout) || raw.timeout < 1)
      throw invalid(`${at}.timeout`, 'must be a whole number of minutes, at least 1');
    step.timeout = raw.timeout;
  }
  switch (step.type) {
    case 'sourcecode': {
      const c = config(raw, 'sourceCodeStepConfig', at);
      const cat = `${at}.sourceCodeStepConfig`;
      step.sourceCodeStepConfig = {
        repository: requiredString(c, 'repository', cat),
        ...opt('branch', optionalString(c, 'branch', cat)),
        ...opt('remoteAccountName', optionalString(c, 'remoteAccountName', cat)),
      };
      break;
    }
    case 'runscript': {
      const c = config(raw, 'runScriptStepConfig', at, ['runAScriptStepConfig']);
      const cat = `${at}.runScriptStepConfig`;
      const env = c.env ?? [];
      if (!Array.isArray(env)) throw invalid(`${cat}.env`, 'must be a list of "KEY=VALUE"');
      env.forEach((e, k) => {
        if (typeof e !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*=/.test(e))
          throw invalid(`${cat}.env[${k}]`, 'must be "KEY=VALUE" with a variable name before "="');
      });
      const shellScript = optionalString(c, 'shellScript', cat);
      const entrypoint = optionalString(c, 'entrypoint', cat) ?? optionalString(c, 'entryPoint', cat);
      const args = optionalString(c, 'args', cat);
      if (shellScript !== undefined && (entrypoint !== undefined || args !== undefined))
        throw invalid(
          `${cat}.entrypoint`,
          'a step runs either a shellScript or an entrypoint with args, not both',
        );
      step.runScriptStepConfig = {
        image: requiredString(c, 'image', cat),
        ...opt('shellScript', shellScript),
        ...opt('entrypoint', entrypoint),
        ...opt('args', args),
        env: env as string[],
      };
      break;
    }
    case 'buildimage': {
      const c = config(raw, 'buildImageStepConfig', at, ['publishImageStepConfig']);
      const cat = `${at}.buildImageStepConfig`;
      step.buildImageStepConfig = {
        imageTag: requiredString(c, 'imageTag', cat),
        ...opt('dockerFilePath', optionalString(c, 'dockerFilePath', cat)),
        ...opt('buildPath', optionalString(c, 'buildPath', cat) ?? optionalString(c, 'buildContext', cat)),
      };
      break;
    }
    case 'pushimage': {
      const c = config(raw, 'pushImageStepConfig', at);
      step.pushImageStepConfig = { imageTag: requiredString(c, 'imageTag', `${at}.pushImageStepConfig`) };
      break;
    }
  }
  return step;
}

const opt = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** The spec as `.rancher-pipeline.yml` text, with the source its runs clone. */
export function convertSpec(rawStages: unknown): ConvertedSpec {
  const stages = readSpecStages(rawStages);
  const first = stages[0]!.steps[0]!;
  if (first.type !== 'sourcecode')
    throw invalid('stages[0].steps[0].type', 'the first step of a pipeline must be a sourcecode step', true);
  const built = new Set<string>();
  let timeout: number | undefined;
  const yamlStages: Raw[] = [];
  stages.forEach((stage, i) => {
    const steps: Raw[] = [];
    stage.steps.forEach((step, j) => {
      const at = `stages[${i}].steps[${j}]`;
      if (step.timeout !== undefined) timeout = Math.max(timeout ?? 0, step.timeout);
      switch (step.type) {
        case 'sourcecode':
          if (i !== 0 || j !== 0)
            throw invalid(`${at}.type`, 'only the first step of the first stage may be sourcecode');
          steps.push({ sourceCodeConfig: {} });
          return;
        case 'runscript': {
          const c = step.runScriptStepConfig!;
          const script =
            c.shellScript ??
            [c.entrypoint, ...(c.args ?? '').split(/\s+/)]
              .filter((w): w is string => !!w)
              .map(shellQuote)
              .join(' ');
          const env = Object.fromEntries(
            (c.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
          );
          steps.push({
            runScriptConfig: { image: c.image, ...(script ? { shellScript: script } : {}) },
            ...(Object.keys(env).length > 0 ? { env } : {}),
          });
          return;
        }
        case 'buildimage': {
          const c = step.buildImageStepConfig!;
          built.add(c.imageTag);
          steps.push({
            publishImageConfig: {
              dockerfilePath: c.dockerFilePath ?? './Dockerfile',
              buildContext: c.buildPath ?? '.',
              tag: c.imageTag,
            },
          });
          return;
        }
        case 'pushimage':
          if (!built.has(step.pushImageStepConfig!.imageTag))
            throw invalid(
              `${at}.pushImageStepConfig.imageTag`,
              'no buildimage step before this one builds this imageTag (a pushimage pushes what a buildimage built)',
            );
          return;
      }
    });
    if (steps.length > 0) yamlStages.push({ name: stage.name, steps });
  });
  const source = first.sourceCodeStepConfig!;
  return {
    stages,
    yaml: stringify({ stages: yamlStages, ...(timeout !== undefined ? { timeout } : {}) }),
    repository: source.repository,
    ...opt('branch', source.branch),
  };
}

/** Reads the triggers of a spec; errors name the field. */
export function readSpecTriggers(value: unknown): SpecTriggers {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw invalid('triggers', 'must be an object');
  const out: SpecTriggers = {};
  if (value.cronTrigger !== undefined && value.cronTrigger !== null) {
    const c = value.cronTrigger;
    if (!isObject(c)) throw invalid('triggers.cronTrigger', 'must be an object');
    const active = c.active ?? false;
    if (typeof active !== 'boolean') throw invalid('triggers.cronTrigger.active', 'must be true or false');
    const expression =
      optionalString(c, 'expression', 'triggers.cronTrigger') ??
      optionalString(c, 'spec', 'triggers.cronTrigger');
    if (active && expression === undefined)
      throw invalid('triggers.cronTrigger.expression', 'is required', true);
    out.cronTrigger = {
      active,
      ...opt('timezone', optionalString(c, 'timezone', 'triggers.cronTrigger')),
      ...opt('expression', expression),
    };
  }
  if (value.webhookTrigger !== undefined && value.webhookTrigger !== null) {
    const w = value.webhookTrigger;
    if (!isObject(w)) throw invalid('triggers.webhookTrigger', 'must be an object');
    const active = w.active ?? false;
    if (typeof active !== 'boolean') throw invalid('triggers.webhookTrigger.active', 'must be true or false');
    out.webhookTrigger = { active };
  }
  return out;
}
