import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { Invalid, Unsupported } from '../../platform/errors.js';
import type { GitRepoCache, RemoteAccount, RemoteLogin } from '../../runs/sources/index.js';
import {
  actionNotAvailable,
  apiRoot,
  collection,
  compact,
  normanTime,
  requestedAction,
  resource,
} from './norman.js';
import type { RancherDeps } from './plugin.js';

/** The login input (and the create body): a token, or an OAuth code; flat or in `spec` as the tech preview wrote. */
const LoginFields = {
  type: Type.Optional(Type.String({ maxLength: 32 })),
  remoteType: Type.Optional(Type.String({ maxLength: 32 })),
  accessToken: Type.Optional(Type.String({ maxLength: 4096 })),
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  redirectUrl: Type.Optional(Type.String({ maxLength: 2048 })),
};
const LoginBody = Type.Object({ ...LoginFields, spec: Type.Optional(Type.Object(LoginFields)) });
type LoginBody = Static<typeof LoginBody>;
const IdParams = Type.Object({ id: Type.String() });
const ListQuery = Type.Object({
  creatorId: Type.Optional(Type.String()),
  action: Type.Optional(Type.String()),
});

/**
 * The caller's remote accounts (`/v3/remoteaccounts`: collection action `login`, action `refreshrepos`) and
 * their repository caches (`/v3/gitrepocaches`). Only the caller's own are ever listed or found; another
 * user's answer 404 as missing ones do. The access token is write-only: never in an answer.
 */
export async function accountRoutes(scope: FastifyInstance, deps: RancherDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();
  const accounts = deps.sourceAccounts;

  app.get('/remoteaccounts', { schema: { querystring: ListQuery } }, async (request) => {
    const self = `${apiRoot(request, deps.publicUrl)}/remoteaccounts`;
    const own = ownedBy(request.subject, request.query.creatorId) ? await accounts.list(request.subject) : [];
    return collection(
      'remoteAccount',
      self,
      own.map((account) => accountView(request, deps, account)),
      { create: true, actions: ['login'] },
    );
  });

  // `?action=login` logs in (200); a plain POST creates the account from a token as Norman's create does (201).
  app.post('/remoteaccounts', { schema: { body: LoginBody } }, async (request, reply) => {
    const action = requestedAction(request);
    if (action !== undefined && action !== 'login') throw actionNotAvailable(action);
    const { account } = await accounts.login(request.subject, loginInput(request.body));
    return reply.code(action ? 200 : 201).send(accountView(request, deps, account));
  });

  app.get('/remoteaccounts/:id', { schema: { params: IdParams } }, async (request) =>
    accountView(request, deps, await accounts.get(request.subject, request.params.id)),
  );

  app.post('/remoteaccounts/:id', { schema: { params: IdParams } }, async (request) => {
    const action = requestedAction(request);
    // Unknown names answer as a missing account would when the account is not the caller's.
    const account = await accounts.get(request.subject, request.params.id);
    if (action === undefined)
      throw new Unsupported('MethodNotAllowed', 'POST on a remote account needs ?action=refreshrepos');
    if (action !== 'refreshrepos') throw actionNotAvailable(action);
    return cacheView(request, deps, await accounts.refreshRepos(request.subject, account.name));
  });

  app.put('/remoteaccounts/:id', { schema: { params: IdParams } }, async (request) => {
    await accounts.get(request.subject, request.params.id);
    throw new Unsupported(
      'MethodNotAllowed',
      'a remote account cannot be changed: log in again (action login) to replace its token',
    );
  });

  app.delete('/remoteaccounts/:id', { schema: { params: IdParams } }, async (request) => {
    const account = await accounts.get(request.subject, request.params.id);
    await accounts.remove(request.subject, account.name);
    return accountView(request, deps, account);
  });

  app.get('/gitrepocaches', { schema: { querystring: ListQuery } }, async (request) => {
    const self = `${apiRoot(request, deps.publicUrl)}/gitrepocaches`;
    const own = ownedBy(request.subject, request.query.creatorId)
      ? await accounts.repoCaches(request.subject)
      : [];
    return collection(
      'gitRepoCache',
      self,
      own.map((cache) => cacheView(request, deps, cache)),
    );
  });

  app.get('/gitrepocaches/:id', { schema: { params: IdParams } }, async (request) =>
    cacheView(request, deps, await accounts.repoCache(request.subject, request.params.id)),
  );
}

/** Whether the `creatorId` filter names the caller (by id or name); the caller's are the only ones listed. */
function ownedBy(subject: Subject, creatorId: string | undefined): boolean {
  return (
    creatorId === undefined ||
    (subject.kind !== 'anonymous' && (creatorId === subject.id || creatorId === subject.name))
  );
}

function loginInput(body: LoginBody): RemoteLogin {
  const fields = { ...body.spec, ...compact({ ...body, spec: undefined }) };
  // Norman clients send the resource's own `type` (`remoteAccount`) in bodies: that names no provider.
  const type = fields.remoteType ?? (fields.type !== 'remoteAccount' ? fields.type : undefined) ?? 'github';
  if (fields.accessToken !== undefined) return { type, accessToken: fields.accessToken };
  if (fields.code !== undefined)
    return { type, code: fields.code, ...(fields.redirectUrl ? { redirectUrl: fields.redirectUrl } : {}) };
  throw new Invalid('MissingRequired', 'accessToken (or an OAuth code) is required', {
    field: 'accessToken',
  });
}

function accountView(request: FastifyRequest, deps: RancherDeps, account: RemoteAccount) {
  const root = apiRoot(request, deps.publicUrl);
  const self = `${root}/remoteaccounts/${encodeURIComponent(account.name)}`;
  return resource(
    'remoteAccount',
    self,
    {
      id: account.name,
      name: account.name,
      created: normanTime(account.createdAt),
      createdTS: account.createdAt,
      creatorId: account.userName,
      state: 'active',
      // The spec's fields, flattened as Norman does; its `type` is `remoteType` beside Norman's own `type`.
      // `accessToken` is write-only: left out.
      displayName: account.displayName,
      remoteType: account.type,
      userId: account.userId,
      userName: account.userName,
      login: account.login,
      accountName: account.login,
      avatarUrl: account.avatarUrl,
      htmlUrl: account.htmlUrl,
      status: { updated: normanTime(account.updatedAt) },
    },
    {
      remove: true,
      actions: ['refreshrepos'],
      links: { gitrepocache: `${root}/gitrepocaches/${encodeURIComponent(account.name)}` },
    },
  );
}

function cacheView(request: FastifyRequest, deps: RancherDeps, cache: GitRepoCache) {
  const root = apiRoot(request, deps.publicUrl);
  return resource(
    'gitRepoCache',
    `${root}/gitrepocaches/${encodeURIComponent(cache.remoteAccountName)}`,
    {
      id: cache.remoteAccountName,
      name: cache.remoteAccountName,
      created: normanTime(cache.refreshedAt),
      createdTS: cache.refreshedAt,
      creatorId: cache.userName,
      remoteType: cache.type,
      userId: cache.userId,
      remoteAccountName: cache.remoteAccountName,
      repositories: cache.repositories,
      status: { refreshed: normanTime(cache.refreshedAt), repositoryCount: cache.repositories.length },
    },
    { links: { remoteAccount: `${root}/remoteaccounts/${encodeURIComponent(cache.remoteAccountName)}` } },
  );
}
