import { randomBytes, randomUUID } from 'node:crypto';

/** Identifier of a stored entity. */
export const newId = (): string => randomUUID();

/** An unguessable token of `bytes` random bytes, hex-encoded (upload sessions, generated passwords). */
export const randomToken = (bytes = 16): string => randomBytes(bytes).toString('hex');
