import type { ContainerImage, ExecutionResult, Executor } from './executor.js';
import { expandVariables } from './model.js';
import type { StepContext, StepRunners } from './step-runner.js';

/** The executors the script step kinds run on. */
export interface ScriptExecutors {
  /** Runs `script` steps on the host (the local executor). */
  host?: Executor;
  /** Runs `script-in-image` steps in their image (the buildah executor). */
  container?: Executor;
  /** Credentials and TLS for pulling a step's image (`ImageSteps.pullAccess`); default: anonymous, TLS on. */
  imageAccess?: (ctx: StepContext, ref: string) => Promise<Partial<ContainerImage>>;
}

/** Runners for `script` and `script-in-image` steps: one executor call each, with the job's environment. */
export function scriptStepRunners(executors: ScriptExecutors): StepRunners {
  return {
    script: (step, ctx) =>
      executors.host
        ? executors.host.execute({ ...requestOf(ctx), commands: scriptCommands(step.script) }, ctx.sink)
        : Promise.resolve(errorResult('no executor runs host script steps on this server')),
    'script-in-image': async (step, ctx) => {
      if (!executors.container) return errorResult('no executor runs steps in images on this server');
      const ref = expandVariables(step.image, ctx.variables);
      let access: Partial<ContainerImage>;
      try {
        access = (await executors.imageAccess?.(ctx, ref)) ?? {};
      } catch (error) {
        return errorResult(`cannot pull ${ref}: ${error instanceof Error ? error.message : String(error)}`);
      }
      return executors.container.execute(
        { ...requestOf(ctx), commands: scriptCommands(step.script), image: { ...access, ref } },
        ctx.sink,
      );
    },
  };
}

/** The script as lines: `sh` sees the same text (the port joins them with newlines), line-based executors see lines. */
function scriptCommands(script: string): { script: string[] } {
  return { script: script.split('\n') };
}

function requestOf(ctx: StepContext) {
  return {
    runId: ctx.runId,
    jobId: ctx.jobId,
    stepId: ctx.stepId,
    workspace: ctx.workspace,
    env: ctx.env,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
  };
}

/** The result of a step that could not start, stamped `now`. */
export function errorResult(error: string, now = Date.now()): ExecutionResult {
  return { outcome: 'error', exitCode: null, error, startedAt: now, finishedAt: now };
}
