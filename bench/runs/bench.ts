/**
 * The runs engine benchmark. Started by bench/runs/run.sh (which builds Slipway and makes the temp dir).
 *
 * Slipway runs as a real process, `node dist/main.js serve`, on the embedded default (SQLite + filesystem
 * blobs in a data dir of the temp dir), with its own containers storage. This process opens the same SQLite
 * database (WAL, busy timeout) with the same build's services to create the pipelines and their webhook
 * triggers, and to read runs, jobs, steps and step logs back (written before the native pipelines API
 * existed, and kept so that `BENCH_SLIPWAY_REF` can measure revisions without it). Every run is started by an HTTP webhook to the server, signed as the
 * generic hook is, so the server's scheduler is woken exactly as in production.
 *
 * Measurements, each with its bare counterpart in the same process run:
 * - latency: webhook → the first step's process start (a step `date +%s%N > $MARKER`), N sequential runs;
 *   bare: node spawning `sh -c 'date +%s%N > marker'`.
 * - steps:   a job of 20 `true` steps; bare: 20 `sh -c true` spawned one after the other from node.
 * - queue:   many trivial runs created at once by webhooks; time until all ended (runs/s).
 * - build:   a Dockerfile build + push through a pipeline (checkout, build with the registry layer cache,
 *   push), and through the same pipeline without cache, against bare `buildah bud` (with and without
 *   `--layers`) + `skopeo copy` of the same context to the same Slipway; then a rebuild with one late layer
 *   changed, through Slipway with its cache (server storage kept, then emptied by a restart on a new storage
 *   root) against bare buildah with fresh storage. Bare builds always start from an empty storage root.
 *
 * Optional environment:
 *   BENCH_ONLY            comma list of measurements: latency, steps, queue, build (default: all)
 *   BENCH_LATENCY_RUNS    webhooks of the latency measurement (default 50, after 3 warm-up runs)
 *   BENCH_STEP_ROUNDS     runs of the 20-step job, and rounds of the bare loop (default 5)
 *   BENCH_QUEUE_RUNS      runs of the queue measurement (default 200)
 *   BENCH_BUILD_ROUNDS    rounds of the build measurement (default 3)
 *   BENCH_OUT             JSON output path (default bench/runs/last-run.json)
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunDetail } from '../../src/runs/runs.service.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../../test/support/images.js';
import { containersEnv, runOk } from '../../test/support/tools.js';

const here = dirname(fileURLToPath(import.meta.url));

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set (run bench/runs/run.sh)`);
  return value;
}
const intEnv = (name: string, fallback: number) => Number.parseInt(env(name, String(fallback)), 10);

const settings = {
  latencyRuns: intEnv('BENCH_LATENCY_RUNS', 50),
  latencyWarmup: 3,
  stepsPerJob: 20,
  stepRounds: intEnv('BENCH_STEP_ROUNDS', 5),
  queueRuns: intEnv('BENCH_QUEUE_RUNS', 200),
  /** Webhook requests in flight while the queue is filled. */
  queueSenders: 8,
  buildRounds: intEnv('BENCH_BUILD_ROUNDS', 3),
};
const only = new Set(
  (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const enabled = (id: string) => only.size === 0 || only.has(id);
const outPath = process.env.BENCH_OUT ?? join(here, 'last-run.json');
const tmp = env('BENCH_TMP');
const dist = env('SLIPWAY_DIST');
const dataDir = join(tmp, 'slipway');
const adminPassword = `bench-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const adminCreds = `admin:${adminPassword}`;
const hookSecret = 'bench-hook-secret';

const log = (line: string) => process.stderr.write(`${line}\n`);
/** Wall-clock milliseconds with sub-millisecond resolution (comparable with `date +%s%N`). */
const wallMs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------------------
// Statistics

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
const median = (values: number[]) => quantile(values, 0.5);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Share of both CPUs busy between two readings of /proc/stat, in % (100 = every CPU). */
function machineTicks(): { idle: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: cpu[3]! + cpu[4]!, total: cpu.slice(0, 8).reduce((a, b) => a + b, 0) };
}
async function machineBusyPct(ms: number): Promise<number> {
  const a = machineTicks();
  await sleep(ms);
  const b = machineTicks();
  return b.total === a.total ? 0 : (1 - (b.idle - a.idle) / (b.total - a.total)) * 100;
}

// ---------------------------------------------------------------------------------------------------------
// The Slipway process

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Server {
  url: string;
  host: string;
  pid: number;
  /** Containers storage of its image steps. */
  containersDir: string;
  stop(): Promise<void>;
}

async function startServer(port: number, containersDir: string): Promise<Server> {
  const nodeArgs = (process.env.SLIPWAY_NODE_ARGS ?? '--max-semi-space-size=64').split(/\s+/).filter(Boolean);
  const serverLog = join(tmp, 'slipway.log');
  const out = openSync(serverLog, 'a');
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      join(dist, 'main.js'),
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--data',
      dataDir,
      '--log-level',
      'warn',
      '--gc-interval',
      '0',
    ],
    {
      env: {
        ...containersEnv(containersDir),
        SLIPWAY_ADMIN_PASSWORD: adminPassword,
        SLIPWAY_OUTBOUND_ALLOW: '127.0.0.0/8',
      },
      stdio: ['ignore', out, out],
    },
  );
  const pid = child.pid ?? 0;
  writeFileSync(join(tmp, 'slipway.pid'), String(pid));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited)
      throw new Error(`slipway exited during startup; see ${serverLog}:\n${readFileSync(serverLog, 'utf8')}`);
    const status = await fetch(`${url}/v2/`).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 401 || status === 200) break;
    if (Date.now() > deadline) throw new Error(`slipway did not answer on ${url} within 30 s`);
    await sleep(100);
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    pid,
    containersDir,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Setup through the same build's services (see the file comment)

type ServicesModule = typeof import('../../src/services.js');
type Services = import('../../src/services.js').Services;

async function importDist<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(dist, path)).href)) as T;
}

async function openServices(port: number): Promise<{ services: Services; close: () => Promise<void> }> {
  const { createServices, migrations } = await importDist<ServicesModule>('services.js');
  const { openDatabase } =
    await importDist<typeof import('../../src/platform/db/database.js')>('platform/db/database.js');
  const { loadConfig } =
    await importDist<typeof import('../../src/platform/config.js')>('platform/config.js');
  const { FsBlobStore } = await importDist<typeof import('../../src/platform/blobs/fs-blob-store.js')>(
    'platform/blobs/fs-blob-store.js',
  );
  const { SecretBox } =
    await importDist<typeof import('../../src/platform/secrets.js')>('platform/secrets.js');
  const { systemClock } = await importDist<typeof import('../../src/platform/clock.js')>('platform/clock.js');
  const { config } = loadConfig([
    '--data',
    dataDir,
    '--listen',
    `127.0.0.1:${port}`,
    '--log-level',
    'silent',
  ]);
  const database = await openDatabase<import('../../src/services.js').Tables>(
    join(dataDir, 'slipway.db'),
    migrations,
  );
  const services = await createServices({
    config,
    db: database.db,
    blobStore: await new FsBlobStore(dataDir).init(),
    secrets: await SecretBox.fromDataDir(dataDir),
    clock: systemClock,
  });
  return { services, close: () => database.close() };
}

interface Bench {
  server: Server;
  services: Services;
  isTerminal: (state: string) => boolean;
}

async function createHookedPipeline(
  bench: Bench,
  source: string,
): Promise<{ pipelineId: string; hookId: string }> {
  const pipeline = await bench.services.runs.createPipeline({ namespace: 'admin', source, actor: 'admin' });
  const hook = await bench.services.triggers.createWebhook(pipeline.id, 'generic', { secret: hookSecret });
  return { pipelineId: pipeline.id, hookId: hook.id };
}

let commitCounter = 0;
/** Sends a generic push webhook; returns the run id. */
async function sendHook(
  bench: Bench,
  hookId: string,
  payload: { commit?: string; repo_url?: string } = {},
): Promise<string> {
  const body = JSON.stringify({
    event: 'push',
    branch: 'main',
    commit: payload.commit ?? (++commitCounter).toString(16).padStart(40, '0'),
    ...(payload.repo_url ? { repo_url: payload.repo_url } : {}),
  });
  const signature = `sha256=${createHmac('sha256', hookSecret).update(body).digest('hex')}`;
  const res = await fetch(`${bench.server.url}/api/slipway/v1/hooks/${hookId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-slipway-signature': signature },
    body,
  });
  const answer = (await res.json()) as { run_id?: string };
  if (res.status !== 202 || !answer.run_id)
    throw new Error(`webhook: HTTP ${res.status}: ${JSON.stringify(answer)}`);
  return answer.run_id;
}

