/**
 * The Executor port: runs one step of a job somewhere (host processes, a buildah container, later
 * a Kubernetes pod) and reports how it ended.
 *
 * Lifecycle of one call, `execute(request, sink)`:
 * 1. The caller has created `request.workspace` (one directory per run, shared by all its steps)
 *    and deletes it after the run; the executor never creates or removes it.
 * 2. The executor prepares what it needs (a container from `request.image`), starts the commands
 *    in the workspace with exactly the base environment it documents plus `request.env`, and
 *    passes every chunk of output to `sink` as it arrives, in order within each stream, with a
 *    non-decreasing `at`. The sink is never called after the returned promise settles.
 * 3. The step ends by itself, by `request.signal` aborting (outcome `cancelled`) or by
 *    `request.timeoutMs` elapsing since the call (outcome `timed_out`). On every end the
 *    executor kills the step's whole process tree (the processes its commands started, their
 *    children and anything left in the background), waits until it is gone, releases what it
 *    prepared (containers, temporary files), and only then resolves. Processes that deliberately
 *    leave the tree (a new session via setsid, a daemon) are outside this guarantee.
 * 4. It resolves with the outcome and never rejects: a non-zero exit or a missing command is
 *    `failed` with the exit code; a failure of the executor itself (invalid request, workspace
 *    missing, image not pullable, a sink that throws) is `error` with a message in `error`.
 *    An already aborted signal gives `cancelled` without starting anything.
 *
 * Concurrency: one executor instance serves any number of concurrent calls, for steps of the same
 * run or of different runs. It does not serialise steps that share a workspace; ordering them is
 * the scheduler's job. It keeps no state between calls, so a restarted server just calls it again.
 */
import { isAbsolute } from 'node:path';
import type { StepOutcome } from './states.js';

/** What a step runs: shell lines joined by newlines and run by `sh -e -c`, or one argv without a shell. */
export type StepCommands =
  { readonly script: readonly string[] } | { readonly argv: readonly [string, ...string[]] };

/** A host path bind-mounted into a container step. */
export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly?: boolean;
}

export interface RegistryCredentials {
  readonly username: string;
  /** A password or, for Slipway's own registry, a short-lived token issued for the run. */
  readonly password: string;
}

/** The image a container step runs in. */
export interface ContainerImage {
  /** A reference such as `registry.example:5000/team/app:tag`, or a name already in local storage. */
  readonly ref: string;
  /** Default `missing`: pull only when the image is not in local storage. */
  readonly pullPolicy?: 'always' | 'missing' | 'never';
  /** For the registry named by `ref`. */
  readonly credentials?: RegistryCredentials;
  /** Default true; false allows a plain-HTTP or self-signed registry. */
  readonly tlsVerify?: boolean;
}

export interface ExecutionRequest {
  readonly runId: string;
  readonly jobId: string;
  readonly stepId: string;
  /** Absolute host directory, existing, shared by the steps of one run; the working directory. */
  readonly workspace: string;
  readonly commands: StepCommands;
  /** Added to the executor's base environment. Names must be POSIX names (`[A-Za-z_][A-Za-z0-9_]*`). */
  readonly env: Readonly<Record<string, string>>;
  /** Set for container steps; an executor that runs no containers answers `error`. */
  readonly image?: ContainerImage;
  /** Extra mounts for container steps; an executor that runs no containers answers `error`. */
  readonly mounts?: readonly Mount[];
  /** Milliseconds from the call to a `timed_out` end; `Infinity` for none. */
  readonly timeoutMs: number;
  /** Aborting it cancels the step. */
  readonly signal: AbortSignal;
}

export interface LogChunk {
  readonly stream: 'stdout' | 'stderr';
  readonly data: Buffer;
  /** Epoch milliseconds when the executor received the chunk. */
  readonly at: number;
}

/** Receives output as it arrives. It must be cheap and must not throw (a throw makes the step `error`). */
export type LogSink = (chunk: LogChunk) => void;

export interface ExecutionResult {
  readonly outcome: StepOutcome;
  /**
   * The exit code of the step's commands (128 + signal number if a signal the executor did not
   * send killed them); null when they did not exit by themselves: cancelled, timed out, or never
   * started.
   */
  readonly exitCode: number | null;
  /** Epoch milliseconds: when the call began and when everything was cleaned up. */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Why, in words, for every outcome but success. */
  readonly error?: string;
}

export interface Executor {
  /** `local`, `buildah`, `fake`, ...: recorded with each job. */
  readonly name: string;
  execute(request: ExecutionRequest, sink: LogSink): Promise<ExecutionResult>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The checks every executor makes before starting anything; a message for an `error` outcome,
 * or undefined when the request is well-formed. (Whether the workspace exists is checked by
 * each executor, on its own file system.)
 */
export function requestProblem(request: ExecutionRequest): string | undefined {
  if (!isAbsolute(request.workspace)) return `workspace must be an absolute path: ${request.workspace}`;
  if (!(request.timeoutMs > 0)) return `timeoutMs must be positive: ${request.timeoutMs}`;
  const lines = 'script' in request.commands ? request.commands.script : request.commands.argv;
  if (lines.length === 0) return 'a step needs at least one command';
  const badName = Object.keys(request.env).find((name) => !ENV_NAME.test(name));
  if (badName !== undefined) return `invalid environment variable name: ${JSON.stringify(badName)}`;
  const nul = Object.entries(request.env).find(([, value]) => value.includes('\0'));
  if (nul !== undefined) return `environment variable ${nul[0]} contains a NUL byte`;
  return undefined;
}

/** The shell script for `script` commands: the lines joined by newlines, as `sh -e -c` runs them. */
export function scriptOf(commands: { readonly script: readonly string[] }): string {
  return commands.script.join('\n');
}

/** An ExecutionResult before its timings are stamped. */
export type StepEnd = Omit<ExecutionResult, 'startedAt' | 'finishedAt'>;

export interface ExecutionScope {
  /** Passes output to the sink with a timestamp that never goes backwards; nothing after `finish`. */
  emit(stream: LogChunk['stream'], data: Buffer): void;
  /** Stamps the timings; turns `success` or `failed` into `error` if the sink threw. */
  finish(end: StepEnd): ExecutionResult;
}

/**
 * What every executor does around a call: the start time, the sink guarded so that a throw is
 * remembered rather than propagated (output after it is dropped), and the finish time.
 */
export function beginExecution(sink: LogSink, now: () => number): ExecutionScope {
  const startedAt = now();
  let last = startedAt;
  let sinkFailure: string | undefined;
  let finished = false;
  return {
    emit(stream, data) {
      if (finished || sinkFailure !== undefined || data.length === 0) return;
      last = Math.max(last, now());
      try {
        sink({ stream, data, at: last });
      } catch (err) {
        sinkFailure = `log sink failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    },
    finish(end) {
      finished = true;
      const lostLogs = sinkFailure !== undefined && (end.outcome === 'success' || end.outcome === 'failed');
      const result = lostLogs ? { ...end, outcome: 'error' as const, error: sinkFailure } : end;
      return { ...result, startedAt, finishedAt: Math.max(last, now()) };
    },
  };
}
