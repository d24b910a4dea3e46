/**
 * The local executor: a step's commands as processes on the host, in the run's workspace.
 *
 * Each step is started in its own process group (`detached: true` makes the child a session and
 * group leader). Ending the step, whatever the reason, signals that group: SIGTERM, then SIGKILL
 * after a grace period. This also ends what the step left in the background after a normal exit,
 * so no step outlives its call. Processes that start a new session of their own escape the group
 * and are not tracked (see the port's contract).
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../../platform/clock.js';
import {
  beginExecution,
  requestProblem,
  scriptOf,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type LogChunk,
  type LogSink,
  type StepEnd,
} from '../executor.js';

/** Host variables a step sees by default; the server's own settings and secrets stay out. */
const DEFAULT_BASE_ENV_NAMES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'];

export interface LocalExecutorOptions {
  /** The environment every step starts from. Default: PATH, HOME, LANG, LC_ALL, TZ, TMPDIR, USER, LOGNAME of this process. */
  baseEnv?: Readonly<Record<string, string>>;
  /** Between SIGTERM and SIGKILL when a step is ended. Default 5000 ms. */
  graceMs?: number;
  /** The shell for `script` commands. Default `sh`. */
  shell?: string;
  clock?: Clock;
}

export class LocalExecutor implements Executor {
  readonly name = 'local';
  private readonly baseEnv: Readonly<Record<string, string>>;
  private readonly graceMs: number;
  private readonly shell: string;
  private readonly clock: Clock;

  constructor(options: LocalExecutorOptions = {}) {
    this.baseEnv = options.baseEnv ?? pickEnv(process.env, DEFAULT_BASE_ENV_NAMES);
    this.graceMs = options.graceMs ?? 5000;
    this.shell = options.shell ?? 'sh';
    this.clock = options.clock ?? systemClock;
  }

  async execute(request: ExecutionRequest, sink: LogSink): Promise<ExecutionResult> {
    const scope = beginExecution(sink, () => this.clock.now());
    if (request.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    const problem =
      requestProblem(request) ??
      (request.image !== undefined ? 'the local executor runs no container images' : undefined) ??
      (request.mounts?.length ? 'the local executor cannot mount into the host' : undefined) ??
      (await workspaceProblem(request.workspace));
    if (problem !== undefined) return scope.finish({ outcome: 'error', exitCode: null, error: problem });

    const [command, ...args] =
      'script' in request.commands
        ? [this.shell, '-e', '-c', scriptOf(request.commands)]
        : request.commands.argv;
    const ended = await runProcessGroup({
      command,
      args,
      cwd: request.workspace,
      env: { ...this.baseEnv, ...request.env },
      timeoutMs: request.timeoutMs,
      signal: request.signal,
      graceMs: this.graceMs,
      onOutput: scope.emit,
    });
    if (ended.end === 'spawn_failed' && 'script' in request.commands) {
      // The executor's own shell is missing: not something the step's commands did.
      const error = `cannot start ${command}: ${ended.spawnError?.message}`;
      return scope.finish({ outcome: 'error', exitCode: null, error });
    }
    return scope.finish(endOf(ended, command));
  }
}

/** The outcome of a finished process group, as the port reports it. */
export function endOf(ended: ProcessGroupEnd, command: string): StepEnd {
  switch (ended.end) {
    case 'cancelled':
      return { outcome: 'cancelled', exitCode: null, error: 'cancelled' };
    case 'timed_out':
      return { outcome: 'timed_out', exitCode: null, error: 'timed out' };
    case 'spawn_failed': {
      // What a shell answers for a command it cannot find (127) or cannot execute (126).
      const code = ended.spawnError?.code;
      if (code === 'ENOENT') {
        return { outcome: 'failed', exitCode: 127, error: `command not found: ${command}` };
      }
      if (code === 'EACCES') {
        return { outcome: 'failed', exitCode: 126, error: `permission denied: ${command}` };
      }
      const error = `cannot start ${command}: ${ended.spawnError?.message}`;
      return { outcome: 'error', exitCode: null, error };
    }
    case 'exited':
      if (ended.signal !== null) {
        return {
          outcome: 'failed',
          exitCode: 128 + (osConstants.signals[ended.signal] ?? 0),
          error: `killed by ${ended.signal}`,
        };
      }
      if (ended.exitCode === 0) return { outcome: 'success', exitCode: 0 };
      return { outcome: 'failed', exitCode: ended.exitCode, error: `exited with code ${ended.exitCode}` };
  }
}

export interface ProcessGroupOptions {
  command: string;
  args: readonly string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /** From the start; `Infinity` for none. */
  timeoutMs: number;
  signal: AbortSignal;
  graceMs: number;
  onOutput: (stream: LogChunk['stream'], data: Buffer) => void;
}

export interface ProcessGroupEnd {
  /** `exited` by itself, stopped by the executor for a cancel or a timeout, or never started. */
  end: 'exited' | 'cancelled' | 'timed_out' | 'spawn_failed';
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: NodeJS.ErrnoException;
}

/** How long output may still arrive after the group is gone (from a process that left it). */
const DRAIN_MS = 5000; // generous: on a loaded machine the last output of a finished step can take a while to be read

/**
 * Runs a command as the leader of a new process group and resolves once it exited, everything
 * left in its group is gone and its output is drained. Never rejects. Shared by the executors
 * that run host processes (local, and buildah, whose container processes stay in the group of
 * the `buildah run` that started them).
 */
export async function runProcessGroup(options: ProcessGroupOptions): Promise<ProcessGroupEnd> {
  if (options.signal.aborted) return { end: 'cancelled', exitCode: null, signal: null };
  let child;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Invalid arguments (a NUL byte, ...) are thrown synchronously rather than emitted.
    return { end: 'spawn_failed', exitCode: null, signal: null, spawnError: err as NodeJS.ErrnoException };
  }
  const { stdout, stderr } = child;
  stdout.on('data', (data: Buffer) => options.onOutput('stdout', data));
  stderr.on('data', (data: Buffer) => options.onOutput('stderr', data));
  const drained = Promise.all([streamDone(stdout), streamDone(stderr)]);
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, signal) => resolve([code, signal])),
  );
  const spawned = new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });

  const spawnError = await spawned;
  const pgid = child.pid;
  if (spawnError !== undefined || pgid === undefined) {
    stdout.destroy();
    stderr.destroy();
    return { end: 'spawn_failed', exitCode: null, signal: null, spawnError };
  }
  // A later 'error' (a failed kill) must not become an uncaught exception.
  child.on('error', () => {});

  let stopped: 'cancelled' | 'timed_out' | undefined;
  let killing: Promise<void> | undefined;
  const stop = (why: 'cancelled' | 'timed_out'): void => {
    if (stopped !== undefined) return;
    stopped = why;
    killing = killProcessGroup(pgid, options.graceMs);
  };
  const onAbort = (): void => stop('cancelled');
  options.signal.addEventListener('abort', onAbort, { once: true });
  const timer =
    Number.isFinite(options.timeoutMs) && options.timeoutMs <= 2 ** 31 - 1
      ? setTimeout(() => stop('timed_out'), options.timeoutMs)
      : undefined;
  if (options.signal.aborted) stop('cancelled');

  const [exitCode, signal] = await exited;
  clearTimeout(timer);
  options.signal.removeEventListener('abort', onAbort);
  // The leader is gone; whatever it left behind in its group goes too.
  await (killing ?? killProcessGroup(pgid, options.graceMs));
  const late = await Promise.race([drained.then(() => false), sleep(DRAIN_MS, true)]);
  if (late) {
    stdout.destroy();
    stderr.destroy();
  }
  return stopped !== undefined
    ? { end: stopped, exitCode: null, signal: null }
    : { end: 'exited', exitCode, signal };
}

