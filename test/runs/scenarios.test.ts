// Scenario tests of the runs engine: each test/runs/scenarios/<name>.yml is a pipeline (Slipway's or, by
// its file name, Rancher's) with its expected run result in <name>.expected.json. They run through the real
// service, store and scheduler, on the fake executor, on every test database.
//
// A scenario's setup lives in the pipeline file under the top-level key `.scenario` (keys starting with a
// dot are ignored by the pipeline parser):
//   runs: [trigger, ...]  one run per entry (default one push to main); an entry may hold event, branch,
//                         tag, changedFiles, and `after: {run: N, state: S}` to wait for run N first
//   policy, concurrency   the pipeline's run policy and concurrency limit
//   maxJobs               the scheduler's global limit
//   cancel: {job, step, actor}  cancels run 1 when that step of that job starts
//
// The expected JSON: `runs` (each run's state, reason, and per job its state, reason, steps' states,
// attempts and earlierAttempts' step states), or `started: false` with the reason no run was created;
// `order` ([a, b]: every step of a ended before any step of b began; `N/job` names a job of run N),
// `overlap` ([a, b]: they ran at the same time), `maxConcurrent` (the most steps running at once) and
// `logs` (a job's output).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ManualClock, systemClock, type Clock } from '../../src/platform/clock.js';
import { openDatabase, type Database } from '../../src/platform/db/database.js';
import { EventBus } from '../../src/platform/events.js';
import type { ExecutionResult } from '../../src/runs/executor.js';
import { FakeExecutor, type FakeAction } from '../../src/runs/executors/fake.executor.js';
import {
  dialectOfFile,
  LOST_LEASE_REASON,
  MemoryLogStore,
  RunNotTriggered,
  runsMigrations,
  RunsService,
  RunsStore,
  Scheduler,
  scriptStepRunners,
  type RunDetail,
  type RunPolicy,
  type RunsTables,
  type StepRunners,
} from '../../src/runs/index.js';
import type { TriggerContext } from '../../src/runs/model.js';
import { isTerminal } from '../../src/runs/states.js';
import { createPostgresDatabase, forEachDatabase, postgresAvailable } from '../support/databases.js';

const SCENARIOS = new URL('./scenarios/', import.meta.url).pathname;
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

interface ScenarioSetup {
  runs?: Array<Partial<TriggerContext> & { after?: { run: number; state: string } }>;
  policy?: RunPolicy;
  concurrency?: number;
  maxJobs?: number;
  cancel?: { job: string; step: string; actor?: string };
}

interface Expected {
  started?: false;
  reason?: string;
  runs?: unknown[];
  order?: [string, string][];
  overlap?: [string, string][];
  maxConcurrent?: number;
  logs?: Record<string, string>;
}

/** Fake lines of the scenarios beyond the executor's own `fake:` ones: `flaky N KEY` fails its first N runs. */
function scenarioLines(): (line: string) => readonly FakeAction[] | undefined {
  const seen = new Map<string, number>();
  return (line) => {
    const flaky = /^flaky (\d+) (\S+)$/.exec(line.trim());
    if (!flaky) return undefined;
    const count = (seen.get(line) ?? 0) + 1;
    seen.set(line, count);
    return count <= Number(flaky[1])
      ? [{ log: `flaky: run ${count} fails` }, { exit: 1 }]
      : [{ log: `flaky: run ${count} passes` }];
  };
}

/** A checkout that only says so: scenarios are about scheduling, not git. */
const fakeCheckout: StepRunners['checkout'] = async (_step, ctx): Promise<ExecutionResult> => {
  const at = Date.now();
  ctx.sink({ stream: 'stdout', data: Buffer.from('checked out\n'), at });
  return { outcome: 'success', exitCode: 0, startedAt: at, finishedAt: at };
};

interface Engine {
  events: EventBus;
  runs: RunsService;
  store: RunsStore;
  scheduler: Scheduler;
  fake: FakeExecutor;
  logs: MemoryLogStore;
  /** What the scheduler reported to its error hook: nothing, in every test. */
  errors: string[];
}

function engine(
  db: Database<RunsTables>,
  workDir: string,
  options: { maxJobs?: number; clock?: Clock; fake?: FakeExecutor; leaseMs?: number } = {},
): Engine {
  const clock = options.clock ?? systemClock;
  const events = new EventBus();
  const store = new RunsStore(db.db);
  const runs = new RunsService(store, events, clock);
  const fake = options.fake ?? new FakeExecutor({ interpret: scenarioLines() });
  const logs = new MemoryLogStore();
  const errors: string[] = [];
  const scheduler = new Scheduler(store, events, clock, {
    stepRunners: { ...scriptStepRunners({ host: fake, container: fake }), checkout: fakeCheckout },
    logStore: logs,
    workspaceOf: (runId) => join(workDir, runId),
    maxJobs: options.maxJobs ?? 8,
    pollMs: 25,
    leaseMs: options.leaseMs ?? 5000,
    stopGraceMs: 0,
    onError: (message, error) =>
      errors.push(`${message}: ${error instanceof Error ? error.stack : String(error)}`),
  });
  return { events, runs, store, scheduler, fake, logs, errors };
}

