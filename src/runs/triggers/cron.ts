import { Cron } from 'croner';
import type { Clock } from '../../platform/clock.js';
import { Invalid } from '../../platform/errors.js';
import { RunNotTriggered } from '../runs.service.js';
import type { StartRun } from './start-run.js';
import type { CronTriggerRow, TriggersStore } from './triggers.store.js';

/**
 * Cron triggers (Rancher's `cronTrigger{spec, timezone}`): a schedule read in an IANA time zone starts a run
 * of its pipeline at each tick.
 *
 * Contract of the worker: every replica may call `fireDue` at any time; a tick starts exactly one run,
 * because a worker fires a tick only after moving the schedule's `next_fire_at` off it with a compare-and-set
 * (`TriggersStore.claimCronTick`). Ticks missed while no worker ran are not caught up: a late tick fires once
 * and the schedule moves to its first tick after now. A tick whose `startRun` fails is reported and not
 * retried, like a tick missed.
 */

/** Why `schedule` in `timezone` is not usable, or undefined when it is. */
export function cronError(schedule: string, timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return `unknown time zone "${timezone}"`;
  }
  try {
    new Cron(schedule, { timezone, paused: true });
  } catch (error) {
    return `invalid cron schedule "${schedule}": ${(error as Error).message}`;
  }
  return undefined;
}

/** Throws `Invalid` naming the field when the schedule or the time zone is not usable. */
export function assertCron(schedule: string, timezone: string): void {
  const problem = cronError(schedule, timezone);
  if (problem)
    throw new Invalid('CRON_INVALID', problem, {
      field: problem.startsWith('unknown time zone') ? 'timezone' : 'schedule',
    });
}

/**
 * The first tick of `schedule` in `timezone` strictly after `after` (epoch ms), or null when there is none
 * (a date that never comes, like February 30). Wall-clock times that a daylight-saving change skips fire at
 * the first instant after the gap.
 */
export function nextFireTime(schedule: string, timezone: string, after: number): number | null {
  const next = new Cron(schedule, { timezone, paused: true }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}

export interface CronWorkerOptions {
  /** How many due schedules one tick looks at; the rest wait for the next tick. */
  batch?: number;
  /** Told about a run that could not be started; the default writes a process warning. */
  onError?: (message: string, error: unknown) => void;
}

/** The cron worker: fires due schedules through `startRun`. */
export class CronWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly batch: number;
  private readonly onError: (message: string, error: unknown) => void;

  constructor(
    private readonly store: TriggersStore,
    private readonly startRun: StartRun,
    private readonly clock: Clock,
    options: CronWorkerOptions = {},
  ) {
    this.batch = options.batch ?? 100;
    this.onError =
      options.onError ??
      ((message, error) =>
        process.emitWarning(`${message}: ${error instanceof Error ? error.message : String(error)}`));
  }

  /** Fires every schedule due at `now`; resolves to the ids of the runs this worker started. */
  async fireDue(now = this.clock.now()): Promise<string[]> {
    const started: string[] = [];
    for (const row of await this.store.dueCrons(now, this.batch)) {
      const runId = await this.fire(row, now);
      if (runId) started.push(runId);
    }
    return started;
  }

  private async fire(row: CronTriggerRow, now: number): Promise<string | undefined> {
    const tick = row.next_fire_at;
    if (tick === null) return undefined;
    let next: number | null;
    try {
      next = nextFireTime(row.schedule, row.timezone, Math.max(now, tick));
    } catch (error) {
      // A schedule stored before a rule changed: stop it rather than fail every tick.
      next = null;
      this.onError(`cron trigger ${row.id} has an unusable schedule and stops`, error);
    }
    if (!(await this.store.claimCronTick(row.id, tick, next))) return undefined;
    try {
      const run = await this.startRun(row.pipeline_id, {
        kind: 'cron',
        context: { event: 'cron', commit: '', repoUrl: '', ...(row.branch ? { branch: row.branch } : {}) },
      });
      return run.id;
    } catch (error) {
      // The pipeline's own conditions may turn cron runs down; that is no failure.
      if (!(error instanceof RunNotTriggered))
        this.onError(`cron trigger ${row.id} could not start a run of pipeline ${row.pipeline_id}`, error);
      return undefined;
    }
  }

  /** Calls `fireDue` every `intervalMs` until `stop`; ticks do not overlap. */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.fireDue()
        .catch((error: unknown) => this.onError('cron tick failed', error))
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a tick in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
