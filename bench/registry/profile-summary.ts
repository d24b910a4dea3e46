/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
 * and the same grouped by where the code lives (Slipway's source, a dependency, node internals).
 *
 *   node --import tsx bench/registry/profile-summary.ts PROFILE.cpuprofile [--trace TRACE.json --workload ID] [--top N]
 *
 * With --trace (the file bench.ts writes when BENCH_TRACE is set) and --workload (blob-push,
 * blob-pull, manifest-get, ...), only the samples taken while Slipway was being measured on
 * that workload count. Both use CLOCK_MONOTONIC in microseconds, so the spans line up.
 *
 * Time is split into: program (JS and native code), (garbage collector), and (idle), which is
 * the event loop waiting (on I/O, the libuv thread pool, or the client).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Trace {
  spans: Array<{ workload: string; side: string; startUs: number; endUs: number }>;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { trace: { type: 'string' }, workload: { type: 'string' }, top: { type: 'string' } },
});
const file = positionals[0];
if (!file) {
  process.stderr.write(
    'usage: profile-summary.ts PROFILE.cpuprofile [--trace TRACE.json --workload ID] [--top N]\n',
  );
  process.exit(2);
}
const top = Number(values.top ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

let windows: Array<[number, number]> | undefined;
if (values.trace && values.workload) {
  const trace = JSON.parse(readFileSync(values.trace, 'utf8')) as Trace;
  windows = trace.spans
    .filter((s) => s.side === 'slipway' && s.workload === values.workload)
    .map((s) => [s.startUs, s.endUs] as [number, number]);
  if (windows.length === 0)
    throw new Error(`no slipway span for workload ${values.workload} in ${values.trace}`);
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Self time per node, over the samples inside the windows (each sample owns the delta to the next). */
const selfUs = new Map<number, number>();
let t = profile.startTime;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  const next = profile.timeDeltas[i + 1] ?? 0;
  if (windows && !windows.some(([a, b]) => t >= a && t < b)) continue;
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + next);
  total += next;
}

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\//, 'node_modules/')
    .replace(/^file:\/\/.*?\/(dist|src)\//, '$1/')
    .replace(/^node:/, 'node:');
const place = (f: CallFrame) => {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  if (f.url.startsWith('node:')) return 'node internals';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (dep) return `dep ${dep[1]}`;
  if (/\/dist\//.test(f.url)) return 'slipway';
  return shortUrl(f.url);
};

/** The nearest caller that is not node internals or native: who asked for the time. */
function owner(id: number): string {
  let cur: number | undefined = id;
  while (cur !== undefined) {
    const f = byId.get(cur)!.callFrame;
    if (f.url && !f.url.startsWith('node:'))
      return `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
    cur = parent.get(cur);
  }
  return '-';
}

const fns = new Map<string, { us: number; owners: Map<string, number> }>();
const places = new Map<string, number>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const key = f.url
    ? `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`
    : f.functionName;
  const entry = fns.get(key) ?? { us: 0, owners: new Map() };
  entry.us += us;
  const o = owner(id);
  entry.owners.set(o, (entry.owners.get(o) ?? 0) + us);
  fns.set(key, entry);
  places.set(place(f), (places.get(place(f)) ?? 0) + us);
}

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
process.stdout.write(
  `${file}${values.workload ? ` — slipway spans of ${values.workload}` : ''}: ${(total / 1e6).toFixed(2)} s of samples\n\nby place:\n`,
);
for (const [p, us] of [...places].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  process.stdout.write(`  ${ms(us)} ${pct(us)}  ${p}\n`);
}
process.stdout.write(`\ntop ${top} functions by self time (and the nearest non-internal caller):\n`);
for (const [key, { us, owners }] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
  const [o] = [...owners].sort((a, b) => b[1] - a[1]);
  process.stdout.write(`  ${ms(us)} ${pct(us)}  ${key}${o && o[0] !== key ? `   <- ${o[0]}` : ''}\n`);
}
