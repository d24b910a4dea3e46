import { Invalid } from '../../platform/errors.js';
import type { ByteRangeRequest, ChunkRange } from '../../registry/index.js';

/** `Range: bytes=a-b | a- | -n` of a blob GET. Forms we do not serve (several ranges, other units) give undefined: the whole blob. */
export function parseRangeHeader(header: string | undefined): ByteRangeRequest | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') return { suffix: Number(match[2]) };
  return { start: Number(match[1]), end: match[2] === '' ? undefined : Number(match[2]) };
}

/** `Content-Range: start-end` of an upload chunk (distribution's form; a `bytes ` prefix is tolerated). */
export function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match)
    throw new Invalid('BLOB_UPLOAD_INVALID', 'malformed Content-Range, expected start-end', {
      contentRange: header,
    });
  return { start: Number(match[1]), end: Number(match[2]) };
}
