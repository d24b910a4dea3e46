import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ExecutionRequest,
  ExecutionResult,
  Executor,
  LogChunk,
  StepCommands,
} from '../../src/runs/executor.js';
import { randomToken } from '../../src/platform/ids.js';

/**
 * The shell lines the suite runs. An executor that interprets lines instead of running a shell
 * (the fake) maps each of them to what a shell would do.
 */
export const CONTRACT_SCRIPTS = {
  output: ['echo one', 'echo two >&2', 'sleep 0.2', 'echo three'],
  failure: ['echo before', 'sh -c "exit 3"', 'echo after'],
  env: ['printf "%s\\n" "$SLIPWAY_CONTRACT_VALUE"'],
  writeMarker: ['echo shared by steps > marker.txt'],
  readMarker: ['cat marker.txt'],
  missingCommand: ['slipway-no-such-command-4f2a'],
  bigOutput: ["head -c 1000000 /dev/zero | tr '\\0' a"],
  ran: ['echo ran > ran.txt'],
  // A child that starts a grandchild, both in the background, each writing its pid to the workspace.
  tree: ["sh -c 'sleep 30 & echo $! > grandchild.pid; wait' &", 'echo $! > child.pid', 'wait'],
} as const satisfies Record<string, readonly string[]>;

export const CONTRACT_ARGV = {
  echo: ['sh', '-c', 'echo "$1"', 'sh', 'two words'],
  missingCommand: ['slipway-no-such-command-4f2a'],
} as const satisfies Record<string, readonly [string, ...string[]]>;

/** A value with every character a shell might mangle. */
export const CONTRACT_ENV_VALUE = `it's "quoted" $HOME \`x\` \\ back; slash`;

export interface ExecutorSubject {
  executor: Executor;
  /** Fields every request of the suite gets (the buildah executor needs `image`). */
  request?: Partial<Pick<ExecutionRequest, 'image' | 'mounts'>>;
  /** What the executor left behind for a run (containers, ...); must be empty after every call. */
  leftovers?: (runId: string) => Promise<string[]>;
  cleanup?: () => Promise<void>;
}

export interface ExecutorContractOptions {
  /**
   * False for an executor that starts no processes (the fake): the checks that a step's process
   * tree is gone after a timeout or a cancel do not apply to it; its outcomes are still checked.
   */
  startsProcesses: boolean;
  /** How long a step may take to get going (buildah makes a container first). Default 3000 ms. */
  startupMs?: number;
}

interface Case {
  executor: Executor;
  workspace: string;
  runId: string;
  /** A request of this case's run for the next step, with the subject's fields and `extra`. */
  request(commands: StepCommands, extra?: Partial<ExecutionRequest>): ExecutionRequest;
  start(
    commands: StepCommands,
    extra?: Partial<ExecutionRequest>,
  ): { done: Promise<ExecutionResult>; chunks: LogChunk[]; abort: () => void };
  run(
    commands: StepCommands,
    extra?: Partial<ExecutionRequest>,
  ): Promise<{ result: ExecutionResult; chunks: LogChunk[]; stdout: string; stderr: string; why: string }>;
}

