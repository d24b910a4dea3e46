/**
 * The ReadableLogStore on a file system: one NDJSON file per step (format in ndjson-records.ts) under
 * `<dir>/<first two characters of the step id>/<step id>.ndjson`.
 *
 * Writing: each step being written by this process has a writer that turns chunks into line
 * records and appends them to its file from one loop, so records of a step are never
 * interleaved, and chunks that arrive while a write is under way go out together in the next one.
 * The files are not fsynced: a crash of the process loses nothing it had handed to the kernel,
 * a crash of the machine may lose the tail of a log.
 *
 * Reading: a read scans the file from the nearest checkpoint (the offset of every 1024th line,
 * kept in memory per step and extended with the bytes appended since), so paging through a log
 * or polling its tail does not rescan it. Followers in this process are woken by an EventEmitter
 * on every write; followers in other processes sharing the directory (replicas on shared storage)
 * poll the file every `pollIntervalMs`.
 */
import { EventEmitter } from 'node:events';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../platform/clock.js';
import { Conflict, Invalid } from '../../platform/errors.js';
import type { LogChunk } from '../executor.js';
import type {
  LogFollowOptions,
  LogLine,
  LogPage,
  LogReadOptions,
  ReadableLogStore,
} from './readable-log-store.js';
import {
  completeLength,
  decodeRecord,
  encodeEnd,
  encodeLine,
  isEndRecord,
  isLineRecord,
  scanRecords,
} from './ndjson-records.js';

export const DEFAULT_LOG_MAX_BYTES_PER_STEP = 16 * 1024 * 1024;

export interface FsLogStoreOptions {
  /** The directory of the log files; created when needed. */
  dir: string;
  /** Bytes of output kept per step; past them one marker line, and the rest is dropped and counted. Default 16 MiB. */
  maxBytesPerStep?: number;
  /** A line longer than this is stored as several lines (`eol: false` on all but the last). Default 64 KiB. */
  maxLineBytes?: number;
  /** A line still waiting for its newline after this long is stored as it is (`eol: false`). Default 1000 ms. */
  partialFlushMs?: number;
  /** How often a follower looks at the file for writes made by another process. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Times of the marker and end records. */
  clock?: Clock;
  /** Told about a failed write; the step's `close` rejects with it too. Default: a process warning. */
  onError?: (message: string, err: unknown) => void;
}

const STEP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CHECKPOINT_EVERY = 1024;
const CACHED_INDEXES = 1024;
const REMEMBERED_CLOSED = 4096;
/** Output bytes turned into records and written at once. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Bytes a follower reads at once. */
const FOLLOW_BATCH_BYTES = 1024 * 1024;

export class FsLogStore implements ReadableLogStore {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxLineBytes: number;
  private readonly partialFlushMs: number;
  private readonly pollIntervalMs: number;
  private readonly clock: Clock;
  private readonly onError: (message: string, err: unknown) => void;
  private readonly writers = new Map<string, StepWriter>();
  /** Steps this process closed: appending to them is a caller's mistake, reported at once. */
  private readonly closed = new Set<string>();
  private readonly indexes = new Map<string, LineIndex>();
  /** Emits `stepId` after every write (and removal) of that step's log. */
  private readonly changes = new EventEmitter().setMaxListeners(0);
  private readonly versions = new Map<string, number>();

  constructor(options: FsLogStoreOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytesPerStep ?? DEFAULT_LOG_MAX_BYTES_PER_STEP;
    this.maxLineBytes = options.maxLineBytes ?? 64 * 1024;
    this.partialFlushMs = options.partialFlushMs ?? 1000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    this.onError =
      options.onError ??
      ((message, err) =>
        process.emitWarning(`${message}: ${err instanceof Error ? err.message : String(err)}`));
  }

  append(stepId: string, chunk: LogChunk): void {
    this.check(stepId);
    if (this.closed.has(stepId)) throw new Conflict('LOG_CLOSED', `the log of step ${stepId} is closed`);
    let writer = this.writers.get(stepId);
    if (writer?.closing) throw new Conflict('LOG_CLOSED', `the log of step ${stepId} is closed`);
    if (!writer) {
      writer = new StepWriter(stepId, this.pathOf(stepId));
      this.writers.set(stepId, writer);
    }
    if (chunk.data.length === 0) return;
    writer.incoming.push(chunk);
    this.pump(writer);
  }

