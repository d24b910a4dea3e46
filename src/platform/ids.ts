import { randomBytes, randomInt, randomUUID } from 'node:crypto';

/** Identifier of a stored entity. */
export const newId = (): string => randomUUID();

/** An unguessable token of `bytes` random bytes, hex-encoded (upload sessions, generated passwords). */
export const randomToken = (bytes = 16): string => randomBytes(bytes).toString('hex');

const codeAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** `length` random characters of [A-Z0-9], the format of Quay's tokens, client ids and generated passwords. */
export const randomCode = (length: number): string =>
  Array.from({ length }, () => codeAlphabet[randomInt(codeAlphabet.length)]).join('');