async function waitForRun(
  bench: Bench,
  runId: string,
  pollMs: number,
  timeoutMs = 300_000,
): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await bench.services.runs.getRun(runId);
    if (bench.isTerminal(run.state)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not end within ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

async function stepLines(bench: Bench, stepId: string): Promise<Array<{ at: number; text: string }>> {
  const page = await bench.services.stepLogs.read(stepId);
  return page.lines.map((line) => ({ at: line.at, text: line.data.toString('utf8') }));
}

async function stepLog(bench: Bench, stepId: string): Promise<string> {
  return (await stepLines(bench, stepId)).map((line) => line.text).join('\n');
}

async function requireSuccess(bench: Bench, run: RunDetail): Promise<void> {
  if (run.state === 'success') return;
  const logs: string[] = [];
  for (const step of run.jobs.flatMap((job) => job.steps))
    logs.push(`--- ${step.name} (${step.state})\n${await stepLog(bench, step.id)}`);
  throw new Error(
    `run #${run.number} ended ${run.state}: ${JSON.stringify(run.jobs.map((j) => [j.name, j.state, j.reason]))}\n${logs.join('\n')}`,
  );
}

/** Runs `command` with `args` from node, waits for it to exit, and collects its output as the engine does. */
function spawnAndWait(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', () => {});
    child.stderr.on('data', () => {});
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
}

// ---------------------------------------------------------------------------------------------------------
// 1. Webhook → first step's process start

interface Row {
  measurement: string;
  metric: string;
  slipway: number | string;
  bare: number | string;
  ratio?: string;
  goal?: string;
  verdict?: string;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};

async function measureLatency(bench: Bench): Promise<void> {
  log('\n== latency: webhook → first step process start');
  const marker = join(tmp, 'latency-marker');
  const source = [
    'name: latency',
    'clone: false',
    'env:',
    `  MARKER: ${marker}`,
    'jobs:',
    '  mark:',
    '    steps:',
    '      - script: date +%s%N > "$MARKER"',
    '',
  ].join('\n');
  const { hookId } = await createHookedPipeline(bench, source);
  const samples: Array<Record<string, number>> = [];
  for (let i = 0; i < settings.latencyWarmup + settings.latencyRuns; i++) {
    rmSync(marker, { force: true });
    const t0 = wallMs();
    const runId = await sendHook(bench, hookId);
    const answered = wallMs();
    const run = await waitForRun(bench, runId, 5);
    await requireSuccess(bench, run);
    const processStart = Number(readFileSync(marker, 'utf8').trim()) / 1e6;
    const job = run.jobs[0]!;
    const step = job.steps[0]!;
    if (i < settings.latencyWarmup) continue;
    samples.push({
      total: processStart - t0,
      answered: answered - t0,
      created: run.createdAt - t0,
      claimed: (job.claimedAt ?? NaN) - run.createdAt,
      stepRecorded: (step.startedAt ?? NaN) - (job.claimedAt ?? NaN),
      process: processStart - (step.startedAt ?? NaN),
    });
  }
  const pick = (key: string) => samples.map((s) => s[key]!);

  const bareMarker = join(tmp, 'bare-marker');
  const bare: number[] = [];
  for (let i = 0; i < settings.latencyWarmup + settings.latencyRuns; i++) {
    const t0 = wallMs();
    await spawnAndWait('sh', ['-c', `date +%s%N > ${bareMarker}`]);
    if (i >= settings.latencyWarmup) bare.push(Number(readFileSync(bareMarker, 'utf8').trim()) / 1e6 - t0);
  }
  const p50 = median(pick('total'));
  const p90 = quantile(pick('total'), 0.9);
  const breakdown = {
    webhookAnsweredMs: round(median(pick('answered')), 2),
    runCreatedMs: round(median(pick('created')), 2),
    createdToClaimedMs: round(median(pick('claimed')), 2),
    claimedToStepStartedMs: round(median(pick('stepRecorded')), 2),
    stepStartedToProcessMs: round(median(pick('process')), 2),
  };
  results.latency = {
    runs: samples.length,
    p50Ms: round(p50, 2),
    p90Ms: round(p90, 2),
    minMs: round(Math.min(...pick('total')), 2),
    maxMs: round(Math.max(...pick('total')), 2),
    breakdownMediansMs: breakdown,
    bareSpawnP50Ms: round(median(bare), 2),
    bareSpawnP90Ms: round(quantile(bare, 0.9), 2),
    samples,
  };
  log(
    `  p50 ${p50.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms over ${samples.length} runs; bare spawn p50 ${median(bare).toFixed(1)} ms`,
  );
  log(`  medians: ${JSON.stringify(breakdown)}`);
  rows.push({
    measurement: `webhook → first step process start (${samples.length} runs)`,
    metric: 'p50 ms',
    slipway: round(p50, 1),
    bare: round(median(bare), 1),
    goal: '< 100 ms',
    verdict: p50 < 100 ? 'met' : 'missed',
  });
  rows.push({
    measurement: 'webhook → first step process start',
    metric: 'p90 ms',
    slipway: round(p90, 1),
    bare: round(quantile(bare, 0.9), 1),
  });
}

// ---------------------------------------------------------------------------------------------------------
// 2. Per-step overhead

async function measureSteps(bench: Bench): Promise<void> {
  const n = settings.stepsPerJob;
  log(`\n== steps: a job of ${n} \`true\` steps vs ${n} bare \`sh -c true\``);
  const source = [
    'name: steps',
    'clone: false',
    'jobs:',
    '  many:',
    '    steps:',
    ...Array.from({ length: n }, () => "      - script: 'true'"),
    '',
  ].join('\n');
  const { hookId } = await createHookedPipeline(bench, source);
  const jobMs: number[] = [];
  const runMs: number[] = [];
  const stepsMs: number[] = [];
  const bareMs: number[] = [];
  // Warm-up of both sides, then alternating rounds.
  await requireSuccess(bench, await waitForRun(bench, await sendHook(bench, hookId), 20));
  for (let i = 0; i < n; i++) await spawnAndWait('sh', ['-c', 'true']);
  for (let round_ = 0; round_ < settings.stepRounds; round_++) {
    const run = await waitForRun(bench, await sendHook(bench, hookId), 20);
    await requireSuccess(bench, run);
    const job = run.jobs[0]!;
    jobMs.push(job.finishedAt! - job.startedAt!);
    runMs.push(run.finishedAt! - run.createdAt);
    stepsMs.push(job.steps.reduce((sum, s) => sum + (s.finishedAt! - s.startedAt!), 0));

    const t0 = performance.now();
    for (let i = 0; i < n; i++) await spawnAndWait('sh', ['-c', 'true']);
    bareMs.push(performance.now() - t0);
  }
  const job = median(jobMs);
  const bare = median(bareMs);
  const overhead = (job - bare) / n;
  results.steps = {
    stepsPerJob: n,
    rounds: settings.stepRounds,
    jobStartToEndMs: jobMs,
    runCreatedToFinishedMs: runMs,
    sumOfStepDurationsMs: stepsMs,
    bareMs: bareMs.map((v) => round(v, 2)),
    overheadPerStepMs: round(overhead, 2),
  };
  log(
    `  job ${job} ms (median; run created→finished ${median(runMs)} ms), bare ${bare.toFixed(1)} ms → ${overhead.toFixed(1)} ms/step overhead`,
  );
  rows.push({
    measurement: `job of ${n} \`true\` steps (job start → end) vs ${n}× \`sh -c true\``,
    metric: 'ms, median',
    slipway: job,
    bare: round(bare, 1),
    ratio: (job / bare).toFixed(2),
  });
  rows.push({
    measurement: 'engine overhead per step: (job − bare) / 20',
    metric: 'ms/step',
    slipway: round(overhead, 1),
    bare: '',
    goal: '< 30 ms',
    verdict: overhead < 30 ? 'met' : 'missed',
  });
}

// ---------------------------------------------------------------------------------------------------------
// 3. Queued trivial runs

async function measureQueue(bench: Bench): Promise<void> {
  const total = settings.queueRuns;
  log(`\n== queue: ${total} trivial runs created at once`);
  const source = [
    'name: queue',
    'clone: false',
    'jobs:',
    '  one:',
    '    steps:',
    "      - script: 'true'",
    '',
  ].join('\n');
  const { pipelineId, hookId } = await createHookedPipeline(bench, source);
  const t0 = wallMs();
  let sent = 0;
  const runIds: string[] = [];
  await Promise.all(
    Array.from({ length: settings.queueSenders }, async () => {
      while (sent < total) {
        sent++;
        runIds.push(await sendHook(bench, hookId));
      }
    }),
  );
  const allAccepted = wallMs();
  let runs = await bench.services.runs.listRuns(pipelineId, { limit: 500 });
  while (runs.length < total || runs.some((r) => !bench.isTerminal(r.state))) {
    await sleep(100);
    runs = await bench.services.runs.listRuns(pipelineId, { limit: 500 });
  }
  const failed = runs.filter((r) => r.state !== 'success');
  if (failed.length > 0)
    throw new Error(`${failed.length} queued runs did not succeed: ${JSON.stringify(failed[0])}`);
  const lastFinished = Math.max(...runs.map((r) => r.finishedAt!));
  const seconds = (lastFinished - t0) / 1000;
  const perRun = runs.map((r) => r.finishedAt! - r.createdAt);
  results.queue = {
    runs: total,
    senders: settings.queueSenders,
    acceptSeconds: round((allAccepted - t0) / 1000, 3),
    seconds: round(seconds, 3),
    runsPerSecond: round(total / seconds, 2),
    createdToFinishedMs: { p50: median(perRun), p90: quantile(perRun, 0.9), max: Math.max(...perRun) },
  };
  log(
    `  ${total} runs in ${seconds.toFixed(2)} s → ${(total / seconds).toFixed(1)} runs/s (webhooks accepted in ${((allAccepted - t0) / 1000).toFixed(2)} s)`,
  );
  rows.push({
    measurement: `${total} queued trivial runs, webhook → all finished (runsMaxJobs 4)`,
    metric: 'runs/s',
    slipway: round(total / seconds, 1),
    bare: '',
  });
}

// ---------------------------------------------------------------------------------------------------------
// 4. Image build

const gitEnv = {
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.test',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.test',
};

function dockerfile(host: string, nonce: string): string {
  // A unique first layer per round, so no round finds an earlier round's layers in any cache.
  return [
    `FROM ${host}/admin/base:v1`,
    `RUN /bin/busybox --install -s /bin && echo ${nonce} > /nonce`,
    'RUN dd if=/dev/urandom of=/blob-a bs=1M count=20 2>/dev/null',
    'RUN mkdir -p /srv/files && for i in $(seq 1 200); do echo "file $i" > /srv/files/f$i; done',
    // CPU work with a small result, as a compile step: what a layer cache is for.
    'RUN for i in $(seq 1 20); do sha256sum /blob-a; done > /srv/sums',
    'RUN dd if=/dev/urandom of=/blob-b bs=1M count=10 2>/dev/null',
    'COPY app.txt /srv/app.txt',
    'RUN wc -c /srv/app.txt > /srv/app.size',
    '',
  ].join('\n');
}

interface SlipwayBuild {
  runMs: number;
  buildPushMs: number;
  buildMs: number;
  pushMs: number;
  checkoutMs: number;
  /** Time buildah spent pushing layers to the cache repository (from the build log's timestamps). */
  cachePushMs: number;
  cacheHits: { pulledFromRemote: number; usingCache: number };
}

async function slipwayBuild(
  bench: Bench,
  hookId: string,
  repo: string,
  commit: string,
): Promise<SlipwayBuild> {
  const run = await waitForRun(
    bench,
    await sendHook(bench, hookId, { commit, repo_url: `file://${repo}` }),
    250,
  );
  await requireSuccess(bench, run);
  const steps = run.jobs[0]!.steps;
  const span = (kind: string) => {
    const step = steps.find((s) => s.kind === kind)!;
    return step.finishedAt! - step.startedAt!;
  };
  const lines = await stepLines(bench, steps.find((s) => s.kind === 'build-image')!.id);
  const buildLog = lines.map((line) => line.text).join('\n');
  // buildah prints "--> Pushing cache" before the push; the next line comes when it is done.
  let cachePushMs = 0;
  lines.forEach((line, i) => {
    if (line.text.includes('--> Pushing cache') && lines[i + 1]) cachePushMs += lines[i + 1]!.at - line.at;
  });
  return {
    runMs: run.finishedAt! - run.createdAt,
    buildPushMs: span('build-image') + span('push-image'),
    buildMs: span('build-image'),
    pushMs: span('push-image'),
    checkoutMs: span('checkout'),
    cachePushMs,
    cacheHits: {
      pulledFromRemote: buildLog.split('Cache pulled from remote').length - 1,
      usingCache: buildLog.split('Using cache').length - 1,
    },
  };
}

interface BareBuild {
  totalMs: number;
  budMs: number;
  copyMs: number;
}

async function bareBuild(
  server: Server,
  context: string,
  storage: string,
  tag: string,
  layers = false,
): Promise<BareBuild> {
  rmSync(storage, { recursive: true, force: true });
  const env = containersEnv(storage);
  const image = `localhost/bench/app:${tag}`;
  const t0 = performance.now();
  await runOk(
    'buildah',
    [
      'bud',
      '--isolation',
      'chroot',
      '--storage-driver',
      'vfs',
      ...(layers ? ['--layers'] : []),
      '--tls-verify=false',
      '--creds',
      adminCreds,
      '-t',
      image,
      context,
    ],
    { env },
  );
  const t1 = performance.now();
  await runOk(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `containers-storage:${image}`,
      `docker://${server.host}/admin/bare-app:${tag}`,
    ],
    { env },
  );
  const t2 = performance.now();
  return { totalMs: round(t2 - t0, 0), budMs: round(t1 - t0, 0), copyMs: round(t2 - t1, 0) };
}

