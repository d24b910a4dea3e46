/**
 * `slipway run FILE`: one run of a pipeline file on this machine, with the same engine as the server and
 * no server: an in-memory SQLite database, the local executor for script steps and buildah for steps in an
 * image. The workspace is the working directory (a checkout step uses it as it is), so the run sees the
 * working tree, changes included; the trigger is described by flags (branch, event, tag) and by git where
 * the working directory is a repository (commit, remote). Output is printed live, each line prefixed with
 * its job and step.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { systemClock } from '../platform/clock.js';
import { openDatabase } from '../platform/db/database.js';
import { EventBus } from '../platform/events.js';
import type { ExecutionResult, LogChunk } from './executor.js';
import { BuildahExecutor } from './executors/buildah.executor.js';
import { LocalExecutor } from './executors/local.executor.js';
import type { LogStore } from './log-store.js';
import { runsMigrations } from './migrations.js';
import { TRIGGER_EVENTS, type TriggerContext, type TriggerEvent } from './model.js';
import {
  dialectOfFile,
  parseDefinition,
  RunNotTriggered,
  RunsService,
  type RunDetail,
} from './runs.service.js';
import { RunsStore } from './runs.store.js';
import { Scheduler } from './scheduler.js';
import { scriptStepRunners } from './script-steps.js';
import { isTerminal } from './states.js';
import type { StepRunners } from './step-runner.js';
import type { RunsTables } from './tables.js';

export interface LocalRunOptions {
  file: string;
  /** Default: the checked-out branch of the workspace's git repository, if any. */
  branch?: string;
  /** Default `manual`. */
  event?: string;
  tag?: string;
  /** Default: the working directory. */
  workspace?: string;
  /** Where logs and the summary go. */
  out: NodeJS.WritableStream;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
}

export interface LocalRunResult {
  /** Undefined when the pipeline's conditions did not hold and no run was created. */
  run?: RunDetail;
  /** Whether the run succeeded: the command's exit code is 0 exactly then. */
  success: boolean;
}

const run = promisify(execFile);