  async close(stepId: string): Promise<void> {
    this.check(stepId);
    let writer = this.writers.get(stepId);
    if (!writer) {
      writer = new StepWriter(stepId, this.pathOf(stepId));
      this.writers.set(stepId, writer);
    }
    if (!writer.closing) {
      const target = writer;
      target.closing = new Promise<void>((resolve, reject) => {
        target.closed = { resolve, reject };
      });
      this.pump(writer);
    }
    await writer.closing;
  }

  async read(stepId: string, options: LogReadOptions = {}): Promise<LogPage> {
    this.check(stepId);
    const from = options.from ?? 0;
    const limit = options.limit ?? Infinity;
    if (!Number.isInteger(from) || from < 0) throw new Invalid('INVALID_LOG_RANGE', `invalid line: ${from}`);
    if (!(limit >= 0)) throw new Invalid('INVALID_LOG_RANGE', `invalid limit: ${limit}`);
    const handle = await openIfExists(this.pathOf(stepId));
    if (!handle) {
      this.indexes.delete(stepId);
      return { lines: [], next: from, total: 0, closed: false, droppedBytes: this.liveDropped(stepId, 0) };
    }
    try {
      const index = await this.indexOf(stepId, handle);
      const lines: LogLine[] = [];
      if (from < index.lines && limit > 0) {
        const checkpoint = Math.floor(from / CHECKPOINT_EVERY);
        let number = checkpoint * CHECKPOINT_EVERY;
        await scanRecords(handle, index.checkpoints[checkpoint]!, index.bytes, (record) => {
          if (isEndRecord(record)) return false;
          if (number >= from) lines.push(lineOf(number, record));
          number += 1;
          return lines.length < limit;
        });
      }
      return {
        lines,
        next: from + lines.length,
        total: index.lines,
        closed: index.closed,
        droppedBytes: this.liveDropped(stepId, index.droppedBytes),
      };
    } finally {
      await handle.close();
    }
  }

  async *follow(stepId: string, options: LogFollowOptions = {}): AsyncGenerator<LogLine> {
    this.check(stepId);
    const from = options.from ?? 0;
    const signal = options.signal;
    if (!Number.isInteger(from) || from < 0) throw new Invalid('INVALID_LOG_RANGE', `invalid line: ${from}`);
    const path = this.pathOf(stepId);
    let handle: FileHandle | undefined;
    let inode: number | undefined;
    // The next record to read and the number of the line it holds.
    let byte = 0;
    let number = 0;
    try {
      while (!signal?.aborted) {
        const version = this.versions.get(stepId) ?? 0;
        if (!handle) {
          handle = await openIfExists(path);
          if (handle) {
            inode = (await handle.stat()).ino;
            // Start at the checkpoint nearest below `from` among the lines already there.
            const index = await this.indexOf(stepId, handle);
            const checkpoint = Math.floor(Math.min(from, index.lines) / CHECKPOINT_EVERY);
            byte = index.checkpoints[checkpoint] ?? 0;
            number = checkpoint * CHECKPOINT_EVERY;
          }
        }
        if (handle) {
          const lines: LogLine[] = [];
          let ended = false;
          const size = (await handle.stat()).size;
          const before = byte;
          byte = await scanRecords(handle, byte, Math.min(size, byte + FOLLOW_BATCH_BYTES), (record) => {
            if (isEndRecord(record)) {
              ended = true;
              return false;
            }
            if (number >= from) lines.push(lineOf(number, record));
            number += 1;
            return true;
          });
          for (const line of lines) {
            if (signal?.aborted) return;
            yield line;
          }
          if (ended) return;
          // More may be there already when this batch was full.
          if (byte > before) continue;
          // Nothing new: the log may have been removed (by this process or another one).
          const now = await stat(path).catch(() => undefined);
          if (now?.ino !== inode) return;
        }
        await this.changed(stepId, version, signal);
      }
    } finally {
      await handle?.close();
    }
  }

