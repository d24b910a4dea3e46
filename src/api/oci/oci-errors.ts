import type { FastifyReply } from 'fastify';
import { DomainError } from '../../platform/errors.js';

/** The distribution-spec error codes this face speaks; a domain code outside this list is reported by its kind. */
const ociCodes = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'PAGINATION_NUMBER_INVALID',
  'RANGE_INVALID',
]);

const byKind: Record<DomainError['kind'], { status: number; code: string }> = {
  not_found: { status: 404, code: 'NAME_UNKNOWN' },
  denied: { status: 403, code: 'DENIED' },
  unauthenticated: { status: 401, code: 'UNAUTHORIZED' },
  invalid: { status: 400, code: 'UNSUPPORTED' },
  conflict: { status: 409, code: 'DENIED' },
  too_large: { status: 413, code: 'SIZE_INVALID' },
  range: { status: 416, code: 'RANGE_INVALID' },
  unsupported: { status: 405, code: 'UNSUPPORTED' },
  quota: { status: 403, code: 'DENIED' },
};

export interface OciError {
  status: number;
  body: { errors: Array<{ code: string; message: string; detail?: unknown }> };
}

/** The one mapping from domain errors to OCI `{"errors":[...]}` bodies and status codes. */
export function toOciError(err: unknown): OciError | undefined {
  if (!(err instanceof DomainError)) return undefined;
  const mapped = byKind[err.kind];
  const code = ociCodes.has(err.code) ? err.code : mapped.code;
  return {
    status: mapped.status,
    body: { errors: [{ code, message: err.message, detail: err.detail ?? {} }] },
  };
}

export function sendOciError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  detail: unknown = {},
): FastifyReply {
  return reply
    .code(status)
    .type('application/json')
    .send({ errors: [{ code, message, detail }] });
}
