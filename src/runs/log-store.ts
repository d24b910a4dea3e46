import type { LogChunk } from './executor.js';

export type LogStream = LogChunk['stream'];

/**
 * Where the engine writes each step's output; the engine needs only these two calls.
 *
 * Contract: for one step, `append` is called with chunks in the order the executor produced them, and
 * the next call for that step is made only after the previous one settled (the engine chains them), so an
 * implementation may be asynchronous without reordering. `close` comes once, after the last `append` of the
 * step (also when the step ended by cancel, timeout or error), and no `append` follows it. Calls for
 * different steps may interleave and overlap. A rejected `append` or `close` loses that output but never
 * changes the step's result; the engine reports the failure to its error hook.
 */
export interface LogStore {
  append(stepId: string, chunk: LogChunk): void | Promise<void>;
  close(stepId: string): void | Promise<void>;
}

/** What `MemoryLogStore` holds for one step. */
export interface StoredLog {
  chunks: LogChunk[];
  bytes: number;
  /** Bytes dropped after the cap. */
  dropped: number;
  closed: boolean;
}

/**
 * Output kept in memory, per step, up to `maxBytesPerStep` (later output is counted, not kept). For tests
 * and for `slipway run`; the server's store keeps logs durably.
 */
export class MemoryLogStore implements LogStore {
  private readonly logs = new Map<string, StoredLog>();

  constructor(private readonly maxBytesPerStep = 4 * 1024 * 1024) {}

  append(stepId: string, chunk: LogChunk): void {
    const log = this.entry(stepId);
    if (log.closed) throw new Error(`log of step ${stepId} is closed`);
    const room = this.maxBytesPerStep - log.bytes;
    if (room <= 0) {
      log.dropped += chunk.data.length;
      return;
    }
    const data = chunk.data.length <= room ? chunk.data : chunk.data.subarray(0, room);
    log.chunks.push({ ...chunk, data: Buffer.from(data) });
    log.bytes += data.length;
    log.dropped += chunk.data.length - data.length;
  }

  close(stepId: string): void {
    this.entry(stepId).closed = true;
  }

  /** The step's log, or undefined when nothing was written or closed for it. */
  get(stepId: string): StoredLog | undefined {
    return this.logs.get(stepId);
  }

  /** The step's output as text, both streams in arrival order. */
  text(stepId: string): string {
    return Buffer.concat(this.logs.get(stepId)?.chunks.map((c) => c.data) ?? []).toString('utf8');
  }

  private entry(stepId: string): StoredLog {
    let log = this.logs.get(stepId);
    if (!log) {
      log = { chunks: [], bytes: 0, dropped: 0, closed: false };
      this.logs.set(stepId, log);
    }
    return log;
  }
}
