import type { StepKind } from '../model.js';
import type { JobView } from '../runs.service.js';
import type { LogLine } from '../logs/readable-log-store.js';
import { stepPhase } from './phase.js';
import type { BuildPhase, QuayLogEntry } from './types.js';

/** buildah's `STEP 2/3: RUN make` (docker's `Step 2/3 : RUN make`): Quay's "command" entries. */
const COMMAND_LINE = /^(STEP|Step) \d+\/\d+ ?:/;

/** Quay's log timestamp: `2020-10-26 05:37:25.932196` (UTC). */
export function quayLogDatetime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2020-10-26T05:37:25.932Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

/** What `buildLogEntries` derives the entries from: the run as it is, and each started step's log lines. */
export interface BuildLogInput {
  createdAt: number;
  job?: Pick<JobView, 'claimedAt'> & {
    steps: readonly { kind: StepKind; startedAt?: number }[];
  };
  /** Log lines by step index (only steps that started). */
  lines: ReadonlyMap<number, readonly LogLine[]>;
  /** Set once the build ended: its phase, when, and for `error` why. */
  end?: { phase: BuildPhase; at: number; error?: string };
}

/**
 * Quay's build log from the run: a phase entry at each phase change (waiting when requested,
 * build-scheduled when the job was claimed, then the phase of each step as it starts, the end phase),
 * every line the steps wrote in between (buildah's `STEP n/m:` lines as commands), and the failure
 * reason as an error entry. Entries only ever get appended, so `start` offsets stay valid while it runs.
 */
export function buildLogEntries(input: BuildLogInput): QuayLogEntry[] {
  const entries: QuayLogEntry[] = [];
  let current: BuildPhase | undefined;
  const phase = (name: BuildPhase, at: number) => {
    if (name === current) return;
    current = name;
    entries.push({ message: name, type: 'phase', data: { datetime: quayLogDatetime(at) } });
  };
  phase('waiting', input.createdAt);
  if (input.job?.claimedAt !== undefined) phase('build-scheduled', input.job.claimedAt);
  input.job?.steps.forEach((step, index) => {
    if (step.startedAt === undefined) return;
    phase(stepPhase(step.kind), step.startedAt);
    for (const line of input.lines.get(index) ?? []) {
      const message = line.data.toString('utf8');
      const command = step.kind === 'build-image' && COMMAND_LINE.test(message);
      entries.push({
        message,
        ...(command ? { type: 'command' as const } : {}),
        data: { datetime: quayLogDatetime(line.at) },
      });
    }
  });
  if (input.end) {
    if (input.end.phase === 'error' && input.end.error) {
      entries.push({
        message: input.end.error,
        type: 'error',
        data: { datetime: quayLogDatetime(input.end.at) },
      });
    }
    phase(input.end.phase, input.end.at);
  }
  return entries;
}
