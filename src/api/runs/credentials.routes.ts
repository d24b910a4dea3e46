/**
 * Secrets and stored credentials of a namespace's pipelines in Slipway's native API (`/api/slipway/v1`):
 *
 * - `GET /namespaces/{ns}/secrets`, `PUT|DELETE /namespaces/{ns}/secrets/{name}` (PUT `{data: {key: value}}`)
 * - `GET /namespaces/{ns}/git-credentials`, `PUT|DELETE .../git-credentials/{name}` (PUT `{kind, username?,
 *   secret}`), `POST .../git-credentials/{name}/ssh-key` (a new ed25519 key; answers its public key)
 * - `GET /namespaces/{ns}/registry-credentials`, `PUT|DELETE .../registry-credentials/{name}` (PUT `{host,
 *   username, password}`)
 *
 * No answer ever holds a secret value, password or private key. Only who administers the namespace may use
 * these routes (`Policy.canAdministerNamespace`); a namespace the caller may not read answers 404 as a missing
 * one does, one it may read but not administer 403. Errors are the native `{error: {code, message}}`.
 */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Subject } from '../../identity/index.js';
import { Denied, NotFound } from '../../platform/errors.js';
import {
  GIT_CREDENTIAL_KINDS,
  type GitCredentialInfo,
  type RegistryCredentialInfo,
  type RunSecretInfo,
} from '../../runs/credentials/index.js';
import type { Services } from '../../services.js';
import { nativeApi } from './native-api.js';

export type CredentialsRoutesDeps = Pick<
  Services,
  'credentials' | 'identity' | 'policy' | 'runSecrets' | 'sourceCredentials' | 'registryCredentials'
>;

const Namespace = Type.String({ minLength: 1, maxLength: 255 });
const Name = Type.String({ minLength: 1, maxLength: 64 });
const NamespaceParams = Type.Object({ ns: Namespace });
const NamedParams = Type.Object({ ns: Namespace, name: Name });
const SecretBody = Type.Object(
  { data: Type.Record(Type.String(), Type.String({ maxLength: 64 * 1024 })) },
  { additionalProperties: false },
);
const GitCredentialBody = Type.Object(
  {
    kind: Type.Union(GIT_CREDENTIAL_KINDS.map((k) => Type.Literal(k))),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    secret: Type.String({ minLength: 1, maxLength: 16 * 1024 }),
  },
  { additionalProperties: false },
);
const RegistryCredentialBody = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 255 }),
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.String({ minLength: 1, maxLength: 16 * 1024 }),
  },
  { additionalProperties: false },
);

const time = (ms: number) => new Date(ms).toISOString();

function secretJson(info: RunSecretInfo) {
  return {
    name: info.name,
    keys: info.keys,
    created_at: time(info.createdAt),
    updated_at: time(info.updatedAt),
  };
}

function registryCredentialJson(info: RegistryCredentialInfo) {
  return {
    name: info.name,
    host: info.host,
    username: info.username,
    created_at: time(info.createdAt),
    updated_at: time(info.updatedAt),
  };
}

function gitCredentialJson(info: GitCredentialInfo) {
  return {
    name: info.name,
    kind: info.kind,
    ...(info.username !== undefined ? { username: info.username } : {}),
    ...(info.publicKey !== undefined ? { public_key: info.publicKey } : {}),
    created_at: time(info.createdAt),
    updated_at: time(info.updatedAt),
  };
}

export const credentialsRoutes: FastifyPluginAsyncTypebox<CredentialsRoutesDeps> = async (app, deps) => {
  await nativeApi(app, deps);

  /** Returns the acting user's name; NotFound for a namespace the subject may not read or that does not exist. */
  const requireAdmin = async (subject: Subject, namespace: string): Promise<string | undefined> => {
    if (!(await deps.policy.canAdministerNamespace(subject, namespace))) {
      if (!(await deps.policy.canReadNamespace(subject, namespace))) throw namespaceNotFound(namespace);
      throw new Denied('DENIED', `not allowed to administer the secrets and credentials of ${namespace}`);
    }
    // Superusers administer every name: only existing namespaces have secrets.
    if (!(await deps.identity.findNamespace(namespace))) throw namespaceNotFound(namespace);
    return subject.kind === 'anonymous' ? undefined : subject.name;
  };

  app.get('/namespaces/:ns/secrets', { schema: { params: NamespaceParams } }, async (request) => {
    const { ns } = request.params;
    await requireAdmin(request.subject, ns);
    return { secrets: (await deps.runSecrets.list(ns)).map(secretJson) };
  });

  app.put(
    '/namespaces/:ns/secrets/:name',
    { schema: { params: NamedParams, body: SecretBody } },
    async (request) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      return secretJson(await deps.runSecrets.put(ns, name, request.body.data, actor));
    },
  );

  app.delete('/namespaces/:ns/secrets/:name', { schema: { params: NamedParams } }, async (request, reply) => {
    const { ns, name } = request.params;
    const actor = await requireAdmin(request.subject, ns);
    await deps.runSecrets.delete(ns, name, actor);
    return reply.code(204).send();
  });

  app.get('/namespaces/:ns/git-credentials', { schema: { params: NamespaceParams } }, async (request) => {
    const { ns } = request.params;
    await requireAdmin(request.subject, ns);
    return { credentials: (await deps.sourceCredentials.list(ns)).map(gitCredentialJson) };
  });

  app.put(
    '/namespaces/:ns/git-credentials/:name',
    { schema: { params: NamedParams, body: GitCredentialBody } },
    async (request) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      const { kind, username, secret } = request.body;
      return gitCredentialJson(
        await deps.sourceCredentials.put(
          ns,
          name,
          { kind, secret, ...(username !== undefined ? { username } : {}) },
          actor,
        ),
      );
    },
  );

  app.delete(
    '/namespaces/:ns/git-credentials/:name',
    { schema: { params: NamedParams } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      await deps.sourceCredentials.delete(ns, name, actor);
      return reply.code(204).send();
    },
  );

  app.post(
    '/namespaces/:ns/git-credentials/:name/ssh-key',
    { schema: { params: NamedParams } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      await deps.sourceCredentials.generateSshKey(ns, name, actor);
      return reply.code(201).send(gitCredentialJson(await deps.sourceCredentials.get(ns, name)));
    },
  );

  app.get(
    '/namespaces/:ns/registry-credentials',
    { schema: { params: NamespaceParams } },
    async (request) => {
      const { ns } = request.params;
      await requireAdmin(request.subject, ns);
      return { credentials: (await deps.registryCredentials.list(ns)).map(registryCredentialJson) };
    },
  );

  app.put(
    '/namespaces/:ns/registry-credentials/:name',
    { schema: { params: NamedParams, body: RegistryCredentialBody } },
    async (request) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      return registryCredentialJson(await deps.registryCredentials.put(ns, name, request.body, actor));
    },
  );

  app.delete(
    '/namespaces/:ns/registry-credentials/:name',
    { schema: { params: NamedParams } },
    async (request, reply) => {
      const { ns, name } = request.params;
      const actor = await requireAdmin(request.subject, ns);
      await deps.registryCredentials.delete(ns, name, actor);
      return reply.code(204).send();
    },
  );
};

const namespaceNotFound = (namespace: string) =>
  new NotFound('NAMESPACE_NOT_FOUND', `namespace ${namespace} not found`);
