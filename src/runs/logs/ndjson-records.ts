/**
 * The file format of a step's log: NDJSON, one record per line of output, then one end record.
 *
 *   {"at":1718000000000,"stream":"stdout","text":"compiling"}
 *   {"at":1718000000120,"stream":"stderr","base64":"/w==","eol":false}
 *   {"end":true,"at":1718000000500,"droppedBytes":0}
 *
 * Why this format: a record is complete exactly when its newline is written, so a reader (in this
 * process or another one sharing the directory) reading a file that is being appended to stops
 * at the last newline and never sees half a record, and a writer that died mid-record leaves a
 * tail that is recognised and cut. Line records make a line number a record number, so a page
 * from line N needs no reassembly of chunks. Output is kept byte for byte: as text when it is
 * valid UTF-8 (the common case, so `jq` and `grep` work on the files), as base64 otherwise. The
 * end record marks the log closed for every reader and keeps the count of dropped bytes.
 */
import { isUtf8 } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import type { LogLineStream } from './readable-log-store.js';

export interface LineRecord {
  readonly at: number;
  readonly stream: LogLineStream;
  readonly data: Buffer;
  readonly eol: boolean;
}

export interface EndRecord {
  readonly at: number;
  readonly droppedBytes: number;
}

const NEWLINE = 0x0a;
const END_PREFIX = Buffer.from('{"end":');

export function encodeLine(line: LineRecord): string {
  const content = isUtf8(line.data)
    ? `"text":${JSON.stringify(line.data.toString('utf8'))}`
    : `"base64":"${line.data.toString('base64')}"`;
  return `{"at":${line.at},"stream":"${line.stream}",${content}${line.eol ? '' : ',"eol":false'}}\n`;
}

export function encodeEnd(end: EndRecord): string {
  return `{"end":true,"at":${end.at},"droppedBytes":${end.droppedBytes}}\n`;
}

/** True for the end record, told from a line record by its first bytes alone (no parsing). */
export function isEndRecord(record: Buffer): boolean {
  return record.length >= END_PREFIX.length && record.subarray(0, END_PREFIX.length).equals(END_PREFIX);
}

/** Throws on a record that is not one this module wrote. */
export function decodeRecord(record: Buffer): LineRecord | EndRecord {
  const value = JSON.parse(record.toString('utf8')) as Record<string, unknown>;
  if (typeof value.at !== 'number') throw new Error('log record without a time');
  if (value.end === true) return { at: value.at, droppedBytes: Number(value.droppedBytes ?? 0) };
  const stream = value.stream;
  if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'system') {
    throw new Error(`log record with an unknown stream: ${String(stream)}`);
  }
  const data =
    typeof value.text === 'string'
      ? Buffer.from(value.text, 'utf8')
      : Buffer.from(typeof value.base64 === 'string' ? value.base64 : '', 'base64');
  return { at: value.at, stream, data, eol: value.eol !== false };
}

export const isLineRecord = (record: LineRecord | EndRecord): record is LineRecord => 'stream' in record;

const BLOCK = 256 * 1024;

/**
 * Calls `visit` with every complete record (without its newline) of `handle` from byte `from`,
 * reading up to `until` bytes of the file, and its start offset; stops early when `visit`
 * answers false. Resolves with the offset after the last record visited: a partial record at the
 * end (one being written, or torn by a crash) is left for later.
 */
export async function scanRecords(
  handle: FileHandle,
  from: number,
  until: number,
  visit: (record: Buffer, start: number) => boolean,
): Promise<number> {
  let buffer = Buffer.allocUnsafe(BLOCK);
  let position = from;
  while (position < until) {
    const want = Math.min(buffer.length, until - position);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    if (bytesRead === 0) break;
    let start = 0;
    let newline = buffer.indexOf(NEWLINE, 0);
    while (newline !== -1 && newline < bytesRead) {
      if (!visit(buffer.subarray(start, newline), position + start)) return position + newline + 1;
      start = newline + 1;
      newline = buffer.indexOf(NEWLINE, start);
    }
    if (start === 0) {
      // No newline in a whole buffer: a record longer than it (or a partial one at the end).
      if (bytesRead < want || position + bytesRead >= until) break;
      buffer = Buffer.allocUnsafe(buffer.length * 2);
      continue;
    }
    position += start;
  }
  return position;
}

/** The offset just after the file's last newline (0 if none): where the complete records end. */
export async function completeLength(handle: FileHandle, size: number): Promise<number> {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (newline !== -1) return start + newline + 1;
    end = start;
  }
  return 0;
}