function streamDone(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('close', resolve);
    stream.once('end', resolve);
    stream.once('error', () => resolve());
  });
}

const POLL_MS = 20;

/**
 * Ends every process of group `pgid`: SIGTERM, then SIGKILL to what is left after `graceMs`.
 * Resolves once no live process is left in the group (or, after SIGKILL, after a bounded wait).
 */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!(await groupAlive(pgid))) return;
  signalGroup(pgid, 'SIGTERM');
  const termDeadline = performance.now() + graceMs;
  while (performance.now() < termDeadline) {
    await sleep(POLL_MS);
    if (!(await groupAlive(pgid))) return;
  }
  signalGroup(pgid, 'SIGKILL');
  const killDeadline = performance.now() + 5000;
  while (performance.now() < killDeadline && (await groupAlive(pgid))) await sleep(POLL_MS);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone. EPERM: a member changed its credentials (setuid) and
    // cannot be signalled by us; the bounded waits above still let the step finish.
  }
}

/**
 * True while a process of the group is alive. Zombies do not count: an orphan is reaped by
 * PID 1, which in a container may never do it, and a zombie cannot be killed anyway. Signal 0
 * answers for the whole group at once; only when it finds someone is /proc read to tell zombies
 * apart (without /proc, zombies count).
 */
async function groupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    // ESRCH: not even a zombie is left, the usual case when a step ends by itself.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return true;
  }
  const states = await Promise.all(
    pids.map(async (pid) => {
      const line = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
      const [state, , pgrp] = line.slice(line.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z' && state !== 'X';
    }),
  );
  return states.includes(true);
}

/** Why `path` cannot be a workspace, or undefined. */
export async function workspaceProblem(path: string): Promise<string | undefined> {
  try {
    if ((await stat(path)).isDirectory()) return undefined;
    return `workspace is not a directory: ${path}`;
  } catch {
    return `workspace does not exist: ${path}`;
  }
}

function pickEnv(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/** The variable every step process of a job carries (host steps, and steps in images through buildah). */
export const JOB_ID_VARIABLE = 'SLIPWAY_JOB_ID';

/**
 * Kills (SIGKILL) every process on this machine whose environment names job `jobId`: the steps a server
 * that died left running, found by their `SLIPWAY_JOB_ID` since the dead server's process groups are
 * unknown to its successor. A no-op where there is no /proc; processes of other users are skipped.
 */
export async function killJobProcesses(jobId: string): Promise<number[]> {
  const needle = `\0${JOB_ID_VARIABLE}=${jobId}\0`;
  const killed: number[] = [];
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (!`\0${environ}`.includes(needle)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      killed.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return killed;
}
