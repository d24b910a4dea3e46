import type { FastifyError } from 'fastify';
import { DomainError } from '../../platform/errors.js';

/** Quay's ApiError body (endpoints/exception.py). */
export interface ApiErrorBody {
  status: number;
  error_message: string;
  title: string;
  error_type: string;
  detail: string;
  type: string;
  [extra: string]: unknown;
}

const statusByKind: Record<DomainError['kind'], { status: number; type: string }> = {
  invalid: { status: 400, type: 'invalid_request' },
  conflict: { status: 400, type: 'invalid_request' },
  not_found: { status: 404, type: 'not_found' },
  denied: { status: 403, type: 'insufficient_scope' },
  unauthenticated: { status: 401, type: 'invalid_token' },
  too_large: { status: 400, type: 'invalid_request' },
  range: { status: 400, type: 'invalid_request' },
  unsupported: { status: 400, type: 'invalid_request' },
  quota: { status: 403, type: 'insufficient_scope' },
};

/** Error codes whose status differs from their kind's. */
const statusByCode: Record<string, { status: number; type: string }> = {
  TAG_IMMUTABLE: { status: 409, type: 'tag_immutable' },
  EXPIRED_TOKEN: { status: 401, type: 'expired_token' },
  // A second mirror configuration for a repository (Quay answers 409 `{"detail": ...}`).
  MIRROR_EXISTS: { status: 409, type: 'invalid_request' },
  // Writes to tags and labels of a READ_ONLY or MIRROR repository (Quay answers 503 `{"message": ...}`).
  REPOSITORY_NOT_NORMAL: { status: 503, type: 'invalid_request' },
};

export function apiError(
  status: number,
  errorType: string,
  detail: string,
  baseUrl: string,
  extra: object = {},
): ApiErrorBody {
  return {
    ...extra,
    detail,
    error_message: detail,
    error_type: errorType,
    title: errorType,
    type: `${baseUrl}/api/v1/error/${errorType}`,
    status,
  };
}

/**
 * The one mapping from errors to Quay ApiError bodies: domain errors by kind (and a few codes),
 * request validation failures as 400 invalid_request naming the field.
 */
export function toQuayError(err: unknown, baseUrl: string): ApiErrorBody | undefined {
  if (err instanceof DomainError) {
    const mapped = statusByCode[err.code] ?? statusByKind[err.kind];
    const detail = err.detail as { field?: string; payload?: object } | undefined;
    const message =
      detail?.field && !err.message.includes(detail.field) ? `${detail.field}: ${err.message}` : err.message;
    return apiError(mapped.status, mapped.type, message, baseUrl, detail?.payload);
  }
  const validation = (err as FastifyError).validation;
  if (validation) {
    const first = validation[0];
    const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const field = missing ?? first?.instancePath?.replace(/^\//, '').replace(/\//g, '.') ?? '';
    const where = (err as FastifyError).validationContext ?? 'body';
    const detail = missing
      ? `'${missing}' is a required property`
      : `${field || where}: ${first?.message ?? 'is invalid'}`;
    return apiError(400, 'invalid_request', detail, baseUrl);
  }
  const status = (err as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    const detail =
      status === 415 || /body/i.test(String((err as Error).message))
        ? 'Missing JSON body'
        : String((err as Error).message);
    return apiError(400, 'invalid_request', detail, baseUrl);
  }
  return undefined;
}

/** Human descriptions served by `GET /api/v1/error/{type}` (endpoints/api/error.py). */
export const errorDescriptions: Record<string, string> = {
  external_service_timeout: 'An external service timed out. Retrying the request may resolve the issue.',
  invalid_request:
    'The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.',
  invalid_response: 'The response was found to be invalid.',
  invalid_token: 'The access token provided is invalid.',
  expired_token: 'The access token provided has expired.',
  insufficient_scope: 'The access token did not have sufficient scope to access the requested resource.',
  fresh_login_required: 'The action requires a fresh login to succeed.',
  exceeds_license: 'The action was refused because the current license does not allow it.',
  not_found: 'The resource was not found.',
  downstream_issue: 'An error occurred in a downstream service.',
  tag_immutable: 'The tag is immutable and cannot be changed.',
  token_rotation_failed: 'The token could not be rotated.',
};