  async remove(stepId: string): Promise<void> {
    this.check(stepId);
    const writer = this.writers.get(stepId);
    if (writer) await this.close(stepId).catch(() => {});
    await rm(this.pathOf(stepId), { force: true });
    this.indexes.delete(stepId);
    this.notify(stepId);
    this.versions.delete(stepId);
  }

  // ------------------------------------------------------------------------------------------
  // Writing.

  /** Runs the writer's loop unless it is running; the loop picks up everything queued since. */
  private pump(writer: StepWriter): void {
    if (writer.running) {
      writer.again = true;
      return;
    }
    writer.running = this.drain(writer).finally(() => {
      writer.running = undefined;
      if (writer.again) this.pump(writer);
    });
  }

  private async drain(writer: StepWriter): Promise<void> {
    if (writer.finished) return;
    do {
      writer.again = false;
      if (!writer.handle && !writer.failure) {
        await this.openWriter(writer).catch((err) => this.fail(writer, err));
      }
      const records: string[] = [];
      if (writer.failure) {
        writer.incoming.length = 0;
      } else {
        // At most about WRITE_BATCH_BYTES of output per write; the loop goes on with the rest.
        let taken = 0;
        let bytes = 0;
        while (taken < writer.incoming.length && bytes < WRITE_BATCH_BYTES) {
          const chunk = writer.incoming[taken++]!;
          bytes += chunk.data.length;
          this.take(writer, chunk, records);
        }
        writer.incoming.splice(0, taken);
        if (writer.incoming.length > 0) writer.again = true;
        if (writer.closing && writer.incoming.length === 0) {
          this.flushPartials(writer, records, 0);
          // Another process may have closed the log meanwhile (recovering a run it thought dead).
          if (!writer.ended && writer.handle) writer.ended = await endsWithEndRecord(writer.handle);
          if (!writer.ended) {
            records.push(encodeEnd({ at: this.clock.now(), droppedBytes: writer.droppedBytes }));
          }
          writer.ended = true;
        } else if (writer.flushIdle) {
          writer.flushIdle = false;
          this.flushPartials(writer, records, this.partialFlushMs);
        }
        this.armIdleFlush(writer);
      }
      if (records.length > 0 && writer.handle && !writer.failure) {
        await writer.handle.appendFile(records.join('')).catch((err) => this.fail(writer, err));
        this.notify(writer.stepId);
      }
    } while (writer.again);
    if (writer.closing) await this.finish(writer);
  }

