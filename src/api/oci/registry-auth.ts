import type { FastifyRequest } from 'fastify';
import { Unauthenticated } from '../../platform/errors.js';
import { grantAllows, type RegistryTokens, type Subject } from '../../identity/index.js';

/** What a request needs: an action on a resource, as named in token scopes. */
export interface Need {
  type: 'repository' | 'registry';
  name: string;
  action: string;
  /** The scope to put in the challenge (e.g. `pull,push` so one token serves a whole push). */
  challengeActions: string;
}

/** Raised when a request lacks a token or the token lacks the scope; the face turns it into a Bearer challenge. */
export class ChallengeError extends Unauthenticated {
  constructor(
    readonly scope: string | undefined,
    readonly reason: 'invalid_token' | 'insufficient_scope' | undefined,
    authenticated: boolean,
  ) {
    super(
      authenticated ? 'DENIED' : 'UNAUTHORIZED',
      authenticated ? 'requested access to the resource is denied' : 'authentication required',
      scope ? { scope } : undefined,
    );
  }
}

const bearerPrefix = /^Bearer\s+(.+)$/i;

/**
 * Checks the request's bearer token for `need` and returns who is asking.
 * Missing and private repositories fail the same way (the token lacks the scope), so existence never leaks.
 */
export async function authorize(
  tokens: RegistryTokens,
  request: FastifyRequest,
  need?: Need,
): Promise<Subject> {
  const scope = need ? `${need.type}:${need.name}:${need.challengeActions}` : undefined;
  const match = bearerPrefix.exec(request.headers.authorization ?? '');
  if (!match) throw new ChallengeError(scope, undefined, false);
  let grant;
  try {
    grant = await tokens.verify(match[1]!.trim());
  } catch {
    throw new ChallengeError(scope, 'invalid_token', false);
  }
  if (need && !grantAllows(grant, need.type, need.name, need.action)) {
    throw new ChallengeError(scope, 'insufficient_scope', grant.subject.kind === 'user');
  }
  return grant.subject;
}

export function challengeHeader(realmBase: string, service: string, err: ChallengeError): string {
  let value = `Bearer realm="${realmBase}/v2/auth",service="${service}"`;
  if (err.scope) value += `,scope="${err.scope}"`;
  if (err.reason) value += `,error="${err.reason}"`;
  return value;
}