/** Runs the pipeline file to its end; rejects only for a file that cannot be read or parsed. */
export async function runPipelineFile(options: LocalRunOptions): Promise<LocalRunResult> {
  const file = resolve(options.file);
  const workspace = resolve(options.workspace ?? process.cwd());
  const source = await readFile(file, 'utf8');
  const dialect = dialectOfFile(file);
  const name =
    basename(file)
      .replace(/^\.+/, '')
      .replace(/\.ya?ml$/, '') || 'pipeline';
  // Parsed first so that a bad file fails before anything is set up, with every problem listed.
  parseDefinition(source, dialect, { file: basename(file), name });
  const event = options.event ?? 'manual';
  if (!(TRIGGER_EVENTS as readonly string[]).includes(event)) {
    throw new Error(`unknown event "${event}" (expected one of ${TRIGGER_EVENTS.join(', ')})`);
  }

  const out = options.out;
  const tmp = await mkdtemp(join(tmpdir(), 'slipway-run-'));
  const database = await openDatabase<RunsTables>(':memory:', runsMigrations);
  const events = new EventBus();
  const store = new RunsStore(database.db);
  const runs = new RunsService(store, events, systemClock);
  const printer = new PrefixedOutput(out);
  const scheduler = new Scheduler(store, events, systemClock, {
    stepRunners: {
      ...scriptStepRunners({
        host: new LocalExecutor(),
        container: new BuildahExecutor({ containersEnv: process.env, tmpDir: tmp }),
      }),
      checkout: useWorkingTree,
    } satisfies StepRunners,
    logStore: printer,
    workspaceOf: () => workspace,
    removeWorkspaces: false,
    pollMs: 200,
    // A dead local run is not recovered by anyone: the lease only needs to outlast event-loop stalls.
    leaseMs: 60_000,
    stopGraceMs: 0,
    onError: (message, error) =>
      out.write(`slipway: ${message}: ${error instanceof Error ? error.message : String(error)}\n`),
  });

  events.on('step.started', (e) => {
    printer.name(e.stepId, `${e.job}/${e.step}`);
    out.write(`==> ${e.job}/${e.step}\n`);
  });
  events.on('step.finished', (e) => {
    out.write(
      `<== ${e.job}/${e.step}: ${e.state}${e.state === 'success' || !e.reason ? '' : ` (${e.reason})`}\n`,
    );
  });
  events.on('job.finished', (e) => {
    if (e.state === 'skipped' || e.state === 'cancelled')
      out.write(`--- ${e.job}: ${e.state}: ${e.reason ?? ''}\n`);
    else if (e.state !== 'success') out.write(`--- ${e.job}: ${e.state}\n`);
  });

  try {
    const pipeline = await runs.createPipeline({ namespace: 'local', name, source, dialect });
    const context = await triggerContext(workspace, event as TriggerEvent, options);
    let started: RunDetail;
    try {
      started = await runs.startRun(pipeline.id, { kind: 'manual', context, actor: userName() });
    } catch (error) {
      if (!(error instanceof RunNotTriggered)) throw error;
      out.write(`slipway: no run: ${error.reason}\n`);
      return { success: false };
    }
    // Jobs whose conditions do not hold are skipped when the run is created.
    for (const job of started.jobs) {
      if (job.state === 'skipped') out.write(`--- ${job.name}: skipped: ${job.reason ?? ''}\n`);
    }
    const finished = new Promise<void>((done) => {
      events.on('run.finished', (e) => {
        if (e.runId === started.id) done();
      });
    });
    const cancel = (): void => void runs.cancelRun(started.id, 'the user').catch(() => undefined);
    options.signal?.addEventListener('abort', cancel, { once: true });
    await scheduler.start();
    if (!isTerminal((await runs.getRun(started.id)).state)) await finished;
    options.signal?.removeEventListener('abort', cancel);

    const result = await runs.getRun(started.id);
    const seconds = ((result.finishedAt ?? Date.now()) - result.createdAt) / 1000;
    out.write(`\nrun ${result.pipeline} #${result.number}: ${result.state} in ${seconds.toFixed(1)}s\n`);
    for (const job of result.jobs) {
      out.write(
        `  ${job.name.padEnd(24)} ${job.state}${job.reason && job.state !== 'success' ? `: ${job.reason}` : ''}\n`,
      );
    }
    return { run: result, success: result.state === 'success' };
  } finally {
    await scheduler.stop(0);
    await printer.flushAll();
    await database.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A checkout in a local run: the working directory already holds the code. */
async function useWorkingTree(
  _step: unknown,
  ctx: { workspace: string; sink: (chunk: LogChunk) => void },
): Promise<ExecutionResult> {
  const at = Date.now();
  ctx.sink({ stream: 'stdout', data: Buffer.from(`using the working directory ${ctx.workspace}\n`), at });
  return { outcome: 'success', exitCode: 0, startedAt: at, finishedAt: Date.now() };
}

async function triggerContext(
  workspace: string,
  event: TriggerEvent,
  options: LocalRunOptions,
): Promise<TriggerContext> {
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await run('git', args, { cwd: workspace });
      return stdout.trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const commit = (await git('rev-parse', 'HEAD')) ?? '0'.repeat(40);
  const repoUrl = (await git('remote', 'get-url', 'origin')) ?? `file://${workspace}`;
  const tag = options.tag;
  let branch = options.branch;
  if (branch === undefined && tag === undefined) {
    const current = await git('rev-parse', '--abbrev-ref', 'HEAD');
    branch = current === 'HEAD' ? undefined : current;
  }
  return {
    event,
    commit,
    repoUrl,
    ...(branch !== undefined ? { branch } : {}),
    ...(tag !== undefined ? { tag } : {}),
  };
}

function userName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * A LogStore that prints each line of a step's output as it completes, prefixed with `[job/step]`; a
 * line without its newline is printed when the step closes.
 */
class PrefixedOutput implements LogStore {
  private readonly names = new Map<string, string>();
  private readonly partial = new Map<string, Buffer>();

  constructor(private readonly out: NodeJS.WritableStream) {}

  name(stepId: string, label: string): void {
    this.names.set(stepId, label);
  }

  append(stepId: string, chunk: LogChunk): void {
    const key = `${stepId}:${chunk.stream}`;
    let data = Buffer.concat([this.partial.get(key) ?? Buffer.alloc(0), chunk.data]);
    let newline = data.indexOf(0x0a);
    while (newline >= 0) {
      this.print(stepId, data.subarray(0, newline));
      data = data.subarray(newline + 1);
      newline = data.indexOf(0x0a);
    }
    if (data.length > 0) this.partial.set(key, Buffer.from(data));
    else this.partial.delete(key);
  }

  close(stepId: string): void {
    for (const stream of ['stdout', 'stderr']) {
      const rest = this.partial.get(`${stepId}:${stream}`);
      if (rest) this.print(stepId, rest);
      this.partial.delete(`${stepId}:${stream}`);
    }
  }

  async flushAll(): Promise<void> {
    for (const key of [...this.partial.keys()]) this.close(key.slice(0, key.lastIndexOf(':')));
  }

  private print(stepId: string, line: Buffer): void {
    this.out.write(`[${this.names.get(stepId) ?? stepId}] ${line.toString('utf8')}\n`);
  }
}