  /** Opens the step's file for appending, recovering what an earlier writer (maybe dead) left. */
  private async openWriter(writer: StepWriter): Promise<void> {
    await mkdir(join(writer.path, '..'), { recursive: true });
    const handle = await open(writer.path, 'a+');
    try {
      const size = (await handle.stat()).size;
      if (size > 0) {
        // A record torn by a crash is cut; then the state is rebuilt from what is stored.
        const complete = await completeLength(handle, size);
        if (complete < size) await handle.truncate(complete);
        await scanRecords(handle, 0, complete, (record) => {
          const decoded = decodeRecord(record);
          if (!isLineRecord(decoded)) {
            writer.ended = true;
            writer.droppedBytes = decoded.droppedBytes;
          } else if (decoded.stream === 'system') {
            writer.truncated = true;
          } else {
            writer.bytes += decoded.data.length + (decoded.eol ? 1 : 0);
          }
          return true;
        });
        if (writer.ended && !writer.closing) {
          throw new Conflict('LOG_CLOSED', `the log of step ${writer.stepId} is closed`);
        }
      }
      writer.handle = handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Splits a chunk into line records, within the step's size cap. */
  private take(writer: StepWriter, chunk: LogChunk, records: string[]): void {
    if (writer.truncated) {
      writer.droppedBytes += chunk.data.length;
      return;
    }
    const room = Math.max(0, this.maxBytes - writer.bytes);
    const kept = chunk.data.length > room ? chunk.data.subarray(0, room) : chunk.data;
    writer.bytes += kept.length;
    const { stream, at } = chunk;
    const partial = writer.partials[stream];
    let start = 0;
    for (let newline = kept.indexOf(0x0a); newline !== -1; newline = kept.indexOf(0x0a, start)) {
      const data = kept.subarray(start, newline);
      start = newline + 1;
      if (partial.length === 0 && data.length <= this.maxLineBytes) {
        records.push(encodeLine({ at, stream, data, eol: true }));
        continue;
      }
      partial.add(data, at);
      this.cutLongLine(partial, stream, records);
      records.push(encodeLine({ ...partial.cut(partial.length, at), stream, eol: true }));
    }
    if (start < kept.length) {
      partial.add(kept.subarray(start), at);
      this.cutLongLine(partial, stream, records);
    }
    if (kept.length < chunk.data.length) {
      writer.droppedBytes += chunk.data.length - kept.length;
      writer.truncated = true;
      this.flushPartials(writer, records, 0);
      const text = `log truncated: this step wrote more than ${this.maxBytes} bytes; the rest of its output is dropped`;
      const markerAt = Math.max(at, this.clock.now());
      records.push(encodeLine({ at: markerAt, stream: 'system', data: Buffer.from(text), eol: true }));
    }
  }

  /** Stores the first `maxLineBytes` of a line as long as more than that is waiting. */
  private cutLongLine(partial: PartialLine, stream: LogChunk['stream'], records: string[]): void {
    while (partial.length > this.maxLineBytes) {
      records.push(encodeLine({ ...partial.cut(this.maxLineBytes, 0), stream, eol: false }));
    }
  }

  /** Stores, without a newline, the partial lines that have waited at least `minAgeMs`. */
  private flushPartials(writer: StepWriter, records: string[], minAgeMs: number): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const partial = writer.partials[stream];
      if (partial.length === 0 || performance.now() - partial.since < minAgeMs) continue;
      records.push(encodeLine({ ...partial.cut(partial.length, 0), stream, eol: false }));
    }
  }

  private armIdleFlush(writer: StepWriter): void {
    const waiting = [writer.partials.stdout, writer.partials.stderr].filter((p) => p.length > 0);
    if (waiting.length === 0 || writer.timer) return;
    const oldest = Math.min(...waiting.map((p) => p.since));
    const delay = Math.max(0, oldest + this.partialFlushMs - performance.now());
    writer.timer = setTimeout(() => {
      writer.timer = undefined;
      writer.flushIdle = true;
      this.pump(writer);
    }, delay);
    writer.timer.unref();
  }

  private fail(writer: StepWriter, err: unknown): void {
    if (writer.failure) return;
    writer.failure = err instanceof Error ? err : new Error(String(err));
    if (!(err instanceof Conflict && writer.closing))
      this.onError(`failed to write the log of step ${writer.stepId}`, err);
  }

  private async finish(writer: StepWriter): Promise<void> {
    writer.finished = true;
    clearTimeout(writer.timer);
    await writer.handle?.close().catch(() => {});
    this.writers.delete(writer.stepId);
    this.closed.add(writer.stepId);
    if (this.closed.size > REMEMBERED_CLOSED) this.closed.delete(this.closed.values().next().value!);
    this.notify(writer.stepId);
    this.versions.delete(writer.stepId);
    if (writer.failure) writer.closed?.reject(writer.failure);
    else writer.closed?.resolve();
  }

  // ------------------------------------------------------------------------------------------
  // Reading.

  /**
   * The step's line index, brought up to the file's current end. Extensions of one step run one
   * at a time; a failed one (a corrupt record) fails this read, not the next ones.
   */
  private async indexOf(stepId: string, handle: FileHandle): Promise<LineIndex> {
    let index = this.indexes.get(stepId);
    const { size, ino } = await handle.stat();
    if (!index || index.inode !== ino || size < index.bytes) {
      index = {
        inode: ino,
        bytes: 0,
        lines: 0,
        checkpoints: [],
        closed: false,
        droppedBytes: 0,
        extending: Promise.resolve(),
      };
    }
    // Most recently used last; the least recently used goes when there are too many.
    this.indexes.delete(stepId);
    this.indexes.set(stepId, index);
    if (this.indexes.size > CACHED_INDEXES) this.indexes.delete(this.indexes.keys().next().value!);
    const target = index;
    const extension = target.extending.then(async () => {
      if (target.closed || target.bytes >= size) return;
      target.bytes = await scanRecords(handle, target.bytes, size, (record, start) => {
        if (isEndRecord(record)) {
          const end = decodeRecord(record);
          target.closed = true;
          target.droppedBytes = isLineRecord(end) ? 0 : end.droppedBytes;
          return false;
        }
        if (target.lines % CHECKPOINT_EVERY === 0) target.checkpoints.push(start);
        target.lines += 1;
        return true;
      });
    });
    target.extending = extension.catch(() => {});
    await extension;
    return target;
  }

