import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  anonymous,
  grantAllows,
  registryTokenUsername,
  type AccessEntry,
  type CredentialsService,
  type Policy,
  type RegistryAction,
  type RegistryTokens,
  type Subject,
  type TokenGrant,
} from '../../identity/index.js';
import type { RepositoriesService } from '../../registry/index.js';
import { validateRepositoryName } from '../../registry/index.js';
import { sendOciError } from './oci-errors.js';

export interface TokenRouteDeps {
  credentials: CredentialsService;
  policy: Policy;
  tokens: RegistryTokens;
  repositories: RepositoriesService;
}

const registryActions: RegistryAction[] = ['pull', 'push', 'delete'];

/** `repository:name:pull,push` → parts; the name may itself hold `host:port`, so split at the first and last colon. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Who presented the credentials, and, when they were a registry token, that token's grant as the cap. */
interface Authenticated {
  subject: Subject;
  cap?: TokenGrant;
}

/**
 * The Docker token endpoint (`/v2/auth`): Basic credentials or none in, a JWT
 * granting the intersection of the requested and permitted actions out.
 * A registry token presented as the password of `$token` (a run's token in buildah's auth file) is
 * exchanged: the new token grants no action the presented one does not, and expires no later.
 */
export function registerTokenRoute(app: FastifyInstance, deps: TokenRouteDeps): void {
  const grant = async (subject: Subject, scopes: string[], cap?: TokenGrant): Promise<AccessEntry[]> => {
    const access: AccessEntry[] = [];
    for (const raw of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
      const scope = parseScope(raw);
      if (!scope) continue;
      if (scope.type === 'registry' && scope.name === 'catalog') {
        if (cap && !grantAllows(cap, 'registry', 'catalog', '*')) continue;
        access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (scope.type !== 'repository') continue;
      try {
        validateRepositoryName(scope.name);
      } catch {
        continue;
      }
      const allowed = await deps.policy.registryActions(subject, await deps.repositories.target(scope.name));
      const wanted = scope.actions.includes('*') ? registryActions : scope.actions;
      const actions = wanted.filter(
        (a): a is RegistryAction =>
          allowed.has(a as RegistryAction) && (!cap || grantAllows(cap, 'repository', scope.name, a)),
      );
      access.push({ type: 'repository', name: scope.name, actions });
    }
    return access;
  };

  const respond = async (reply: FastifyReply, who: Authenticated, scopes: string[], oauth: boolean) => {
    const access = await grant(who.subject, scopes, who.cap);
    const issued = await deps.tokens.issue(who.subject, access, { notAfter: who.cap?.expiresAt });
    const body = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
      ...(oauth ? { scope: scopes.join(' '), token_type: 'Bearer' } : {}),
    };
    return reply.header('cache-control', 'no-store').send(body);
  };

  const authenticate = async (
    credentials: { username: string; password: string } | undefined,
  ): Promise<Authenticated | undefined> => {
    if (!credentials) return { subject: anonymous };
    if (credentials.username === registryTokenUsername) {
      const cap = await deps.tokens.verify(credentials.password).catch(() => undefined);
      return cap && { subject: cap.subject, cap };
    }
    const subject = await deps.credentials.authenticateLogin(credentials.username, credentials.password);
    return subject && { subject };
  };

  const toList = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

  app.get(
    '/v2/auth',
    async (request: FastifyRequest<{ Querystring: { scope?: string | string[] } }>, reply) => {
      const who = await authenticate(basicCredentials(request.headers.authorization));
      if (!who) {
        reply.header('www-authenticate', 'Basic realm="slipway"');
        return sendOciError(reply, 401, 'UNAUTHORIZED', 'invalid username or password');
      }
      return respond(reply, who, toList(request.query.scope), false);
    },
  );

  // The OAuth2 form of the same endpoint (docker with a refresh token, containerd).
  app.post(
    '/v2/auth',
    async (request: FastifyRequest<{ Body: Record<string, string | undefined> }>, reply) => {
      const body = request.body ?? {};
      if (body.grant_type !== 'password') {
        return reply.code(400).send({
          error: 'unsupported_grant_type',
          error_description: 'only grant_type=password is supported',
        });
      }
      const who = await authenticate({ username: body.username ?? '', password: body.password ?? '' });
      if (!who || who.subject.kind === 'anonymous')
        return reply
          .code(401)
          .send({ error: 'invalid_grant', error_description: 'invalid username or password' });
      return respond(reply, who, toList(body.scope), true);
    },
  );
}
