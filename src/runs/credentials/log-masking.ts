import type { LogChunk, LogSink } from '../executor.js';

/** Shorter values are not masked: they would hide ordinary words and say little about the secret. */
export const MIN_MASKED_LENGTH = 4;
const MASK = Buffer.from('***');

/**
 * A sink that passes output to `sink` with every occurrence of `secrets` (those of at least
 * MIN_MASKED_LENGTH characters) replaced by `***`, per stream. A secret may be split across chunks: the end of
 * a chunk that could begin one is held back until the next chunk of its stream or `flush`, which the caller
 * invokes after the last chunk.
 */
export function maskingSink(sink: LogSink, secrets: readonly string[]): { sink: LogSink; flush: () => void } {
  const needles = [...new Set(secrets.filter((s) => s.length >= MIN_MASKED_LENGTH))]
    .map((s) => Buffer.from(s, 'utf8'))
    .sort((a, b) => b.length - a.length);
  if (needles.length === 0) return { sink, flush: () => undefined };
  const pending: Record<LogChunk['stream'], { data: Buffer; at: number } | undefined> = {
    stdout: undefined,
    stderr: undefined,
  };
  return {
    sink: (chunk) => {
      const held = pending[chunk.stream];
      const data = held ? Buffer.concat([held.data, chunk.data]) : chunk.data;
      const masked = maskAll(data, needles);
      const keep = heldBackLength(masked, needles);
      pending[chunk.stream] =
        keep > 0 ? { data: masked.subarray(masked.length - keep), at: chunk.at } : undefined;
      if (masked.length > keep) sink({ ...chunk, data: masked.subarray(0, masked.length - keep) });
    },
    flush: () => {
      for (const stream of ['stdout', 'stderr'] as const) {
        const held = pending[stream];
        pending[stream] = undefined;
        if (held) sink({ stream, data: held.data, at: held.at });
      }
    },
  };
}

/** `text` with every secret of at least MIN_MASKED_LENGTH characters replaced by `***`. */
export function maskText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= MIN_MASKED_LENGTH) out = out.split(secret).join('***');
  }
  return out;
}

function maskAll(data: Buffer, needles: readonly Buffer[]): Buffer {
  let out = data;
  for (const needle of needles) {
    let at = out.indexOf(needle);
    if (at === -1) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at !== -1) {
      parts.push(out.subarray(from, at), MASK);
      from = at + needle.length;
      at = out.indexOf(needle, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

/** The length of the longest end of `data` that is the beginning of a secret (shorter than it). */
function heldBackLength(data: Buffer, needles: readonly Buffer[]): number {
  let longest = 0;
  for (const needle of needles) {
    for (let n = Math.min(needle.length - 1, data.length); n > longest; n--) {
      if (data.subarray(data.length - n).equals(needle.subarray(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