async function measureBuild(
  bench: Bench,
  restart: (containersDir: string) => Promise<Bench>,
): Promise<Bench> {
  log('\n== build: pipeline (checkout, build with layer cache, push) vs bare buildah bud + skopeo copy');
  const images = await buildTestImages(join(tmp, 'images'));
  await runOk(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--dest-creds',
      adminCreds,
      `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`,
      `docker://${bench.server.host}/admin/base:v1`,
    ],
    { env: images.env },
  );
  const source = [
    'name: image',
    'clone: false',
    'jobs:',
    '  image:',
    '    steps:',
    '      - checkout: { depth: 1 }',
    '      - build:',
    "          tags: ['app:latest']",
    '          cache: admin/app-cache',
    '      - push:',
    '          repository: admin/app',
    '          tags: [latest]',
    '',
  ].join('\n');
  const { hookId } = await createHookedPipeline(bench, source);
  // The same without the layer cache, to tell the engine's overhead from the cache's cost.
  const noCache = await createHookedPipeline(
    bench,
    source.replace('name: image', 'name: image-no-cache').replace('          cache: admin/app-cache\n', ''),
  );
  const repo = join(tmp, 'build-repo');
  mkdirSync(repo, { recursive: true });
  const git = async (...args: string[]) =>
    (await runOk('git', args, { cwd: repo, env: { ...process.env, ...gitEnv } })).stdout.trim();
  await git('init', '--quiet', '-b', 'main');
  /** Commits the context with `app` as app.txt; returns the commit and a copy of the context for bare buildah. */
  const commitContext = async (nonce: string, app: string): Promise<{ commit: string; context: string }> => {
    writeFileSync(join(repo, 'Dockerfile'), dockerfile(bench.server.host, nonce));
    writeFileSync(join(repo, 'app.txt'), `${app}\n`);
    await git('add', '.');
    await git('commit', '--quiet', '-m', `${nonce} ${app}`);
    const context = join(tmp, 'contexts', `${nonce}-${app}`);
    mkdirSync(context, { recursive: true });
    cpSync(join(repo, 'Dockerfile'), join(context, 'Dockerfile'));
    cpSync(join(repo, 'app.txt'), join(context, 'app.txt'));
    return { commit: await git('rev-parse', 'HEAD'), context };
  };

  const rounds: Array<Record<string, unknown>> = [];
  for (let r = 0; r < settings.buildRounds; r++) {
    const nonce = `round-${r}-${Date.now()}`;
    const first = await commitContext(nonce, 'v1');
    // Alternate which side goes first; the bare sides always start from empty storage.
    const bareStorage = join(tmp, 'bare-storage');
    let slipFirst: SlipwayBuild | undefined;
    let slipNoCache: SlipwayBuild | undefined;
    let bareFirst: BareBuild | undefined;
    let bareLayers: BareBuild | undefined;
    for (const side of r % 2 === 0 ? ['slipway', 'bare'] : ['bare', 'slipway']) {
      if (side === 'slipway') {
        slipFirst = await slipwayBuild(bench, hookId, repo, first.commit);
        // Its own first layer, so it finds nothing of the build above in the server's local storage.
        const uncached = await commitContext(`${nonce}-no-cache`, 'v1');
        slipNoCache = await slipwayBuild(bench, noCache.hookId, repo, uncached.commit);
      } else {
        bareFirst = await bareBuild(bench.server, first.context, bareStorage, `r${r}-v1`);
        bareLayers = await bareBuild(bench.server, first.context, bareStorage, `r${r}-v1-layers`, true);
      }
    }
    if (!slipFirst || !slipNoCache || !bareFirst || !bareLayers) throw new Error('unreachable');
    log(
      `  round ${r + 1} first build: slipway run ${slipFirst.runMs} ms (build ${slipFirst.buildMs} of which cache pushes ${slipFirst.cachePushMs}, push ${slipFirst.pushMs}, checkout ${slipFirst.checkoutMs}); bare ${bareFirst.totalMs} ms (bud ${bareFirst.budMs} + copy ${bareFirst.copyMs}); bare --layers ${bareLayers.totalMs} ms; slipway without cache ${slipNoCache.runMs} ms`,
    );

    // One late layer changed: Slipway with the server's local storage as the first build left it, and the
    // registry layer cache; bare buildah with fresh storage (no cache).
    const second = await commitContext(nonce, 'v2');
    let slipRebuild: SlipwayBuild | undefined;
    let bareRebuild: BareBuild | undefined;
    for (const side of r % 2 === 0 ? ['bare', 'slipway'] : ['slipway', 'bare']) {
      if (side === 'slipway') slipRebuild = await slipwayBuild(bench, hookId, repo, second.commit);
      else bareRebuild = await bareBuild(bench.server, second.context, bareStorage, `r${r}-v2`);
    }
    if (!slipRebuild || !bareRebuild) throw new Error('unreachable');
    log(
      `  round ${r + 1} rebuild: slipway run ${slipRebuild.runMs} ms (build ${slipRebuild.buildMs} + push ${slipRebuild.pushMs}; cache ${JSON.stringify(slipRebuild.cacheHits)}); bare ${bareRebuild.totalMs} ms`,
    );

    // The same with an empty local storage on the server (another machine): the registry cache alone.
    const serverStorage = join(tmp, `server-containers-fresh-${r}`);
    bench = await restart(serverStorage);
    const third = await commitContext(nonce, 'v3');
    const slipFresh = await slipwayBuild(bench, hookId, repo, third.commit);
    log(
      `  round ${r + 1} rebuild on empty local storage: slipway run ${slipFresh.runMs} ms (build ${slipFresh.buildMs} + push ${slipFresh.pushMs}; cache ${JSON.stringify(slipFresh.cacheHits)})`,
    );
    rounds.push({ slipFirst, slipNoCache, bareFirst, bareLayers, slipRebuild, bareRebuild, slipFresh });
  }
  results.build = { rounds };
  const pick = (side: string, key: string) =>
    median(rounds.map((r) => (r[side] as Record<string, number>)[key]!));
  const firstRun = pick('slipFirst', 'runMs');
  const noCacheRun = pick('slipNoCache', 'runMs');
  const bareTotal = pick('bareFirst', 'totalMs');
  const layersTotal = pick('bareLayers', 'totalMs');
  rows.push({
    measurement: 'image build + push with layer cache (whole run, webhook → end) vs bud + copy',
    metric: 's',
    slipway: round(firstRun / 1000, 2),
    bare: round(bareTotal / 1000, 2),
    ratio: (firstRun / bareTotal).toFixed(3),
  });
  // The like-for-like comparison the goal is about: the same build and push, neither side keeping a cache.
  rows.push({
    measurement: 'image build + push without cache (whole run) vs bud + copy',
    metric: 's',
    slipway: round(noCacheRun / 1000, 2),
    bare: round(bareTotal / 1000, 2),
    ratio: (noCacheRun / bareTotal).toFixed(3),
    goal: '≤ 1.10',
    verdict: noCacheRun / bareTotal <= 1.1 ? 'met' : 'missed',
  });
  rows.push({
    measurement: 'image build + push without cache (whole run) vs bud --layers + copy',
    metric: 's',
    slipway: round(noCacheRun / 1000, 2),
    bare: round(layersTotal / 1000, 2),
    ratio: (noCacheRun / layersTotal).toFixed(3),
  });
  for (const [side, label] of [
    ['slipRebuild', 'rebuild, one late layer changed (server storage kept + registry cache), whole run'],
    ['slipFresh', 'rebuild, one late layer changed (empty server storage, registry cache only), whole run'],
  ] as const) {
    const slip = pick(side, 'runMs');
    const bare = pick('bareRebuild', 'totalMs');
    rows.push({
      measurement: `${label} vs bare without cache`,
      metric: 's',
      slipway: round(slip / 1000, 2),
      bare: round(bare / 1000, 2),
      ratio: (slip / bare).toFixed(3),
      goal: '< 1.0',
      verdict: slip < bare ? 'met' : 'missed',
    });
  }
  return bench;
}