async function waitForRun(
  runs: RunsService,
  runId: string,
  done: (run: RunDetail) => boolean = (run) => isTerminal(run.state),
  timeoutMs = 15_000,
): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await runs.getRun(runId);
    if (done(run)) return run;
    if (Date.now() > deadline) assert.fail(`run ${runId} is still ${run.state}: ${JSON.stringify(run.jobs)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What a scenario asserts of a run. */
function resultOf(run: RunDetail): unknown {
  return {
    state: run.state,
    ...(run.reason ? { reason: run.reason } : {}),
    jobs: Object.fromEntries(
      run.jobs.map((job) => [
        job.name,
        {
          state: job.state,
          ...(job.reason ? { reason: job.reason } : {}),
          ...(job.attempt > 1 ? { attempts: job.attempt } : {}),
          steps: job.steps.map((s) => s.state),
          ...(job.earlierAttempts.length > 0
            ? { earlierAttempts: job.earlierAttempts.map((steps) => steps.map((s) => s.state)) }
            : {}),
        },
      ]),
    ),
  };
}

function contextOf(entry: Partial<TriggerContext> = {}): TriggerContext {
  return {
    event: entry.event ?? 'push',
    commit: COMMIT,
    repoUrl: 'https://git.example.com/team/app.git',
    ...(entry.tag === undefined ? { branch: entry.branch ?? 'main' } : { tag: entry.tag }),
    ...(entry.changedFiles ? { changedFiles: entry.changedFiles } : {}),
  };
}

async function runScenario(
  db: Database<RunsTables>,
  name: string,
  file: string,
  label: string,
): Promise<void> {
  const source = await readFile(join(SCENARIOS, file), 'utf8');
  const expected = JSON.parse(await readFile(join(SCENARIOS, `${name}.expected.json`), 'utf8')) as Expected;
  const setup = ((parseYaml(source) as Record<string, unknown>)['.scenario'] ?? {}) as ScenarioSetup;
  const workDir = await mkdtemp(join(tmpdir(), 'slipway-scenario-'));
  const e = engine(db, workDir, { maxJobs: setup.maxJobs });
  try {
    const pipeline = await e.runs.createPipeline({
      namespace: 'scenarios',
      name: `${name}-${label}`,
      source,
      dialect: dialectOfFile(file),
      policy: setup.policy,
      concurrency: setup.concurrency,
    });
    // When each job's steps ran (from the first step's start to the last step's end), by `N/job` and, for
    // run 1, by `job`; and the cancel.
    const spans = new Map<string, { start: number; end: number }>();
    const runIds: string[] = [];
    const record = (runId: string, job: string, start: number, end: number) => {
      const n = runIds.indexOf(runId) + 1;
      for (const key of [`${n}/${job}`, ...(n === 1 ? [job] : [])]) {
        const span = spans.get(key);
        spans.set(key, {
          start: Math.min(span?.start ?? start, start),
          end: Math.max(span?.end ?? end, end),
        });
      }
    };
    e.events.on('step.started', (event) => record(event.runId, event.job, performance.now(), -Infinity));
    e.events.on('step.finished', (event) => record(event.runId, event.job, Infinity, performance.now()));
    let cancelled: Promise<unknown> | undefined;
    e.events.on('step.started', (event) => {
      const when = setup.cancel;
      if (
        when &&
        event.job === when.job &&
        event.step === when.step &&
        event.runId === runIds[0] &&
        !cancelled
      ) {
        cancelled = e.runs.cancelRun(event.runId, when.actor);
      }
    });
    await e.scheduler.start();

    for (const entry of setup.runs ?? [{}]) {
      if (entry.after) {
        const earlier = runIds[entry.after.run - 1] as string;
        const state = entry.after.state;
        await waitForRun(e.runs, earlier, (run) => run.state === state);
      }
      try {
        const run = await e.runs.startRun(pipeline.id, {
          kind: 'manual',
          context: contextOf(entry),
          actor: 'tester',
        });
        runIds.push(run.id);
      } catch (error) {
        if (!(error instanceof RunNotTriggered) || expected.started !== false) throw error;
        assert.equal(error.reason, expected.reason);
        assert.equal((await e.runs.listRuns(pipeline.id)).length, 0, 'no run is created');
        return;
      }
    }
    assert.notEqual(expected.started, false, 'the run was expected not to start');

    const finished: RunDetail[] = [];
    for (const id of runIds) finished.push(await waitForRun(e.runs, id));
    await cancelled;
    assert.deepEqual(finished.map(resultOf), expected.runs);

    const span = (key: string) => {
      const found = spans.get(key);
      assert.ok(found, `job ${key} ran`);
      return found;
    };
    for (const [a, b] of expected.order ?? []) {
      assert.ok(span(a).end <= span(b).start, `${a} ended before ${b} began`);
    }
    for (const [a, b] of expected.overlap ?? []) {
      assert.ok(
        span(a).start < span(b).end && span(b).start < span(a).end,
        `${a} and ${b} ran at the same time`,
      );
    }
    if (expected.maxConcurrent !== undefined) assert.equal(e.fake.maxConcurrent, expected.maxConcurrent);
    for (const [job, text] of Object.entries(expected.logs ?? {})) {
      const steps = finished[0]?.jobs.find((j) => j.name === job)?.steps ?? [];
      assert.equal(steps.map((s) => e.logs.text(s.id)).join(''), text, `output of ${job}`);
      for (const s of steps) assert.equal(e.logs.get(s.id)?.closed, true, 'the log is closed');
    }
  } finally {
    await e.scheduler.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  assert.deepEqual(e.errors, []);
}

const scenarioFiles = (await readdir(SCENARIOS)).filter((f) => f.endsWith('.yml')).sort();

forEachDatabase((database) => {
  describe(`runs engine scenarios on ${database}`, () => {
    let db: Database<RunsTables>;
    let dropPg: (() => Promise<void>) | undefined;
    let dataDir: string;
    let skip = false;
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      dataDir = await mkdtemp(join(tmpdir(), 'slipway-runs-db-'));
      const pg = database === 'postgres' ? await createPostgresDatabase() : undefined;
      dropPg = pg?.drop;
      db = await openDatabase<RunsTables>(pg?.url ?? join(dataDir, 'runs.db'), runsMigrations);
    });
    after(async () => {
      await db?.close();
      await dropPg?.();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    for (const file of scenarioFiles) {
      const name = file.replace(/\.yml$/, '');
      test(name, async (t) => {
        if (skip) return t.skip('PostgreSQL not reachable');
        await runScenario(db, name, file, database);
      });
    }

    test('a server that died mid-run: the run ends in error with the reason, never stuck running', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-crash-'));
      const first = engine(db, workDir, { leaseMs: 2000 });
      const pipeline = await first.runs.createPipeline({
        namespace: 'crash',
        name: `died-${database}`,
        source: 'clone: false\njobs:\n  deploy:\n    steps:\n      - name: hang\n        script: fake:hang\n',
      });
      await first.scheduler.start();
      const started = await first.runs.startRun(pipeline.id, { kind: 'webhook', context: contextOf() });
      await waitForRun(first.runs, started.id, (run) => run.jobs[0]?.steps[0]?.state === 'running');
      await first.scheduler.abandon();
      assert.equal(
        (await first.runs.getRun(started.id)).jobs[0]?.state,
        'running',
        'the dead server left it running',
      );

      // A new server, later than the lease: it recovers the job at its first round.
      const later = new ManualClock(Date.now() + 60_000);
      const second = engine(db, workDir, { clock: later });
      await second.scheduler.start();
      const run = await waitForRun(second.runs, started.id);
      await second.scheduler.stop();
      assert.equal(run.state, 'error');
      assert.equal(run.jobs[0]?.state, 'error');
      assert.equal(run.jobs[0]?.reason, LOST_LEASE_REASON);
      assert.equal(run.jobs[0]?.reason, 'server restarted during the run');
      assert.deepEqual(
        run.jobs[0]?.steps.map((s) => [s.state, s.reason]),
        [['error', 'server restarted during the run']],
      );
      assert.ok(run.finishedAt !== undefined);
      await rm(workDir, { recursive: true, force: true });
    });

    test('a server that died mid-run: a job with retries left is run again by the next server', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-crash-'));
      // The step hangs on the first server and passes on the second.
      const hangs = new FakeExecutor({
        interpret: (line) => (line === 'deploy-once' ? [{ sleepMs: Infinity }] : undefined),
      });
      const passes = new FakeExecutor({
        interpret: (line) => (line === 'deploy-once' ? [{ log: 'deployed' }] : undefined),
      });
      const first = engine(db, workDir, { leaseMs: 2000, fake: hangs });
      const pipeline = await first.runs.createPipeline({
        namespace: 'crash',
        name: `retried-${database}`,
        source: 'clone: false\njobs:\n  deploy:\n    retries: 1\n    steps:\n      - script: deploy-once\n',
      });
      await first.scheduler.start();
      const started = await first.runs.startRun(pipeline.id, { kind: 'cron', context: contextOf() });
      await waitForRun(first.runs, started.id, (run) => run.jobs[0]?.steps[0]?.state === 'running');
      await first.scheduler.abandon();

      const second = engine(db, workDir, { clock: new ManualClock(Date.now() + 60_000), fake: passes });
      await second.scheduler.start();
      const run = await waitForRun(second.runs, started.id);
      await second.scheduler.stop();
      assert.equal(run.state, 'success');
      const job = run.jobs[0];
      assert.equal(job?.attempt, 2);
      assert.equal(
        job?.reason,
        'attempt 1 ended in an error: server restarted during the run; retrying (attempt 2 of 2)',
      );
      assert.deepEqual(
        job?.earlierAttempts.map((steps) => steps.map((s) => s.state)),
        [['error']],
      );
      assert.equal(second.logs.text(job?.steps[0]?.id ?? ''), 'deployed\n');
      await rm(workDir, { recursive: true, force: true });
    });

    test('a server stopping mid-run ends its running jobs visibly and gives back claimed ones', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-stop-'));
      const e = engine(db, workDir);
      const pipeline = await e.runs.createPipeline({
        namespace: 'crash',
        name: `stopped-${database}`,
        source: 'clone: false\njobs:\n  serve:\n    steps:\n      - name: hang\n        script: fake:hang\n',
      });
      await e.scheduler.start();
      const started = await e.runs.startRun(pipeline.id, { kind: 'manual', context: contextOf() });
      await waitForRun(e.runs, started.id, (run) => run.jobs[0]?.steps[0]?.state === 'running');
      await e.scheduler.stop(0);
      const run = await e.runs.getRun(started.id);
      assert.equal(run.state, 'error');
      assert.equal(run.jobs[0]?.reason, 'step "hang": server stopped during the run');
      await rm(workDir, { recursive: true, force: true });
    });

    test('rerun, listing, numbering and bad triggers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-rerun-'));
      const e = engine(db, workDir);
      const pipeline = await e.runs.createPipeline({
        namespace: 'misc',
        name: `rerun-${database}`,
        source: 'clone: false\njobs:\n  test:\n    steps:\n      - script: fake:log ok\n',
      });
      await e.scheduler.start();
      const first = await e.runs.startRun(pipeline.id, {
        kind: 'webhook',
        context: contextOf({ branch: 'dev' }),
      });
      await waitForRun(e.runs, first.id);
      const again = await e.runs.rerun(first.id, 'bob');
      assert.equal(again.number, 2);
      assert.equal(again.rerunOf, first.id);
      assert.deepEqual(again.trigger, {
        kind: 'manual',
        context: contextOf({ branch: 'dev' }),
        actor: 'bob',
      });
      assert.equal((await waitForRun(e.runs, again.id)).state, 'success');
      assert.deepEqual(
        (await e.runs.listRuns(pipeline.id)).map((r) => [r.number, r.state]),
        [
          [2, 'success'],
          [1, 'success'],
        ],
      );
      assert.deepEqual(
        (await e.runs.listRuns(pipeline.id, { beforeNumber: 2 })).map((r) => r.number),
        [1],
      );
      assert.equal((await e.runs.getRunByNumber(pipeline.id, 1)).id, first.id);
      assert.equal((await e.runs.getPipeline(pipeline.id)).lastRunNumber, 2);
      await assert.rejects(
        e.runs.startRun(pipeline.id, {
          kind: 'manual',
          context: { ...contextOf(), event: 'shove' as never },
        }),
        { code: 'TRIGGER_INVALID' },
      );
      await assert.rejects(e.runs.startRun('no-such-pipeline', { kind: 'manual', context: contextOf() }), {
        code: 'PIPELINE_NOT_FOUND',
      });
      await assert.rejects(
        e.runs.createPipeline({
          namespace: 'misc',
          name: `rerun-${database}`,
          source: 'jobs: {a: {steps: [{script: x}]}}',
        }),
        { code: 'PIPELINE_EXISTS' },
      );
      await assert.rejects(e.runs.createPipeline({ namespace: 'misc', source: 'jobs: [' }), {
        code: 'PIPELINE_DEFINITION_INVALID',
      });
      // A finished run is left as it is by a cancel.
      assert.equal((await e.runs.cancelRun(first.id, 'carol')).state, 'success');
      await e.runs.deletePipeline(pipeline.id);
      await assert.rejects(e.runs.getRun(first.id), { code: 'RUN_NOT_FOUND' });
      await e.scheduler.stop();
      await rm(workDir, { recursive: true, force: true });
    });
  });
});
