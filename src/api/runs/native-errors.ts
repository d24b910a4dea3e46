import type { FastifyError } from 'fastify';
import { DomainError } from '../../platform/errors.js';

/** The error body of Slipway's native API (`/api/slipway/v1`). */
export interface NativeErrorBody {
  /** `field` names the offending input when the error is about one. */
  error: { code: string; message: string; field?: string };
}

const statusByKind: Readonly<Record<DomainError['kind'], number>> = {
  not_found: 404,
  denied: 403,
  unauthenticated: 401,
  invalid: 400,
  conflict: 409,
  too_large: 413,
  range: 416,
  unsupported: 415,
  quota: 403,
};

/**
 * The one mapping of the native API from errors to `{error: {code, message}}` and a status:
 * domain errors by kind, request validation failures as 400 `INVALID_REQUEST`. Undefined for
 * anything else (a bug: the caller answers 500 and logs it).
 */
export function toNativeError(err: unknown): { status: number; body: NativeErrorBody } | undefined {
  if (err instanceof DomainError) {
    const field = (err.detail as { field?: unknown } | undefined)?.field;
    return {
      status: statusByKind[err.kind],
      body: {
        error: { code: err.code, message: err.message, ...(typeof field === 'string' ? { field } : {}) },
      },
    };
  }
  const fastifyError = err as Partial<FastifyError>;
  if (fastifyError.validation) {
    return { status: 400, body: { error: { code: 'INVALID_REQUEST', message: fastifyError.message ?? '' } } };
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    const code = fastifyError.code ?? 'INVALID_REQUEST';
    return {
      status: fastifyError.statusCode,
      body: { error: { code, message: fastifyError.message ?? '' } },
    };
  }
  return undefined;
}
