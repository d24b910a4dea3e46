import type { FastifyError } from 'fastify';
import { DomainError } from '../../platform/errors.js';
import { PipelineDefinitionError, formatIssue } from '../../runs/definition/issues.js';

/** Norman's (Rancher's API framework) error body. */
export interface RancherErrorBody {
  type: 'error';
  status: number;
  code: string;
  message: string;
  fieldName?: string;
}

/** Norman's codes (`norman/httperror`) with their statuses; a domain error whose code is one of them keeps it. */
export const rancherCodes: Readonly<Record<string, number>> = {
  Unauthorized: 401,
  PermissionDenied: 403,
  NotFound: 404,
  ActionNotAvailable: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  NotUnique: 409,
  InvalidBodyContent: 422,
  MissingRequired: 422,
  InvalidFormat: 422,
  InvalidOption: 422,
  InvalidState: 422,
  InvalidType: 422,
  InvalidAction: 422,
  MaxLimitExceeded: 422,
  ServerError: 500,
};

const byKind: Readonly<Record<DomainError['kind'], { status: number; code: string }>> = {
  not_found: { status: 404, code: 'NotFound' },
  denied: { status: 403, code: 'PermissionDenied' },
  unauthenticated: { status: 401, code: 'Unauthorized' },
  invalid: { status: 422, code: 'InvalidBodyContent' },
  conflict: { status: 409, code: 'Conflict' },
  too_large: { status: 422, code: 'MaxLimitExceeded' },
  range: { status: 422, code: 'InvalidOption' },
  unsupported: { status: 422, code: 'InvalidType' },
  quota: { status: 403, code: 'PermissionDenied' },
};

/** Domain codes whose Norman code is not their kind's. */
const byCode: Readonly<Record<string, { status: number; code: string }>> = {
  PIPELINE_INACTIVE: { status: 422, code: 'InvalidState' },
  RUN_NOT_TRIGGERED: { status: 422, code: 'InvalidState' },
  PIPELINE_FILE_NOT_FOUND: { status: 422, code: 'InvalidState' },
  BRANCH_NOT_FOUND: { status: 422, code: 'InvalidOption' },
  PIPELINE_BUSY: { status: 409, code: 'Conflict' },
};

export function rancherError(
  status: number,
  code: string,
  message: string,
  fieldName?: string,
): RancherErrorBody {
  return { type: 'error', status, code, message, ...(fieldName ? { fieldName } : {}) };
}

/**
 * The one mapping of the /v3 face from errors to Norman error bodies: domain errors by code (when it is a Norman
 * code) or kind (names already taken → NotUnique), definition errors naming the first issue's line and field,
 * request validation as MissingRequired / InvalidBodyContent with `fieldName`. Undefined for anything else (a bug:
 * the caller answers 500 ServerError and logs it).
 */
export function toRancherError(err: unknown): RancherErrorBody | undefined {
  if (err instanceof PipelineDefinitionError) {
    const first = err.issues[0];
    return rancherError(
      422,
      'InvalidBodyContent',
      err.issues.map(formatIssue).join('; ') || err.message,
      first?.path || undefined,
    );
  }
  if (err instanceof DomainError) {
    const detail = err.detail as { field?: unknown; missing?: unknown } | undefined;
    const fieldName = typeof detail?.field === 'string' ? detail.field : undefined;
    const own = rancherCodes[err.code];
    if (own !== undefined) return rancherError(own, err.code, err.message, fieldName);
    if (err.kind === 'invalid' && detail?.missing === true)
      return rancherError(422, 'MissingRequired', err.message, fieldName);
    const mapped = byCode[err.code] ?? byKind[err.kind];
    const code = err.kind === 'conflict' && /_EXISTS$/.test(err.code) ? 'NotUnique' : mapped.code;
    return rancherError(mapped.status, code, err.message, fieldName);
  }
  const fastifyError = err as Partial<FastifyError>;
  if (fastifyError.validation) {
    const first = fastifyError.validation[0];
    const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const path = first?.instancePath?.replace(/^\//, '').replace(/\//g, '.') ?? '';
    if (missing) {
      const fieldName = path ? `${path}.${missing}` : missing;
      return rancherError(422, 'MissingRequired', `${fieldName} is required`, fieldName);
    }
    const where = fastifyError.validationContext ?? 'body';
    return rancherError(
      422,
      'InvalidBodyContent',
      `${path || where}: ${first?.message ?? 'is invalid'}`,
      path || undefined,
    );
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    if (fastifyError.statusCode === 404)
      return rancherError(404, 'NotFound', fastifyError.message ?? 'not found');
    if (fastifyError.statusCode === 405)
      return rancherError(405, 'MethodNotAllowed', fastifyError.message ?? 'method not allowed');
    return rancherError(422, 'InvalidBodyContent', fastifyError.message ?? 'invalid request');
  }
  return undefined;
}