  /** The dropped bytes a writer in this process knows of, while the stored count is not there yet. */
  private liveDropped(stepId: string, stored: number): number {
    return Math.max(stored, this.writers.get(stepId)?.droppedBytes ?? 0);
  }

  private notify(stepId: string): void {
    this.versions.set(stepId, (this.versions.get(stepId) ?? 0) + 1);
    this.changes.emit(stepId);
  }

  /** Resolves on the next write of the step in this process (at once if one happened since `version`), after the poll interval, or on abort. */
  private changed(stepId: string, version: number, signal?: AbortSignal): Promise<void> {
    if ((this.versions.get(stepId) ?? 0) !== version || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.changes.off(stepId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.changes.on(stepId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private check(stepId: string): void {
    if (!STEP_ID.test(stepId))
      throw new Invalid('INVALID_STEP_ID', `invalid step id: ${JSON.stringify(stepId)}`);
  }

  private pathOf(stepId: string): string {
    return join(this.dir, stepId.slice(0, 2), `${stepId}.ndjson`);
  }
}

/** Where the line records of a step's file are, as far as it has been scanned. */
interface LineIndex {
  inode: number;
  /** Bytes of complete records scanned. */
  bytes: number;
  lines: number;
  /** `checkpoints[k]`: the offset of line `k * CHECKPOINT_EVERY`. */
  checkpoints: number[];
  closed: boolean;
  droppedBytes: number;
  extending: Promise<void>;
}

/** The bytes of one stream waiting for their newline. */
class PartialLine {
  private parts: Buffer[] = [];
  length = 0;
  /** The time of the chunk that brought the first byte waiting. */
  private at = 0;
  /** performance.now() when that chunk came. */
  since = 0;

  add(data: Buffer, at: number): void {
    if (data.length === 0) return;
    if (this.length === 0) {
      this.at = at;
      this.since = performance.now();
    }
    this.parts.push(data);
    this.length += data.length;
  }

  /** Removes the first `bytes` bytes (`at` is the time of an empty line); what is left keeps its time. */
  cut(bytes: number, at: number): { at: number; data: Buffer } {
    if (this.length === 0) return { at, data: Buffer.alloc(0) };
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const rest = all.subarray(bytes);
    this.parts = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return { at: this.at, data: all.subarray(0, bytes) };
  }
}

class StepWriter {
  readonly incoming: LogChunk[] = [];
  readonly partials = { stdout: new PartialLine(), stderr: new PartialLine() };
  handle?: FileHandle;
  /** Output bytes kept, against the cap. */
  bytes = 0;
  truncated = false;
  droppedBytes = 0;
  /** The end record is stored. */
  ended = false;
  /** Its file is closed and it left `writers`. */
  finished = false;
  failure?: Error;
  running?: Promise<void>;
  again = false;
  flushIdle = false;
  timer?: NodeJS.Timeout;
  closing?: Promise<void>;
  closed?: { resolve: () => void; reject: (err: Error) => void };

  constructor(
    readonly stepId: string,
    readonly path: string,
  ) {}
}

function lineOf(number: number, record: Buffer): LogLine {
  const decoded = decodeRecord(record);
  if (!isLineRecord(decoded)) throw new Error('end record where a line was expected');
  return { number, ...decoded };
}

async function endsWithEndRecord(handle: FileHandle): Promise<boolean> {
  const complete = await completeLength(handle, (await handle.stat()).size);
  if (complete === 0) return false;
  const start = await completeLength(handle, complete - 1);
  const record = Buffer.alloc(complete - 1 - start);
  await handle.read(record, 0, record.length, start);
  return isEndRecord(record);
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
