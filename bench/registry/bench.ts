/**
 * Slipway vs. distribution (docker-registry) on loopback. Started by bench/registry/run.sh,
 * which runs both servers and passes their addresses and credentials in the environment.
 *
 * Every workload runs on both registries in the same process, interleaved by rounds whose
 * order alternates (S,D then D,S, ...), and the figure reported for each side is the median
 * of its rounds. Push/pull workloads use node:http with keep-alive agents; manifest GET and
 * HEAD blob are driven by wrk, as a Node client saturates far below what the servers do.
 *
 * Optional environment:
 *   BENCH_ONLY             comma list of workloads to run: blob-push, blob-pull, small-push,
 *                          manifest-push, tags-list, manifest-get, blob-head (default: all)
 *   BENCH_ROUNDS           rounds of the client-driven workloads (default 5)
 *   BENCH_WRK_ROUNDS       rounds of the wrk workloads (default 2)
 *   BENCH_WRK_DURATION     seconds per wrk run (default 10)
 *   BENCH_WRK_CONNECTIONS  wrk connections (default 32; threads are always 2)
 *   BENCH_OUT              JSON output path (default bench/registry/last-run.json)
 *   BENCH_TRACE            also write the measured spans (monotonic µs) here, for profile-summary.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set (run bench/registry/run.sh)`);
  return value;
}
const intEnv = (name: string, fallback: number) => Number.parseInt(env(name, String(fallback)), 10);

const settings = {
  rounds: intEnv('BENCH_ROUNDS', 5),
  wrkRounds: intEnv('BENCH_WRK_ROUNDS', 2),
  wrkDuration: intEnv('BENCH_WRK_DURATION', 10),
  wrkThreads: 2,
  wrkConnections: intEnv('BENCH_WRK_CONNECTIONS', 32),
  wrkWarmupSeconds: 2,
  bigBlobBytes: 16 * MiB,
  bigBlobsPerRound: 16,
  bigPushConcurrency: 4,
  bigPushMethod: 'POST + PATCH (whole blob) + PUT ?digest, as docker and containerd push',
  bigPullConcurrency: 4,
  smallBlobBytes: 1024,
  smallBlobsPerRound: 400,
  smallPushConcurrency: 16,
  smallPushMethod: 'POST + PUT ?digest with the body (monolithic)',
  manifestsPerRound: 300,
  manifestPushConcurrency: 8,
  tagCount: 2000,
  tagSetupConcurrency: 8,
  tagListsPerRound: 30,
  tagPageSize: 100,
  tagPagedWalks: 10,
  repo: 'admin/bench',
  tagsRepo: 'admin/tags',
};
const only = new Set(
  (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const enabled = (id: string) => only.size === 0 || only.has(id);
const outPath = process.env.BENCH_OUT ?? join(here, 'last-run.json');
const tracePath = process.env.BENCH_TRACE;

// ---------------------------------------------------------------------------------------------
// Targets and HTTP

type Side = 'slipway' | 'distribution';

interface Target {
  side: Side;
  base: URL;
  pid: number | undefined;
  /** The Authorization header value for these repositories (fetches a fresh token on Slipway). */
  authorization(repos: string[]): Promise<string>;
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes of body received (counted even when the body is discarded). */
  bytes: number;
}

