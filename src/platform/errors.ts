/**
 * Typed domain errors. Services throw these; each API face maps them to its own
 * wire format in one place. `code` is a stable SCREAMING_SNAKE identifier that a
 * face may pass through (the OCI face uses the registry's codes verbatim).
 */
export abstract class DomainError extends Error {
  abstract readonly kind:
    | 'not_found'
    | 'denied'
    | 'unauthenticated'
    | 'invalid'
    | 'conflict'
    | 'too_large'
    | 'range'
    | 'unsupported'
    | 'quota';
  constructor(
    readonly code: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFound extends DomainError {
  readonly kind = 'not_found';
}
export class Denied extends DomainError {
  readonly kind = 'denied';
}
export class Unauthenticated extends DomainError {
  readonly kind = 'unauthenticated';
}
export class Invalid extends DomainError {
  readonly kind = 'invalid';
}
export class Conflict extends DomainError {
  readonly kind = 'conflict';
}
export class TooLarge extends DomainError {
  readonly kind = 'too_large';
}
/** A byte range or offset that does not fit what is stored (HTTP 416 on the wire). */
export class RangeNotSatisfiable extends DomainError {
  readonly kind = 'range';
}
export class Unsupported extends DomainError {
  readonly kind = 'unsupported';
}
export class QuotaExceeded extends DomainError {
  readonly kind = 'quota';
}
