/**
 * The fake executor, for scenario tests: it interprets a step's lines as scripted actions and
 * starts no process. Durations are real (timers), so cancel and timeout behave as with a real
 * executor; files are real too (in the workspace), so steps of a run can hand data on.
 *
 * Built-in lines (one command each; `argv` commands are read as their words joined by spaces):
 * - `fake:log TEXT` / `fake:stderr TEXT`: one line of output on stdout / stderr
 * - `fake:sleep MS`: wait (cancel and timeout interrupt it); `fake:hang`: wait until ended
 * - `fake:fail [CODE]`: end as failed (code 1 by default); `fake:exit CODE`: end with CODE
 * - `fake:error MESSAGE`: end as an executor error
 * - `fake:env NAME`: print the value of NAME from the request's env
 * - `fake:write FILE TEXT`: write TEXT and a newline to FILE in the workspace; `fake:cat FILE`: print it
 * Any other line goes to the `interpret` option; if that does not know it either, the step fails
 * with 127 as a shell would for a command it cannot find. An unknown `fake:` word is an error, so
 * a typo in a scenario does not pass silently.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../platform/clock.js';
import {
  beginExecution,
  requestProblem,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type LogSink,
  type StepEnd,
} from '../executor.js';
import { workspaceProblem } from './local.executor.js';

export type FakeAction =
  /** One line of output; a newline is appended. */
  | { readonly log: string; readonly stream?: 'stdout' | 'stderr' }
  /** Output exactly as given. */
  | { readonly output: string | Buffer; readonly stream?: 'stdout' | 'stderr' }
  /** Waits; `Infinity` until the step is cancelled or times out. */
  | { readonly sleepMs: number }
  /** Ends the step: 0 is success, anything else failed. */
  | { readonly exit: number }
  /** Ends the step with outcome error. */
  | { readonly error: string }
  | { readonly printEnv: string }
  | { readonly writeFile: string; readonly content: string }
  | { readonly printFile: string };

export interface FakeExecutorOptions {
  /** Actions for a line that is not a built-in `fake:` line; undefined when it is unknown. */
  interpret?: (line: string) => readonly FakeAction[] | undefined;
  clock?: Clock;
}

/** One call as the fake saw it, for assertions on what ran, in which order, with which env. */
export interface FakeCall {
  readonly request: ExecutionRequest;
  readonly startedAt: number;
  result?: ExecutionResult;
}

export class FakeExecutor implements Executor {
  readonly name = 'fake';
  /** Every call, in the order they began. */
  readonly calls: FakeCall[] = [];
  /** The most calls that were in progress at the same time. */
  maxConcurrent = 0;
  private running = 0;
  private readonly interpret: (line: string) => readonly FakeAction[] | undefined;
  private readonly clock: Clock;

  constructor(options: FakeExecutorOptions = {}) {
    this.interpret = options.interpret ?? (() => undefined);
    this.clock = options.clock ?? systemClock;
  }

