import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Invalid } from '../../platform/errors.js';
import type { TagView } from '../../registry/index.js';
import { refuse } from './access.js';
import type { QuayDeps } from './plugin.js';
import { repositoryQuotaReports } from './quota.views.js';
import { epochSeconds, formatDate } from './views.js';

/** `{repository}` = `namespace/name`, as two path segments. */
export const repositoryParams = Type.Object({ namespace: Type.String(), repository: Type.String() });
export const repositoryPath = '/repository/:namespace/:repository';
export const repositoryName = (p: { namespace: string; repository: string }) =>
  `${p.namespace}/${p.repository}`;

/** Quay's `truthy_bool`: anything but false, "false", "False", "FALSE", "0", "" and "null" is true. */
export const truthy = (value: string | undefined, fallback = false): boolean =>
  value === undefined ? fallback : !['false', 'False', 'FALSE', '0', '', 'null'].includes(value);

const pageSize = 100;
/** `next_page` is opaque to clients: the last name of the page, base64url-encoded; an unreadable token starts over. */
const encodePageToken = (after: string) => Buffer.from(JSON.stringify({ a: after })).toString('base64url');
function decodePageToken(token: string | undefined): string | undefined {
  if (!token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    return typeof parsed.a === 'string' ? parsed.a : undefined;
  } catch {
    return undefined;
  }
}

/** The `tags` map of `GET /repository/{repository}` (repository_models_interface.py `Tag.to_dict`). */
function repositoryTag(tag: TagView) {
  return {
    name: tag.name,
    size: tag.size,
    ...(tag.start > 0 ? { last_modified: formatDate(tag.start) } : {}),
    ...(tag.end !== null ? { expiration: formatDate(tag.end) } : {}),
    manifest_digest: tag.manifestDigest,
  };
}

/** Quay's per-day action counts for the last 91 days; without counts of our own, every day is 0. */
function emptyStats(now: number) {
  return Array.from({ length: 91 }, (_, i) => ({
    date: new Date(now - (i + 1) * 86_400_000).toISOString().slice(0, 10),
    count: 0,
  }));
}

const visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);
const security = (scope: string) => [{ oauth2_implicit: [scope] }];