function call(
  agent: Agent,
  url: URL,
  method: string,
  headers: OutgoingHttpHeaders,
  body?: Buffer,
  discardBody = false,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        agent,
        method,
        headers: { ...headers, 'content-length': String(body?.length ?? 0) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (!discardBody) chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function expectStatus(res: Response, expected: number, what: string): void {
  if (res.status !== expected) {
    throw new Error(
      `${what}: expected HTTP ${expected}, got ${res.status}: ${res.body.toString('utf8').slice(0, 500)}`,
    );
  }
}

function location(res: Response, base: URL, what: string): URL {
  const value = res.headers.location;
  if (!value) throw new Error(`${what}: no Location header`);
  return new URL(value, base);
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function slipwayTarget(): Target {
  const base = new URL(env('SLIPWAY_URL'));
  const credentials = basic(env('SLIPWAY_USER'), env('SLIPWAY_PASSWORD'));
  return {
    side: 'slipway',
    base,
    pid: process.env.SLIPWAY_PID ? Number(process.env.SLIPWAY_PID) : undefined,
    async authorization(repos) {
      const url = new URL('/v2/auth', base);
      url.searchParams.set('service', 'slipway');
      for (const repo of repos) url.searchParams.append('scope', `repository:${repo}:pull,push`);
      const res = await fetch(url, { headers: { authorization: credentials } });
      if (res.status !== 200) throw new Error(`slipway token: HTTP ${res.status}: ${await res.text()}`);
      const { token } = (await res.json()) as { token?: string };
      if (!token) throw new Error('slipway token: no token in the response');
      return `Bearer ${token}`;
    },
  };
}

function distributionTarget(): Target {
  const header = basic(env('PEER_USER'), env('PEER_PASSWORD'));
  return {
    side: 'distribution',
    base: new URL(env('PEER_URL')),
    pid: process.env.PEER_PID ? Number(process.env.PEER_PID) : undefined,
    authorization: async () => header,
  };
}

/** User+system CPU seconds the process has used so far (all threads), from /proc. */
/** User+system CPU seconds from a /proc stat file (utime, stime in USER_HZ = 100 ticks). */
function cpuSeconds(statPath: string): number | undefined {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The machine's CPU counters (all CPUs, in USER_HZ ticks) from /proc/stat. */
function machineTicks(): { idle: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: cpu[3]! + cpu[4]!, total: cpu.slice(0, 8).reduce((a, b) => a + b, 0) };
}

/** Share of all CPUs busy (not idle or iowait) between two readings, in % (100 = every CPU). */
const busyPct = (a: { idle: number; total: number }, b: { idle: number; total: number }) =>
  b.total === a.total ? 0 : (1 - (b.idle - a.idle) / (b.total - a.total)) * 100;

async function machineBusyPct(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return busyPct(a, machineTicks());
}

/** CPU counters of a server: the whole process, and its main thread (Node's event loop for Slipway). */
function serverCpu(pid: number | undefined): { process?: number; mainThread?: number } {
  if (pid === undefined) return {};
  return {
    process: cpuSeconds(`/proc/${pid}/stat`),
    mainThread: cpuSeconds(`/proc/${pid}/task/${pid}/stat`),
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

interface Sample extends Usage {
  /** The workload's figure for this round (MiB/s, ops/s, req/s, ...). */
  value: number;
  seconds: number;
  ops: number;
  p50Ms?: number;
  p99Ms?: number;
  extra?: Record<string, number | string>;
}

/** Measured spans on CLOCK_MONOTONIC (µs), the clock of V8's .cpuprofile timestamps: see profile-summary.ts. */
const spans: Array<{ workload: string; side: Side; startUs: number; endUs: number }> = [];
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

interface Usage {
  /** Server CPU during the measured span, in % of one core (200 % = both cores), all threads. */
  serverCpuPct?: number;
  /** Slipway only: its main thread, the one JavaScript event loop (100 % = saturated). */
  serverLoopCpuPct?: number;
  /** The load generator: this process, or wrk for the wrk workloads. */
  clientCpuPct?: number;
  /** CPU used on the machine by anything but the server and the client (other work skews the round). */
  otherCpuPct?: number;
}

/**
 * Runs fn and measures it: wall time, and CPU of the server, the client and the rest of the machine.
 * `childCpuSeconds` gives the CPU of a child process that did the work (wrk), when fn used one.
 */
async function measured<T>(
  target: Target,
  workload: string,
  fn: () => Promise<T>,
  childCpuSeconds?: (result: T) => number | undefined,
): Promise<{ result: T; seconds: number; usage: Usage }> {
  const machine0 = machineTicks();
  const server0 = serverCpu(target.pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const startUs = monotonicUs();
  const result = await fn();
  spans.push({ workload, side: target.side, startUs, endUs: monotonicUs() });
  const seconds = (performance.now() - t0) / 1000;
  const server1 = serverCpu(target.pid);
  const client = process.cpuUsage(client0);
  const machinePct = busyPct(machine0, machineTicks()) * os.cpus().length;
  const pct = (a?: number, b?: number) =>
    a !== undefined && b !== undefined ? ((b - a) / seconds) * 100 : undefined;
  const serverCpuPct = pct(server0.process, server1.process);
  const child = childCpuSeconds?.(result);
  const clientCpuPct =
    ((client.user + client.system) / 1e6 / seconds) * 100 +
    (child === undefined ? 0 : (child / seconds) * 100);
  return {
    result,
    seconds,
    usage: {
      serverCpuPct,
      serverLoopCpuPct: target.side === 'slipway' ? pct(server0.mainThread, server1.mainThread) : undefined,
      clientCpuPct,
      otherCpuPct:
        serverCpuPct === undefined ? undefined : Math.max(0, machinePct - serverCpuPct - clientCpuPct),
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Runs fn over items with `concurrency` workers; returns each call's latency in ms. */
async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const t0 = performance.now();
      await fn(items[index]!, index);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return latencies.sort((a, b) => a - b);
}

/** A round during which other processes used this much CPU (% of one core) is flagged. */
const otherCpuWarnPct = 25;

/** Round r runs the sides in order r even: S,D; r odd: D,S. */
async function interleaved(
  targets: Target[],
  rounds: number,
  runOne: (target: Target, round: number) => Promise<Sample>,
  prepareRound?: (round: number) => void | Promise<void>,
): Promise<Record<Side, Sample[]>> {
  const samples: Record<Side, Sample[]> = { slipway: [], distribution: [] };
  for (let round = 0; round < rounds; round++) {
    await prepareRound?.(round);
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const sample = await runOne(target, round);
      samples[target.side].push(sample);
      const parts = [
        `  round ${round + 1}/${rounds} ${target.side.padEnd(12)} ${fmt(sample.value).padStart(7)}`,
      ];
      if (sample.p99Ms !== undefined) parts.push(`p99 ${fmt(sample.p99Ms)} ms`);
      if (sample.serverCpuPct !== undefined) parts.push(`server cpu ${Math.round(sample.serverCpuPct)}%`);
      if (sample.serverLoopCpuPct !== undefined)
        parts.push(`(event loop ${Math.round(sample.serverLoopCpuPct)}%)`);
      if (sample.clientCpuPct !== undefined) parts.push(`client cpu ${Math.round(sample.clientCpuPct)}%`);
      if (sample.otherCpuPct !== undefined && sample.otherCpuPct >= otherCpuWarnPct) {
        parts.push(`OTHER WORK ${Math.round(sample.otherCpuPct)}%`);
      }
      log(parts.join('  '));
    }
  }
  return samples;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 1000) return Math.round(n).toString();
  if (Math.abs(n) >= 100) return n.toFixed(1);
  if (Math.abs(n) >= 10) return n.toFixed(2);
  return n.toFixed(3);
}

// ---------------------------------------------------------------------------------------------
// Registry operations

interface Blob {
  data: Buffer;
  digest: string;
}

function makeBlob(size: number): Blob {
  const data = randomFillSync(Buffer.allocUnsafe(size));
  return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

const blobOf = (data: Buffer): Blob => ({
  data,
  digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
});

/** POST, then either PATCH the whole body and PUT ?digest (docker's way) or PUT ?digest with the body. */
async function pushBlob(
  target: Target,
  agent: Agent,
  auth: string,
  repo: string,
  blob: Blob,
  mode: 'patch' | 'monolithic',
): Promise<void> {
  const what = `${target.side} push ${blob.digest.slice(0, 19)}`;
  const started = await call(agent, new URL(`/v2/${repo}/blobs/uploads/`, target.base), 'POST', {
    authorization: auth,
  });
  expectStatus(started, 202, `${what} POST`);
  let upload = location(started, target.base, `${what} POST`);
  const octets = { authorization: auth, 'content-type': 'application/octet-stream' };
  if (mode === 'patch') {
    const patched = await call(agent, upload, 'PATCH', octets, blob.data);
    expectStatus(patched, 202, `${what} PATCH`);
    upload = location(patched, target.base, `${what} PATCH`);
    upload.searchParams.set('digest', blob.digest);
    expectStatus(await call(agent, upload, 'PUT', { authorization: auth }), 201, `${what} PUT`);
  } else {
    upload.searchParams.set('digest', blob.digest);
    expectStatus(await call(agent, upload, 'PUT', octets, blob.data), 201, `${what} PUT`);
  }
}

const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const manifestAccept = `${ociManifest}, application/vnd.docker.distribution.manifest.v2+json`;

interface ImageBlobs {
  config: Blob;
  layer: Blob;
}

function makeImageBlobs(): ImageBlobs {
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        config: {},
        created: '2026-11-23T00:00:00Z',
      }),
    ),
  );
  return { config, layer: makeBlob(4096) };
}

/** A distinct OCI image manifest over the same config and layer (the annotation differs). */
function manifestBytes(blobs: ImageBlobs, id: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: blobs.config.digest,
        size: blobs.config.data.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: blobs.layer.digest,
          size: blobs.layer.data.length,
        },
      ],
      annotations: { 'org.example.bench.id': id },
    }),
  );
}