  async execute(request: ExecutionRequest, sink: LogSink): Promise<ExecutionResult> {
    const call: FakeCall = { request, startedAt: this.clock.now() };
    this.calls.push(call);
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      call.result = await this.run(request, sink);
      return call.result;
    } finally {
      this.running--;
    }
  }

  private async run(request: ExecutionRequest, sink: LogSink): Promise<ExecutionResult> {
    const scope = beginExecution(sink, () => this.clock.now());
    if (request.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    const problem = requestProblem(request) ?? (await workspaceProblem(request.workspace));
    if (problem !== undefined) return scope.finish({ outcome: 'error', exitCode: null, error: problem });

    // The step's deadline and its cancel, as one signal that every wait listens to.
    const timeout = new AbortController();
    const timer =
      Number.isFinite(request.timeoutMs) && request.timeoutMs <= 2 ** 31 - 1
        ? setTimeout(() => timeout.abort(), request.timeoutMs)
        : undefined;
    const ended = AbortSignal.any([request.signal, timeout.signal]);
    const stoppedEnd = (): StepEnd =>
      request.signal.aborted
        ? { outcome: 'cancelled', exitCode: null, error: 'cancelled' }
        : { outcome: 'timed_out', exitCode: null, error: 'timed out' };

    const lines = 'script' in request.commands ? request.commands.script : [request.commands.argv.join(' ')];
    try {
      for (const line of lines) {
        const actions = this.actionsFor(line);
        for (const action of actions) {
          if (ended.aborted) return scope.finish(stoppedEnd());
          const end = await perform(action, request, ended, scope.emit);
          if (ended.aborted) return scope.finish(stoppedEnd());
          if (end !== undefined) return scope.finish(end);
        }
      }
      return scope.finish({ outcome: 'success', exitCode: 0 });
    } catch (err) {
      return scope.finish({
        outcome: 'error',
        exitCode: null,
        error: `fake executor: ${(err as Error).message}`,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private actionsFor(line: string): readonly FakeAction[] {
    const match = /^fake:(\S+)\s*(.*)$/s.exec(line.trim());
    if (match === null) {
      return (
        this.interpret(line) ?? [
          { log: `sh: ${line.trim().split(/\s+/)[0]}: not found`, stream: 'stderr' },
          { exit: 127 },
        ]
      );
    }
    const [, word = '', rest = ''] = match;
    switch (word) {
      case 'log':
        return [{ log: rest }];
      case 'stderr':
        return [{ log: rest, stream: 'stderr' }];
      case 'sleep':
        return [{ sleepMs: number(rest, line) }];
      case 'hang':
        return [{ sleepMs: Infinity }];
      case 'fail':
        return [{ exit: rest === '' ? 1 : number(rest, line) }];
      case 'exit':
        return [{ exit: number(rest, line) }];
      case 'error':
        return [{ error: rest || 'scripted error' }];
      case 'env':
        return [{ printEnv: rest }];
      case 'write': {
        const [file = '', ...text] = rest.split(' ');
        return [{ writeFile: file, content: `${text.join(' ')}\n` }];
      }
      case 'cat':
        return [{ printFile: rest }];
      default:
        return [{ error: `unknown fake command: ${line}` }];
    }
  }
}

function number(text: string, line: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new Error(`not a number in ${JSON.stringify(line)}`);
  return value;
}

/** Performs one action; returns how the step ends, or undefined to go on. */
async function perform(
  action: FakeAction,
  request: ExecutionRequest,
  ended: AbortSignal,
  emit: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): Promise<StepEnd | undefined> {
  if ('log' in action) {
    emit(action.stream ?? 'stdout', Buffer.from(`${action.log}\n`));
  } else if ('output' in action) {
    emit(action.stream ?? 'stdout', Buffer.from(action.output));
  } else if ('sleepMs' in action) {
    await wait(action.sleepMs, ended);
  } else if ('exit' in action) {
    return action.exit === 0
      ? { outcome: 'success', exitCode: 0 }
      : { outcome: 'failed', exitCode: action.exit, error: `exited with code ${action.exit}` };
  } else if ('error' in action) {
    return { outcome: 'error', exitCode: null, error: action.error };
  } else if ('printEnv' in action) {
    emit('stdout', Buffer.from(`${request.env[action.printEnv] ?? ''}\n`));
  } else if ('writeFile' in action) {
    await writeFile(join(request.workspace, action.writeFile), action.content);
  } else {
    const content = await readFile(join(request.workspace, action.printFile)).catch(() => undefined);
    if (content === undefined) {
      emit('stderr', Buffer.from(`cat: can't open '${action.printFile}': No such file or directory\n`));
      return { outcome: 'failed', exitCode: 1, error: 'exited with code 1' };
    }
    emit('stdout', content);
  }
  return undefined;
}

function wait(ms: number, ended: AbortSignal): Promise<void> {
  if (ended.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      ended.removeEventListener('abort', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, Math.min(ms, 2 ** 31 - 1)) : undefined;
    ended.addEventListener('abort', done, { once: true });
  });
}