/** Repositories: create, list, get, update, delete, visibility and state (Quay `endpoints/api/repository.py`). */
export async function repositoryRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/repository',
    {
      schema: {
        tags: ['repository'],
        operationId: 'createRepo',
        summary: 'Create a new repository.',
        security: security('repo:create'),
        body: Type.Object({
          repository: Type.String(),
          visibility,
          description: Type.String(),
          namespace: Type.Optional(Type.String()),
          repo_kind: Type.Optional(Type.Union([Type.Literal('image'), Type.Null()])),
        }),
      },
    },
    async (request, reply) => {
      const { subject } = request;
      if (subject.kind !== 'user') refuse(subject);
      const namespace = request.body.namespace ?? subject.name;
      if (!(await deps.access.canCreateRepository(subject, namespace))) refuse(subject);
      const repo = await deps.repositoryAdmin.create(subject, {
        namespace,
        name: request.body.repository,
        visibility: request.body.visibility,
        description: request.body.description,
      });
      return reply
        .code(201)
        .send({ namespace: repo.namespace, name: request.body.repository, kind: repo.kind });
    },
  );

  app.get(
    '/repository',
    {
      schema: {
        tags: ['repository'],
        operationId: 'listRepos',
        summary: 'Fetch the list of repositories visible to the current user under a variety of situations.',
        security: security('repo:read'),
        querystring: Type.Object({
          namespace: Type.Optional(Type.String()),
          starred: Type.Optional(Type.String()),
          public: Type.Optional(Type.String()),
          last_modified: Type.Optional(Type.String()),
          popularity: Type.Optional(Type.String()),
          repo_kind: Type.Optional(Type.String()),
          next_page: Type.Optional(Type.String()),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      const starred = truthy(q.starred);
      const includePublic = truthy(q.public);
      if (!q.namespace && !starred && !includePublic)
        throw new Invalid('MISSING_FILTER', 'namespace, starred or public are required for this API call', {
          field: 'namespace',
        });
      if (starred && request.subject.kind === 'anonymous')
        throw new Invalid('STARRED_NEEDS_USER', 'starred needs a signed-in user', { field: 'starred' });
      const lastModified = truthy(q.last_modified);
      const popularity = truthy(q.popularity);
      const page = await deps.repositoryAdmin.list(request.subject, {
        namespace: q.namespace || undefined,
        includePublic,
        starred,
        kind: q.repo_kind || 'image',
        lastModified,
        after: decodePageToken(q.next_page),
        limit: pageSize,
      });
      const signedIn = request.subject.kind === 'user';
      const quotaReports = await repositoryQuotaReports(deps, page.repositories);
      return {
        repositories: page.repositories.map((repo) => ({
          namespace: repo.namespace,
          name: repo.name.slice(repo.namespace.length + 1),
          description: repo.description,
          is_public: repo.visibility === 'public',
          kind: repo.kind,
          state: repo.state,
          ...(lastModified
            ? { last_modified: repo.lastModified == null ? null : epochSeconds(repo.lastModified) }
            : {}),
          ...(popularity ? { popularity: 0 } : {}),
          ...(signedIn ? { is_starred: repo.starred } : {}),
          quota_report: quotaReports.get(repo.id),
        })),
        ...(page.nextAfter ? { next_page: encodePageToken(page.nextAfter) } : {}),
      };
    },
  );

  app.get(
    repositoryPath,
    {
      schema: {
        tags: ['repository'],
        operationId: 'getRepo',
        summary: 'Fetch the specified repository.',
        security: security('repo:read'),
        params: repositoryParams,
        querystring: Type.Object({
          includeStats: Type.Optional(Type.String()),
          includeTags: Type.Optional(Type.String()),
        }),
      },
    },
    async (request) => {
      const { repo, role } = await deps.access.repositoryWithRole(
        request.subject,
        repositoryName(request.params),
        'read',
      );
      const includeTags = truthy(request.query.includeTags, true);
      const details = await deps.repositoryAdmin.describe(repo, request.subject, { includeTags });
      return {
        namespace: repo.namespace,
        name: request.params.repository,
        kind: repo.kind,
        description: repo.description,
        is_public: repo.visibility === 'public',
        is_organization: details.isOrganization,
        is_starred: details.starred,
        status_token: '',
        trust_enabled: false,
        tag_expiration_s: details.tagExpirationSeconds,
        is_free_account: true,
        state: repo.state,
        ...(details.tags
          ? { tags: Object.fromEntries(details.tags.map((t) => [t.name, repositoryTag(t)])) }
          : {}),
        can_write: (role === 'write' || role === 'admin') && repo.state === 'NORMAL',
        can_admin: role === 'admin',
        ...(truthy(request.query.includeStats) ? { stats: emptyStats(Date.now()) } : {}),
      };
    },
  );

  app.put(
    repositoryPath,
    {
      schema: {
        tags: ['repository'],
        operationId: 'updateRepo',
        summary: 'Update the description in the specified repository.',
        security: security('repo:write'),
        params: repositoryParams,
        body: Type.Object({ description: Type.String() }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'write');
      await deps.repositoryAdmin.setDescription(repo, request.body.description, request.subject);
      return { success: true };
    },
  );

  app.delete(
    repositoryPath,
    {
      schema: {
        tags: ['repository'],
        operationId: 'deleteRepository',
        summary: 'Delete a repository.',
        security: security('repo:admin'),
        params: repositoryParams,
      },
    },
    async (request, reply) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'admin');
      await deps.repositoryAdmin.delete(repo, request.subject);
      return reply.code(204).send();
    },
  );

  app.post(
    `${repositoryPath}/changevisibility`,
    {
      schema: {
        tags: ['repository'],
        operationId: 'changeRepoVisibility',
        summary: 'Change the visibility of a repository.',
        security: security('repo:admin'),
        params: repositoryParams,
        body: Type.Object({ visibility }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'admin');
      await deps.repositoryAdmin.setVisibility(repo, request.body.visibility, request.subject);
      return { success: true };
    },
  );

  app.put(
    `${repositoryPath}/changestate`,
    {
      schema: {
        tags: ['repository'],
        operationId: 'changeRepoState',
        summary: 'Change the state of a repository.',
        security: security('repo:admin'),
        params: repositoryParams,
        body: Type.Object({
          state: Type.Union([Type.Literal('NORMAL'), Type.Literal('READ_ONLY'), Type.Literal('MIRROR')]),
        }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'admin');
      await deps.repositoryAdmin.setState(repo, request.body.state, request.subject);
      return { success: true };
    },
  );
}