async function putManifest(
  target: Target,
  agent: Agent,
  auth: string,
  repo: string,
  tag: string,
  bytes: Buffer,
): Promise<void> {
  const res = await call(
    agent,
    new URL(`/v2/${repo}/manifests/${tag}`, target.base),
    'PUT',
    { authorization: auth, 'content-type': ociManifest },
    bytes,
  );
  expectStatus(res, 201, `${target.side} PUT manifest ${repo}:${tag}`);
}

const newAgent = (sockets: number) =>
  new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });

// ---------------------------------------------------------------------------------------------
// wrk

interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: string | undefined;
  /** wrk's user+system CPU seconds. */
  cpuSeconds: number | undefined;
}

/** The children's line of bash's `times` ("0m1.234s 0m0.567s", the last line): user+system seconds. */
function childTimes(out: string): number | undefined {
  const lines = out.trim().split('\n');
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines.at(-1)?.trim() ?? '');
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : undefined;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 'ms') return n;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  throw new Error(`unknown wrk time unit ${unit}`);
}

function runWrk(url: URL, headers: string[], seconds: number, script?: string): Promise<WrkResult> {
  const args = [
    '-t',
    String(settings.wrkThreads),
    '-c',
    String(settings.wrkConnections),
    '-d',
    `${seconds}s`,
    '--latency',
  ];
  for (const header of headers) args.push('-H', header);
  if (script) args.push('-s', script);
  args.push(url.toString());
  return new Promise((resolve, reject) => {
    // Through bash, whose `times` then prints wrk's CPU time (user and system, of its children).
    const child = spawn('bash', ['-c', 'wrk "$@" && times', 'wrk', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const requests = /(\d+) requests in/.exec(out);
      const latency = (p: string) => {
        const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
        if (!m) throw new Error(`wrk output has no ${p}% latency:\n${out}`);
        return toMs(m[1]!, m[2]!);
      };
      if (code !== 0 || !rps || !requests) {
        reject(new Error(`wrk failed (exit ${code}):\n${out}\n${err}`));
        return;
      }
      try {
        resolve({
          requestsPerSecond: Number(rps[1]),
          requests: Number(requests[1]),
          p50Ms: latency('50'),
          p90Ms: latency('90'),
          p99Ms: latency('99'),
          non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
          socketErrors: /Socket errors: (.*)/.exec(out)?.[1],
          cpuSeconds: childTimes(out),
        });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  id: string;
  workload: string;
  unit: string;
  higherIsBetter: boolean;
  goal?: number;
  slipway: Sample[];
  distribution: Sample[];
  /** When set, the row's figure is this field of the samples instead of `value`. */
  field?: 'p99Ms';
  notes?: string;
}

const rows: Row[] = [];
const extras: Record<string, unknown> = {};

function figure(row: Row, side: Side): number {
  return median(row[side].map((s) => (row.field ? s[row.field]! : s.value)));
}

// ---------------------------------------------------------------------------------------------
// Workloads

async function main(): Promise<void> {
  const targets = [slipwayTarget(), distributionTarget()];
  const [slipway] = targets as [Target, Target];
  const repos = [settings.repo, settings.tagsRepo];
  const started = new Date();
  // Other work on the machine skews the figures (interleaving keeps the ratio fairer, not the values).
  const busy = await machineBusyPct(1000);
  extras.machineBusyPctBeforeStart = Math.round(busy);
  if (busy > 15)
    log(
      `bench: WARNING: the machine was ${Math.round(busy)}% busy before the run: other work skews the figures`,
    );
  log(
    `bench: slipway ${slipway.base.host}, distribution ${targets[1]!.base.host}; rounds ${settings.rounds}, wrk ${settings.wrkRounds} x ${settings.wrkDuration}s`,
  );

  // Setup, not timed: the blobs manifests refer to, the empty blob for HEAD, and a tag for GET.
  const image = makeImageBlobs();
  const empty = blobOf(Buffer.alloc(0));
  const latest = manifestBytes(image, 'latest');
  for (const target of targets) {
    const agent = newAgent(4);
    const auth = await target.authorization(repos);
    for (const repo of repos) {
      for (const blob of [image.config, image.layer, empty])
        await pushBlob(target, agent, auth, repo, blob, 'monolithic');
    }
    await putManifest(target, agent, auth, settings.repo, 'latest', latest);
    agent.destroy();
  }

  // 1a. 16 MiB blob push
  const bigPushed: Blob[] = [];
  if (enabled('blob-push') || enabled('blob-pull')) {
    log(
      `\nblob push: ${settings.bigBlobsPerRound} x ${settings.bigBlobBytes / MiB} MiB distinct random blobs per round, ${settings.bigPushConcurrency} clients, ${settings.bigPushMethod}`,
    );
    let roundBlobs: Blob[] = [];
    const samples = await interleaved(
      targets,
      settings.rounds,
      async (target) => {
        const agent = newAgent(settings.bigPushConcurrency);
        const auth = await target.authorization(repos);
        const {
          result: latencies,
          seconds,
          usage,
        } = await measured(target, 'blob-push', () =>
          pool(roundBlobs, settings.bigPushConcurrency, (blob) =>
            pushBlob(target, agent, auth, settings.repo, blob, 'patch'),
          ),
        );
        agent.destroy();
        const mib = (roundBlobs.length * settings.bigBlobBytes) / MiB;
        return {
          value: mib / seconds,
          seconds,
          ops: roundBlobs.length,
          ...usage,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
        };
      },
      (round) => {
        roundBlobs = Array.from({ length: settings.bigBlobsPerRound }, () => makeBlob(settings.bigBlobBytes));
        bigPushed.push(...roundBlobs.map((b) => ({ data: Buffer.alloc(0), digest: b.digest })));
        log(`  (generated round ${round + 1} blobs)`);
      },
    );
    roundBlobs = [];
    if (enabled('blob-push'))
      rows.push({
        id: 'blob-push',
        workload: '16 MiB blob push',
        unit: 'MiB/s',
        higherIsBetter: true,
        goal: 1.0,
        ...samples,
      });
  }

  // 1b. 16 MiB blob pull (every blob pushed above, concurrent GETs)
  if (enabled('blob-pull') && bigPushed.length > 0) {
    log(
      `\nblob pull: ${bigPushed.length} x ${settings.bigBlobBytes / MiB} MiB GETs per round, ${settings.bigPullConcurrency} clients`,
    );
    const pullAll = (target: Target, agent: Agent, auth: string, blobs: Blob[]) =>
      pool(blobs, settings.bigPullConcurrency, async (blob) => {
        const url = new URL(`/v2/${settings.repo}/blobs/${blob.digest}`, target.base);
        const res = await call(agent, url, 'GET', { authorization: auth }, undefined, true);
        expectStatus(res, 200, `${target.side} GET blob`);
        if (res.bytes !== settings.bigBlobBytes) {
          throw new Error(`${target.side} GET blob: ${res.bytes} bytes, expected ${settings.bigBlobBytes}`);
        }
      });
    for (const target of targets) {
      // Warm-up, not timed: the first streams of a process are slower (JIT, buffers).
      const agent = newAgent(settings.bigPullConcurrency);
      await pullAll(target, agent, await target.authorization(repos), bigPushed.slice(0, 8));
      agent.destroy();
    }
    const samples = await interleaved(targets, settings.rounds, async (target) => {
      const agent = newAgent(settings.bigPullConcurrency);
      const auth = await target.authorization(repos);
      const {
        result: latencies,
        seconds,
        usage,
      } = await measured(target, 'blob-pull', () => pullAll(target, agent, auth, bigPushed));
      agent.destroy();
      const mib = (bigPushed.length * settings.bigBlobBytes) / MiB;
      return {
        value: mib / seconds,
        seconds,
        ops: bigPushed.length,
        ...usage,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
      };
    });
    rows.push({
      id: 'blob-pull',
      workload: '16 MiB blob pull',
      unit: 'MiB/s',
      higherIsBetter: true,
      goal: 1.0,
      ...samples,
    });
  }

  // 2. small blob push
  if (enabled('small-push')) {
    log(
      `\nsmall blob push: ${settings.smallBlobsPerRound} distinct ${settings.smallBlobBytes} B blobs per round, ${settings.smallPushConcurrency} clients, ${settings.smallPushMethod}`,
    );
    let roundBlobs: Blob[] = [];
    const samples = await interleaved(
      targets,
      settings.rounds,
      async (target) => {
        const agent = newAgent(settings.smallPushConcurrency);
        const auth = await target.authorization(repos);
        const {
          result: latencies,
          seconds,
          usage,
        } = await measured(target, 'small-push', () =>
          pool(roundBlobs, settings.smallPushConcurrency, (blob) =>
            pushBlob(target, agent, auth, settings.repo, blob, 'monolithic'),
          ),
        );
        agent.destroy();
        return {
          value: roundBlobs.length / seconds,
          seconds,
          ops: roundBlobs.length,
          ...usage,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
        };
      },
      () => {
        roundBlobs = Array.from({ length: settings.smallBlobsPerRound }, () =>
          makeBlob(settings.smallBlobBytes),
        );
      },
    );
    rows.push({
      id: 'small-push',
      workload: '1 KiB blob push',
      unit: 'pushes/s',
      higherIsBetter: true,
      goal: 1.0,
      ...samples,
    });
  }

  // 3. manifest push (distinct manifests, PUT by tag)
  if (enabled('manifest-push')) {
    log(
      `\nmanifest push: ${settings.manifestsPerRound} distinct OCI manifests per round, PUT by tag, ${settings.manifestPushConcurrency} clients`,
    );
    const samples = await interleaved(targets, settings.rounds, async (target, round) => {
      const agent = newAgent(settings.manifestPushConcurrency);
      const auth = await target.authorization(repos);
      const manifests = Array.from({ length: settings.manifestsPerRound }, (_, i) => ({
        tag: `m${round}-${i}`,
        bytes: manifestBytes(image, `${round}-${i}`),
      }));
      const {
        result: latencies,
        seconds,
        usage,
      } = await measured(target, 'manifest-push', () =>
        pool(manifests, settings.manifestPushConcurrency, (m) =>
          putManifest(target, agent, auth, settings.repo, m.tag, m.bytes),
        ),
      );
      agent.destroy();
      return {
        value: manifests.length / seconds,
        seconds,
        ops: manifests.length,
        ...usage,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
      };
    });
    rows.push({
      id: 'manifest-push',
      workload: 'manifest push (by tag)',
      unit: 'pushes/s',
      higherIsBetter: true,
      goal: 1.0,
      ...samples,
    });
  }

  // 4. tag listing of a 2000-tag repository
  if (enabled('tags-list')) {
    log(`\ntag listing: setting up ${settings.tagCount} tags in ${settings.tagsRepo} on each side`);
    const tags = Array.from({ length: settings.tagCount }, (_, i) => `t${String(i).padStart(4, '0')}`);
    const setup: Record<string, number> = {};
    for (const target of targets) {
      const agent = newAgent(settings.tagSetupConcurrency);
      const auth = await target.authorization(repos);
      const { seconds } = await measured(target, 'tags-setup', () =>
        pool(tags, settings.tagSetupConcurrency, (tag) =>
          putManifest(target, agent, auth, settings.tagsRepo, tag, manifestBytes(image, `tags-${tag}`)),
        ),
      );
      agent.destroy();
      setup[`${target.side}ManifestPushesPerSecond`] = tags.length / seconds;
      log(`  ${target.side}: ${tags.length} tags in ${seconds.toFixed(1)} s`);
    }
    extras.tagSetup = setup;

    const expected = JSON.stringify(tags);
    const listOnce = async (target: Target, agent: Agent, auth: string) => {
      const res = await call(agent, new URL(`/v2/${settings.tagsRepo}/tags/list`, target.base), 'GET', {
        authorization: auth,
      });
      expectStatus(res, 200, `${target.side} tags/list`);
      const listed = (JSON.parse(res.body.toString('utf8')) as { tags: string[] }).tags;
      if (JSON.stringify([...listed].sort()) !== expected)
        throw new Error(`${target.side} tags/list: got ${listed.length} tags, expected ${tags.length}`);
    };
    log(
      `tag listing: ${settings.tagListsPerRound} sequential full listings of /v2/${settings.tagsRepo}/tags/list per round, one connection`,
    );
    const samples = await interleaved(targets, settings.rounds, async (target) => {
      const agent = newAgent(1);
      const auth = await target.authorization(repos);
      await listOnce(target, agent, auth); // warm
      const runs = Array.from({ length: settings.tagListsPerRound }, (_, i) => i);
      const {
        result: latencies,
        seconds,
        usage,
      } = await measured(target, 'tags-list', () => pool(runs, 1, () => listOnce(target, agent, auth)));
      agent.destroy();
      return {
        value: runs.length / seconds,
        seconds,
        ops: runs.length,
        ...usage,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
      };
    });
    rows.push({
      id: 'tags-list',
      workload: `tags/list, ${settings.tagCount} tags (full)`,
      unit: 'lists/s',
      higherIsBetter: true,
      ...samples,
    });
    rows.push({
      id: 'tags-list-ms',
      workload: `tags/list, ${settings.tagCount} tags (full)`,
      unit: 'ms/list p50',
      higherIsBetter: false,
      slipway: samples.slipway.map((s) => ({ ...s, value: s.p50Ms! })),
      distribution: samples.distribution.map((s) => ({ ...s, value: s.p50Ms! })),
    });

    // Slipway only: the paged walk (n=100, following Link headers); distribution 2.8 ignores n.
    log(
      `tag listing: slipway paged walk, n=${settings.tagPageSize} following Link, ${settings.tagPagedWalks} walks`,
    );
    const agent = newAgent(1);
    const auth = await slipway.authorization(repos);
    let pages = 0;
    const walk = async () => {
      const seen: string[] = [];
      let next: URL | undefined = new URL(
        `/v2/${settings.tagsRepo}/tags/list?n=${settings.tagPageSize}`,
        slipway.base,
      );
      pages = 0;
      while (next) {
        const res = await call(agent, next, 'GET', { authorization: auth });
        expectStatus(res, 200, 'slipway paged tags/list');
        seen.push(...(JSON.parse(res.body.toString('utf8')) as { tags: string[] }).tags);
        pages++;
        const link = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers.link ?? ''));
        next = link ? new URL(link[1]!, slipway.base) : undefined;
      }
      if (JSON.stringify(seen) !== expected)
        throw new Error(`slipway paged walk: got ${seen.length} tags, expected ${tags.length} in order`);
    };
    await walk();
    const runs = Array.from({ length: settings.tagPagedWalks }, (_, i) => i);
    const {
      result: latencies,
      seconds,
      usage,
    } = await measured(slipway, 'tags-paged-walk', () => pool(runs, 1, walk));
    agent.destroy();
    extras.slipwayPagedWalk = {
      pageSize: settings.tagPageSize,
      pagesPerWalk: pages,
      walks: runs.length,
      msPerWalkP50: percentile(latencies, 50),
      msPerPage: (seconds * 1000) / (runs.length * pages),
      walksPerSecond: runs.length / seconds,
      ...usage,
    };
    log(
      `  slipway: ${pages} pages per walk, ${fmt(percentile(latencies, 50))} ms per walk (p50), ${fmt((seconds * 1000) / (runs.length * pages))} ms per page`,
    );
  }

  // 5. wrk: manifest GET by tag and HEAD blob
  const wrkWorkloads = [
    {
      id: 'manifest-get',
      workload: 'manifest GET by tag',
      path: `/v2/${settings.repo}/manifests/latest`,
      headers: [`Accept: ${manifestAccept}`],
      script: undefined as string | undefined,
      method: 'GET',
      expectLength: latest.length,
    },
    {
      id: 'blob-head',
      workload: 'HEAD blob',
      path: `/v2/${settings.repo}/blobs/${empty.digest}`,
      headers: [] as string[],
      // wrk 4.1 cannot parse a HEAD response with a non-zero Content-Length (it waits for the
      // body), so the HEAD is of the empty blob: the same stat path, Content-Length 0.
      script: join(here, 'head.lua'),
      method: 'HEAD',
      expectLength: 0,
    },
  ].filter((w) => enabled(w.id));
  if (wrkWorkloads.length > 0) {
    log(
      `\nwrk: ${settings.wrkThreads} threads, ${settings.wrkConnections} connections, ${settings.wrkDuration} s per run, ${settings.wrkWarmupSeconds} s warm-up per side`,
    );
  }
  for (const w of wrkWorkloads) {
    log(`${w.workload}: ${w.method} ${w.path}`);
    // Check first (with Node) that the request wrk will send is answered with 200 on both sides.
    const headersFor = async (target: Target) => [
      `Authorization: ${await target.authorization(repos)}`,
      ...w.headers,
    ];
    for (const target of targets) {
      const headers = await headersFor(target);
      const agent = newAgent(1);
      const res = await call(
        agent,
        new URL(w.path, target.base),
        w.method,
        Object.fromEntries(
          headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]),
        ),
      );
      agent.destroy();
      expectStatus(res, 200, `${target.side} ${w.method} ${w.path}`);
      if (Number(res.headers['content-length']) !== w.expectLength) {
        throw new Error(
          `${target.side} ${w.method} ${w.path}: content-length ${res.headers['content-length']}, expected ${w.expectLength}`,
        );
      }
      await runWrk(new URL(w.path, target.base), headers, settings.wrkWarmupSeconds, w.script);
    }
    const samples = await interleaved(targets, settings.wrkRounds, async (target) => {
      const headers = await headersFor(target);
      const { result, seconds, usage } = await measured(
        target,
        w.id,
        () => runWrk(new URL(w.path, target.base), headers, settings.wrkDuration, w.script),
        (r) => r.cpuSeconds,
      );
      if (result.non2xx > 0)
        throw new Error(`${target.side} ${w.workload}: ${result.non2xx} non-2xx responses from wrk`);
      if (result.requests === 0) throw new Error(`${target.side} ${w.workload}: wrk completed no requests`);
      return {
        value: result.requestsPerSecond,
        seconds,
        ops: result.requests,
        ...usage,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        extra: { p90Ms: result.p90Ms, ...(result.socketErrors ? { socketErrors: result.socketErrors } : {}) },
      };
    });
    rows.push({ id: w.id, workload: w.workload, unit: 'req/s', higherIsBetter: true, goal: 3.0, ...samples });
    rows.push({
      id: `${w.id}-p99`,
      workload: w.workload,
      unit: 'p99 ms',
      higherIsBetter: false,
      field: 'p99Ms',
      ...samples,
    });
  }

  report(started);
}

// ---------------------------------------------------------------------------------------------
// Output

function version(cmd: string, args: string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${res.stdout ?? ''}${res.stderr ?? ''}`.split('\n')[0]!.trim();
}

function report(started: Date): void {
  const table = rows.map((row) => {
    const s = figure(row, 'slipway');
    const d = figure(row, 'distribution');
    const ratio = s / d;
    const met = row.goal === undefined ? undefined : ratio >= row.goal;
    return { row, s, d, ratio, met };
  });

  const header = ['workload', 'metric', 'slipway', 'distribution', 'S/D', 'goal', 'server cpu% S (loop) / D'];
  const lines = table.map(({ row, s, d, ratio, met }) => {
    const cpu = (side: Side, field: 'serverCpuPct' | 'serverLoopCpuPct' = 'serverCpuPct') => {
      const values = row[side].map((x) => x[field]).filter((x): x is number => x !== undefined);
      return values.length > 0 ? String(Math.round(median(values))) : '-';
    };
    return [
      row.workload,
      `${row.unit} (${row.higherIsBetter ? 'higher' : 'lower'} is better)`,
      fmt(s),
      fmt(d),
      fmt(ratio),
      row.goal === undefined ? '' : `>= ${row.goal.toFixed(1)} ${met ? 'met' : 'MISSED'}`,
      row.field || row.id === 'tags-list-ms'
        ? ''
        : `${cpu('slipway')} (${cpu('slipway', 'serverLoopCpuPct')}) / ${cpu('distribution')}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const print = (cells: string[]) =>
    process.stdout.write(
      `| ${cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |\n`,
    );
  process.stdout.write('\n');
  print(header);
  process.stdout.write(
    `|${widths.map((w, i) => (i >= 2 && i <= 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|\n`,
  );
  for (const line of lines) print(line);
  const walk = extras.slipwayPagedWalk as
    { pagesPerWalk: number; msPerWalkP50: number; msPerPage: number; pageSize: number } | undefined;
  if (walk) {
    process.stdout.write(
      `\nSlipway paged tag walk (n=${walk.pageSize}, following Link): ${walk.pagesPerWalk} pages, ${fmt(walk.msPerWalkP50)} ms per walk (p50), ${fmt(walk.msPerPage)} ms per page\n`,
    );
  }
  const disturbed = rows
    .filter((row) => !row.field && row.id !== 'tags-list-ms')
    .flatMap((row) =>
      (['slipway', 'distribution'] as const).flatMap((side) =>
        row[side]
          .map((sample, i) => ({ sample, i }))
          .filter(({ sample }) => (sample.otherCpuPct ?? 0) >= otherCpuWarnPct)
          .map(({ sample, i }) => `${row.id} ${side} round ${i + 1} (${Math.round(sample.otherCpuPct!)}%)`),
      ),
    );
  if (disturbed.length > 0) {
    process.stdout.write(
      `\nWARNING: other work used >= ${otherCpuWarnPct}% CPU during: ${disturbed.join(', ')}\n`,
    );
  }
  extras.disturbedRounds = disturbed;
  process.stdout.write(
    `S/D = Slipway / distribution, medians of the rounds; server cpu% = CPU of the server process during the measured span (200 = both cores); loop = Slipway's main thread (its event loop; 100 = saturated).\n`,
  );

  const result = {
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      kernel: os.release(),
    },
    versions: {
      node: process.version,
      slipway: (JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string })
        .version,
      slipwayRevision: process.env.SLIPWAY_REVISION ?? version('git', ['rev-parse', 'HEAD']),
      distribution: version('docker-registry', ['--version']),
      wrk: version('wrk', ['-v']),
    },
    settings: {
      ...settings,
      distributionAuth: `htpasswd, bcrypt cost ${process.env.PEER_BCRYPT_COST ?? '?'}, Basic on every request`,
      slipwayAuth: 'bearer token from /v2/auth',
    },
    results: table.map(({ row, s, d, ratio, met }) => ({
      id: row.id,
      workload: row.workload,
      unit: row.unit,
      higherIsBetter: row.higherIsBetter,
      slipway: s,
      distribution: d,
      ratio,
      goal: row.goal ?? null,
      met: met ?? null,
      rounds: row.field ? undefined : { slipway: row.slipway, distribution: row.distribution },
    })),
    ...extras,
  };
  if (tracePath)
    writeFileSync(
      tracePath,
      `${JSON.stringify({ slipwayPid: process.env.SLIPWAY_PID ?? null, spans }, null, 2)}\n`,
    );
  writeJson(outPath, result).catch((err: unknown) => {
    log(`bench: could not write ${outPath}: ${String(err)}`);
    process.exitCode = 1;
  });
}

/** Writes JSON formatted the way the repository's prettier config would (so format:check stays green). */
async function writeJson(path: string, value: unknown): Promise<void> {
  let text = `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 2)}\n`;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(path)) ?? {};
    text = await prettier.format(text, { ...options, parser: 'json' });
  } catch {
    // prettier is a dev dependency; without it the plain JSON is still valid
  }
  writeFileSync(path, text);
  log(`\nbench: wrote ${path}`);
}

main().catch((err: unknown) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