/** The behaviour every Executor must have (local, buildah, fake now; Kubernetes later). */
export function executorContract(
  name: string,
  create: (t: TestContext) => Promise<ExecutorSubject | undefined>,
  options: ExecutorContractOptions,
): void {
  const startupMs = options.startupMs ?? 3000;

  const withCase = (fn: (c: Case) => Promise<void>) => async (t: TestContext) => {
    const subject = await create(t);
    if (subject === undefined) return; // skipped by create, with its reason
    const workspace = await mkdtemp(join(tmpdir(), 'slipway-executor-contract-'));
    const runId = `contract-${randomToken(4)}`;
    let steps = 0;
    const request: Case['request'] = (commands, extra = {}) => ({
      runId,
      jobId: 'job-1',
      stepId: `step-${++steps}`,
      workspace,
      commands,
      env: {},
      timeoutMs: 30_000,
      signal: new AbortController().signal,
      ...subject.request,
      ...extra,
    });
    const start: Case['start'] = (commands, extra = {}) => {
      const controller = new AbortController();
      const chunks: LogChunk[] = [];
      const done = subject.executor.execute(
        request(commands, { signal: controller.signal, ...extra }),
        (chunk) => chunks.push(chunk),
      );
      return { done, chunks, abort: () => controller.abort() };
    };
    const run: Case['run'] = async (commands, extra) => {
      const started = start(commands, extra);
      const result = await started.done;
      const text = (stream: LogChunk['stream']) =>
        Buffer.concat(started.chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString('utf8');
      const [stdout, stderr] = [text('stdout'), text('stderr')];
      // For assertion messages: everything there is to know when an outcome is not the expected one.
      const why = JSON.stringify({ ...result, stdout: stdout.slice(0, 2000), stderr: stderr.slice(0, 2000) });
      return { result, chunks: started.chunks, stdout, stderr, why };
    };
    try {
      await fn({ executor: subject.executor, workspace, runId, request, start, run });
      if (subject.leftovers) assert.deepEqual(await subject.leftovers(runId), [], 'nothing left behind');
    } finally {
      await rm(workspace, { recursive: true, force: true });
      await subject.cleanup?.();
    }
  };

  const script = (key: keyof typeof CONTRACT_SCRIPTS): StepCommands => ({ script: CONTRACT_SCRIPTS[key] });

  test(
    `${name}: success, output captured in order per stream, timestamped on arrival`,
    withCase(async ({ run }) => {
      const { result, chunks, stdout, stderr, why } = await run(script('output'));
      assert.equal(result.outcome, 'success', why);
      assert.equal(result.exitCode, 0);
      assert.equal(result.error, undefined);
      assert.equal(stdout, 'one\nthree\n', why);
      assert.match(stderr, /^two\n/);
      const at = chunks.map((c) => c.at);
      assert.deepEqual(
        at,
        [...at].sort((a, b) => a - b),
        'timestamps never go backwards',
      );
      assert.ok(result.startedAt <= at[0]! && at[at.length - 1]! <= result.finishedAt);
      const one = chunks.find((c) => c.data.includes('one'))!;
      const three = chunks.find((c) => c.data.includes('three'))!;
      assert.ok(
        three.at - one.at >= 150,
        `chunks are stamped as they arrive (${three.at - one.at} ms apart)`,
      );
      assert.ok(chunks.every((c) => Buffer.isBuffer(c.data)));
    }),
  );

  test(
    `${name}: a non-zero exit is failed with its exit code; sh -e stops at the failing line`,
    withCase(async ({ run }) => {
      const { result, stdout, why } = await run(script('failure'));
      assert.equal(result.outcome, 'failed');
      assert.equal(result.exitCode, 3);
      assert.ok(result.error);
      assert.equal(stdout, 'before\n', why);
    }),
  );

  test(
    `${name}: the request's env is visible to the commands, byte for byte`,
    withCase(async ({ run }) => {
      const { result, stdout, why } = await run(script('env'), {
        env: { SLIPWAY_CONTRACT_VALUE: CONTRACT_ENV_VALUE },
      });
      assert.equal(result.outcome, 'success', why);
      assert.equal(stdout, `${CONTRACT_ENV_VALUE}\n`, why);
    }),
  );

  test(
    `${name}: the workspace is the working directory and is shared by the steps of a run`,
    withCase(async ({ run, workspace }) => {
      const first = await run(script('writeMarker'));
      assert.equal(first.result.outcome, 'success', first.why);
      assert.equal(await readFile(join(workspace, 'marker.txt'), 'utf8'), 'shared by steps\n');
      const second = await run(script('readMarker'));
      assert.equal(second.result.outcome, 'success', second.why);
      assert.equal(second.stdout, 'shared by steps\n', second.why);
    }),
  );

  test(
    `${name}: argv commands run without a shell of their own`,
    withCase(async ({ run }) => {
      const { result, stdout, why } = await run({ argv: CONTRACT_ARGV.echo });
      assert.equal(result.outcome, 'success', why);
      assert.equal(stdout, 'two words\n', why);
    }),
  );

  test(
    `${name}: a missing command is failed with 127, as a script line and as argv, never a throw`,
    withCase(async ({ run }) => {
      for (const commands of [script('missingCommand'), { argv: CONTRACT_ARGV.missingCommand }]) {
        const { result } = await run(commands);
        assert.equal(result.outcome, 'failed', JSON.stringify(commands));
        assert.equal(result.exitCode, 127);
      }
    }),
  );

  test(
    `${name}: large output arrives whole`,
    withCase(async ({ run }) => {
      const { result, stdout, why } = await run(script('bigOutput'));
      assert.equal(result.outcome, 'success', why);
      assert.equal(stdout.length, 1_000_000);
      assert.ok(/^a+$/.test(stdout));
    }),
  );

  test(
    `${name}: a timeout ends the step as timed_out and its whole process tree is gone`,
    withCase(async ({ run, workspace }) => {
      const timeoutMs = startupMs;
      const { result, why } = await run(script('tree'), { timeoutMs });
      assert.equal(result.outcome, 'timed_out', why);
      assert.equal(result.exitCode, null);
      const took = result.finishedAt - result.startedAt;
      assert.ok(took >= timeoutMs - 50 && took < timeoutMs + 10_000, `took ${took} ms`);
      if (options.startsProcesses) await assertTreeGone(workspace);
    }),
  );

  test(
    `${name}: aborting the signal ends the step as cancelled and its whole process tree is gone`,
    withCase(async ({ start, workspace }) => {
      const step = start(script('tree'));
      if (options.startsProcesses) {
        const pids = await waitForTree(workspace, startupMs * 2);
        for (const pid of pids) assert.ok(processAlive(pid), `process ${pid} runs before the cancel`);
      } else {
        await sleep(50);
      }
      const abortedAt = Date.now();
      step.abort();
      const result = await step.done;
      assert.equal(result.outcome, 'cancelled', result.error);
      assert.equal(result.exitCode, null);
      assert.ok(Date.now() - abortedAt < 10_000);
      if (options.startsProcesses) await assertTreeGone(workspace);
    }),
  );

  test(
    `${name}: an already aborted signal is cancelled without running anything`,
    withCase(async ({ executor, workspace, request }) => {
      const chunks: LogChunk[] = [];
      const result = await executor.execute(
        request(script('ran'), { signal: AbortSignal.abort() }),
        (chunk) => chunks.push(chunk),
      );
      assert.equal(result.outcome, 'cancelled');
      assert.equal(result.exitCode, null);
      assert.deepEqual(chunks, []);
      assert.equal(existsSync(join(workspace, 'ran.txt')), false);
    }),
  );

  test(
    `${name}: a bad request is an error outcome, not a throw: missing workspace, invalid env name`,
    withCase(async ({ run, workspace }) => {
      const missing = await run(script('ran'), { workspace: join(workspace, 'does-not-exist') });
      assert.equal(missing.result.outcome, 'error');
      assert.equal(missing.result.exitCode, null);
      assert.match(missing.result.error ?? '', /workspace/);
      const badEnv = await run(script('ran'), { env: { 'NOT-A-NAME': 'x' } });
      assert.equal(badEnv.result.outcome, 'error');
      assert.match(badEnv.result.error ?? '', /NOT-A-NAME/);
      assert.equal(existsSync(join(workspace, 'ran.txt')), false);
    }),
  );

  test(
    `${name}: a sink that throws makes the step an error, and execute still resolves`,
    withCase(async ({ executor, request }) => {
      let calls = 0;
      const result = await executor.execute(request(script('output')), () => {
        calls++;
        throw new Error('disk full');
      });
      assert.equal(result.outcome, 'error');
      assert.match(result.error ?? '', /log sink failed: disk full/);
      assert.equal(calls, 1, 'no more output is offered after the sink threw');
    }),
  );
}

async function readPid(workspace: string, file: string): Promise<number | undefined> {
  const text = await readFile(join(workspace, file), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function waitForTree(workspace: string, withinMs: number): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const pids = [await readPid(workspace, 'child.pid'), await readPid(workspace, 'grandchild.pid')];
    if (pids.every((pid) => pid !== undefined)) return pids as number[];
    if (Date.now() > deadline) throw new Error('the step did not start its child and grandchild in time');
    await sleep(25);
  }
}

async function assertTreeGone(workspace: string): Promise<void> {
  const [child, grandchild] = await waitForTree(workspace, 0);
  assert.ok(!processAlive(child!), `child ${child} is gone`);
  assert.ok(!processAlive(grandchild!), `grandchild ${grandchild} (sleep 30) is gone`);
}

/** True if the process exists and is not a zombie (an orphan's zombie may never be reaped here). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const state = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return state !== '' && !state.startsWith('Z');
  } catch {
    return false; // ps exits 1 when the process is gone
  }
}