// ---------------------------------------------------------------------------------------------------------

function table(): string {
  const header = ['measurement', 'metric', 'Slipway', 'bare', 'S/bare', 'goal', ''];
  const body = rows.map((r) => [
    r.measurement,
    r.metric,
    String(r.slipway),
    String(r.bare),
    r.ratio ?? '',
    r.goal ?? '',
    r.verdict ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const port = await freePort();
  const idle = await machineBusyPct(1000);
  let server = await startServer(port, join(tmp, 'server-containers'));
  log(
    `bench: slipway ${env('SLIPWAY_REVISION', 'unknown')} on :${port} (pid ${server.pid}), data in ${dataDir}; machine busy ${idle.toFixed(0)} % before the start`,
  );
  const opened = await openServices(port);
  const { isTerminal } = await importDist<typeof import('../../src/runs/states.js')>('runs/states.js');
  let bench: Bench = { server, services: opened.services, isTerminal: (s) => isTerminal(s as never) };
  const busyBefore: Record<string, number> = {};
  /** The machine's load from others just before a measurement (this bench and Slipway are idle then). */
  const before = async (id: string) => {
    busyBefore[id] = round(await machineBusyPct(1000), 1);
    log(`\nbench: machine ${busyBefore[id]} % busy (both CPUs = 100) before ${id}`);
  };
  try {
    if (enabled('latency')) await before('latency').then(() => measureLatency(bench));
    if (enabled('steps')) await before('steps').then(() => measureSteps(bench));
    if (enabled('queue')) await before('queue').then(() => measureQueue(bench));
    if (enabled('build')) {
      await before('build');
      bench = await measureBuild(bench, async (containersDir) => {
        await server.stop();
        server = await startServer(port, containersDir);
        return { ...bench, server };
      });
    }
  } finally {
    await server.stop();
    await opened.close();
  }
  const seconds = (Date.now() - started) / 1000;
  const output = {
    date: new Date().toISOString(),
    slipway: env('SLIPWAY_REVISION', 'unknown'),
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      memGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
    },
    machineBusyPctBefore: { start: round(idle, 1), ...busyBefore },
    seconds: round(seconds, 1),
    settings,
    results,
    rows,
  };
  writeFileSync(outPath, `${JSON.stringify(output, null, 2)}\n`);
  process.stdout.write(`\n${table()}\n\nbench: ${seconds.toFixed(0)} s; wrote ${outPath}\n`);
}

main().catch((err: unknown) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
