/**
 * The full LogStore port: the engine's write side (`LogStore` in ../log-store.ts: `append`,
 * `close`) plus reading by range after the run and following live while it runs, as the API
 * faces need. Every step's output is kept per step id as numbered lines with timestamps.
 *
 * Lifecycle of one step's log:
 * 1. `append(stepId, chunk)` for every chunk the executor passes to its sink, in the order
 *    received. It is synchronous and cheap (it may be called straight from an executor's sink):
 *    the store splits the chunks into lines per stream and writes them in the background. A line
 *    is stored once its newline arrives, once it is longer than the store's maximum line length,
 *    once it has waited for its newline longer than the store's idle limit, or at `close`; its
 *    `at` is the time of the chunk that brought its first byte. Output past the store's per-step
 *    size cap is dropped and counted; one `system` line marks where.
 *    It throws only for a caller's mistake: an invalid step id, or a step this process closed.
 * 2. `close(stepId)` once the step ended: writes what is still pending, marks the log closed and
 *    resolves when that is stored. Idempotent. It may be called by another process than the one
 *    that appended (a server that recovers a run whose runner died closes its steps' logs), and for
 *    a step that wrote nothing (its log is then closed and empty). It rejects if writing failed.
 * 3. `read` and `follow`, at any time, from any process sharing the storage. A step whose log does
 *    not exist yet reads as empty and not closed; `follow` waits for it.
 *
 * Concurrency: one writer per step (the process running it); any number of readers and followers,
 * in this process (woken at once by each write) or in others sharing the storage (they poll).
 * Lines are numbered from 0 in the order they are stored; a number, once given, never changes.
 */
import type { LogChunk } from '../executor.js';
import type { LogStore } from '../log-store.js';

/** `system` lines are written by Slipway itself (the truncation marker), not by the step. */
export type LogLineStream = LogChunk['stream'] | 'system';

export interface LogLine {
  /** Position in the step's log, from 0: the cursor of `read` and `follow`. */
  readonly number: number;
  readonly stream: LogLineStream;
  /** Epoch milliseconds when the line's first byte was received. */
  readonly at: number;
  /** The line's bytes, without its newline. */
  readonly data: Buffer;
  /**
   * False when the output had no newline at the end of this line: it was cut because it was too
   * long, waited too long for its newline, or the output ended or was truncated there. The
   * output continues, byte for byte, in the next line of the same stream.
   */
  readonly eol: boolean;
}

export interface LogReadOptions {
  /** The first line to return. Default 0. */
  readonly from?: number;
  /** At most this many lines. Default: all. */
  readonly limit?: number;
}

export interface LogPage {
  readonly lines: readonly LogLine[];
  /** The number after the last line returned (`from` if none): where the next read starts. */
  readonly next: number;
  /** Lines stored so far. */
  readonly total: number;
  /** True once the log is closed: `total` is final. */
  readonly closed: boolean;
  /**
   * Bytes of output dropped past the size cap. Final once closed; while open, a process other than
   * the writer may see 0 (the count is stored when the log is closed).
   */
  readonly droppedBytes: number;
}

export interface LogFollowOptions {
  /** The first line to yield. Default 0. */
  readonly from?: number;
  /** Aborting it ends the iteration (without an error). */
  readonly signal?: AbortSignal;
}

export interface ReadableLogStore extends LogStore {
  append(stepId: string, chunk: LogChunk): void;
  close(stepId: string): Promise<void>;
  read(stepId: string, options?: LogReadOptions): Promise<LogPage>;
  /**
   * Yields the lines from `from` on as they are stored, and returns once the log is closed and
   * every line has been yielded, when the log is removed, or when `signal` aborts.
   */
  follow(stepId: string, options?: LogFollowOptions): AsyncIterable<LogLine>;
  /** Deletes a step's log (with its run). Its followers end. */
  remove(stepId: string): Promise<void>;
}
