/**
 * Rancher's API (`/v3`, Norman): the 2.0 tech-preview pipeline resources and their 2.1+ forms over Slipway's
 * pipelines and runs. Slipway is one cluster, `local`; a Rancher project is a Slipway namespace, `local:<ns>`.
 *
 * Authentication, as Rancher clients send it: `Authorization: Bearer <key>:<secret>` or Basic
 * `<key>:<secret>`, where the pair is any Slipway login (`user:password`, `ns+robot:token`,
 * `$oauthtoken:<OAuth token>`, `$app:<app token>`), or `Bearer <OAuth or app token>`. Anonymous callers get
 * 401 Unauthorized on everything but the root document `GET /v3`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { anonymous, type Subject } from '../../identity/index.js';
import type { Services } from '../../services.js';
import { Unauthenticated } from '../../platform/errors.js';
import { currentRequest } from '../../platform/request-context.js';
import { apiRoot } from './norman.js';
import { rancherError, toRancherError } from './rancher-errors.js';
import { pipelineRoutes } from './pipelines.routes.js';
import { accountRoutes } from './accounts.routes.js';
import { clusterPipelineRoutes } from './cluster-pipelines.routes.js';

export interface RancherDeps extends Services {
  publicUrl?: string;
}

/** Splits `a:b` at the first colon. */
function pair(text: string): { username: string; password: string } | undefined {
  const colon = text.indexOf(':');
  return colon <= 0 ? undefined : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Who calls: undefined when credentials were presented and prove nothing (401 even where anonymous callers
 * may go), anonymous when none were.
 */
export async function rancherSubject(
  credentials: Services['credentials'],
  authorization: string | undefined,
): Promise<Subject | undefined> {
  if (!authorization) return anonymous;
  const basic = /^Basic\s+(\S+)$/i.exec(authorization);
  if (basic) {
    const login = pair(Buffer.from(basic[1]!, 'base64').toString('utf8'));
    return login && credentials.authenticateLogin(login.username, login.password);
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!bearer) return undefined;
  const token = bearer[1]!;
  const login = pair(token);
  if (login) return credentials.authenticateLogin(login.username, login.password);
  return (await credentials.resolveToken('oauth', token)) ?? (await credentials.resolveToken('app', token));
}

export const rancherRoutes: FastifyPluginAsyncTypebox<Services & { publicUrl?: string }> = async (
  app,
  services,
) => {
  const deps: RancherDeps = { ...services };
  app.decorateRequest('subject', null as never); // set for every request by the hook below

  app.addHook('onRequest', async (request, reply) => {
    const subject = await rancherSubject(deps.credentials, request.headers.authorization);
    request.subject = subject ?? anonymous;
    const isRoot = request.method === 'GET' && /^\/v3\/?(\?.*)?$/.test(request.url);
    if (!subject || (subject.kind === 'anonymous' && !isRoot)) {
      reply.header('www-authenticate', 'Basic realm="slipway"');
      throw new Unauthenticated('Unauthorized', subject ? 'must authenticate' : 'invalid credentials');
    }
    const context = currentRequest();
    if (context && subject.kind !== 'anonymous')
      context.performer = { kind: subject.kind, name: subject.name };
  });

  app.setErrorHandler((err, request, reply) => {
    const body = toRancherError(err);
    if (body) return reply.code(body.status).send(body);
    request.log.error({ err }, 'request failed');
    return reply.code(500).send(rancherError(500, 'ServerError', 'internal server error'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(rancherError(404, 'NotFound', `${request.method} ${request.url.split('?')[0]} not found`)),
  );

  app.get('/', async (request: FastifyRequest) => {
    const root = apiRoot(request, deps.publicUrl);
    return {
      type: 'apiRoot',
      id: 'v3',
      apiVersion: { group: 'management.cattle.io', version: 'v3', path: '/v3' },
      links: {
        self: root,
        clusters: `${root}/clusters`,
        projects: `${root}/projects`,
        clusterpipelines: `${root}/clusterpipelines`,
        pipelines: `${root}/pipelines`,
        pipelinehistories: `${root}/pipelinehistories`,
        pipelinelogs: `${root}/pipelinelogs`,
        remoteaccounts: `${root}/remoteaccounts`,
        gitrepocaches: `${root}/gitrepocaches`,
      },
      actions: {},
    };
  });

  const register = (routes: (app: FastifyInstance, deps: RancherDeps) => Promise<void>) =>
    app.register(async (scope) => routes(scope, deps));
  await register(pipelineRoutes);
  await register(clusterPipelineRoutes);
  await register(accountRoutes);
};
