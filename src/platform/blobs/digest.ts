import { createHash, type Hash } from 'node:crypto';
import { Invalid } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const digestPattern = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

export function isDigest(value: string): boolean {
  const m = digestPattern.exec(value);
  return m !== null && m[2]!.length === hexLength[m[1] as DigestAlgorithm];
}

/** Validates a digest before it is used to build any storage key. Unsupported or malformed: DIGEST_INVALID. */
export function parseDigest(value: string): ParsedDigest {
  const m = digestPattern.exec(value);
  if (!m || m[2]!.length !== hexLength[m[1] as DigestAlgorithm]) {
    throw new Invalid('DIGEST_INVALID', 'provided digest did not match uploaded content', {
      digest: value,
      reason: 'invalid or unsupported digest',
    });
  }
  return { algorithm: m[1] as DigestAlgorithm, hex: m[2]! };
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
