/**
 * Step runners: what the engine calls for the step kinds that are not "run these commands in an executor"
 * (`build-image`, `push-image`; later maybe `checkout`). A runner gets the step exactly as the run's pipeline
 * holds it, placeholders and all, and expands `${NAME}` itself with `ctx.variables` (`expandVariables`).
 *
 * Contract, the same as the Executor port's (src/runs/executor.ts): a runner passes its output to `ctx.sink`
 * as it arrives, never after it settles; it ends on its own, on `ctx.signal` aborting (`cancelled`) or when
 * `ctx.timeoutMs` has elapsed since the call (`timed_out`), and on every end it kills the process trees it
 * started and removes its temporary files before it resolves; it never rejects (a problem of Slipway or of
 * the request is `error`, a failure of the user's input such as a Dockerfile that does not build is
 * `failed`). Any number of calls may run at once.
 */
import type { Subject } from '../identity/index.js';
import type { ExecutionResult, LogSink } from './executor.js';
import type { Step, TriggerContext } from './model.js';

export interface StepContext {
  readonly runId: string;
  readonly jobId: string;
  readonly stepId: string;
  /** Absolute, existing directory shared by the run's steps. */
  readonly workspace: string;
  /** The job's environment (built-in variables, the job's env, its secrets). Runners that start no user commands may ignore it. */
  readonly env: Readonly<Record<string, string>>;
  /** The run's built-in variables (`runEnvironment`, plus `cicdEnvironment` for Rancher pipelines): what `${NAME}` in a step's fields expands to. */
  readonly variables: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Milliseconds from the call; `Infinity` for none. */
  readonly timeoutMs: number;
  readonly sink: LogSink;
  /** host[:port] of Slipway's own registry as buildah on this machine reaches it (`127.0.0.1:5000`). */
  readonly registryHost: string;
  /** The pipeline the run belongs to; `namespace` takes one-segment repositories of Slipway's registry. */
  readonly pipeline: { readonly id: string; readonly name: string; readonly namespace: string };
  readonly run: { readonly number: number };
  readonly job: { readonly name: string };
  /** The step's index in its job and its name, for provenance and messages. */
  readonly step: { readonly index: number; readonly name: string };
  readonly trigger: TriggerContext;
  /**
   * Who the run acts for in Slipway's registry: the short-lived registry token of a step is issued to this
   * subject, for exactly the repositories the step needs, and only for the actions the policy allows it.
   */
  readonly actor: Subject;
}

export type StepRunner<S extends Step = Step> = (step: S, ctx: StepContext) => Promise<ExecutionResult>;

/** Runners by step kind; kinds without one run through an Executor. */
export type StepRunners = { readonly [K in Step['kind']]?: StepRunner<Extract<Step, { kind: K }>> };
