import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TagChanges, TagView } from '../../registry/index.js';
import type { QuayDeps } from './plugin.js';
import { repositoryName, repositoryParams, repositoryPath, truthy } from './repository.routes.js';
import { epochSeconds, formatDate } from './views.js';

/**
 * `type: [T, "null"]` as Quay's JSON schemas say it: with type coercion on, an `anyOf` would turn
 * `null` into `0` or `""` before matching.
 */
const nullable = <T>(type: 'string' | 'number') => Type.Unsafe<T | null>({ type: [type, 'null'] });
const tagParams = Type.Composite([repositoryParams, Type.Object({ tag: Type.String() })]);
const security = (scope: string) => [{ oauth2_implicit: [scope] }];

/** Quay's `_tag_dict` (endpoints/api/tag.py), keys in its order. */
function tagView(tag: TagView) {
  const start = epochSeconds(tag.start);
  const end = tag.end === null ? null : epochSeconds(tag.end);
  const children = tag.children ? Object.values(tag.children) : undefined;
  return {
    name: tag.name,
    reversion: tag.reversion,
    immutable: tag.immutable,
    ...(start > 0 ? { start_ts: start } : {}),
    ...(end !== null && end > 0 ? { end_ts: end } : {}),
    manifest_digest: tag.manifestDigest,
    is_manifest_list: tag.isManifestList,
    size: tag.size,
    ...(start > 0 ? { last_modified: formatDate(tag.start) } : {}),
    ...(tag.end !== null ? { expiration: formatDate(tag.end) } : {}),
    ...(children
      ? {
          is_sparse: children.some((present) => !present),
          child_manifest_count: children.length,
          present_child_count: children.filter(Boolean).length,
          child_manifests_presence: tag.children,
        }
      : {}),
  };
}

/** Tags: history, create or move, delete, restore, expiration (Quay `endpoints/api/tag.py`). */
export async function tagRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    `${repositoryPath}/tag/`,
    {
      schema: {
        tags: ['tag'],
        operationId: 'listRepoTags',
        summary: 'List the tag history of a repository, alive and dead.',
        security: security('repo:read'),
        params: repositoryParams,
        querystring: Type.Object({
          specificTag: Type.Optional(Type.String()),
          filter_tag_name: Type.Optional(Type.String()),
          limit: Type.Optional(Type.Integer()),
          page: Type.Optional(Type.Integer()),
          onlyActiveTags: Type.Optional(Type.String()),
        }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'read');
      const q = request.query;
      const page = Math.max(1, q.page ?? 1);
      const limit = Math.min(100, Math.max(1, q.limit ?? 50));
      const result = await deps.tags.history(repo, {
        page,
        limit,
        specificTag: q.specificTag || undefined,
        filter: q.filter_tag_name || undefined,
        activeOnly: truthy(q.onlyActiveTags),
      });
      return { tags: result.tags.map(tagView), page, has_additional: result.hasAdditional };
    },
  );

  app.put(
    `${repositoryPath}/tag/:tag`,
    {
      schema: {
        tags: ['tag'],
        operationId: 'changeTag',
        summary: 'Change which image a tag points to or create a new tag.',
        security: security('repo:write'),
        params: tagParams,
        body: Type.Object({
          manifest_digest: Type.Optional(nullable<string>('string')),
          expiration: Type.Optional(nullable<number>('number')),
          immutable: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request, reply) => {
      const { repo, role } = await deps.access.repositoryWithRole(
        request.subject,
        repositoryName(request.params),
        'write',
      );
      const body = request.body;
      const changes: TagChanges = {
        ...('expiration' in body ? { expiration: body.expiration ?? null } : {}),
        ...(body.immutable !== undefined ? { immutable: body.immutable } : {}),
        ...('manifest_digest' in body ? { manifestDigest: body.manifest_digest ?? null } : {}),
      };
      await deps.tags.change(repo, request.params.tag, changes, request.subject, role === 'admin');
      return reply.code(201).type('application/json').send(JSON.stringify('Updated'));
    },
  );

  app.delete(
    `${repositoryPath}/tag/:tag`,
    {
      schema: {
        tags: ['tag'],
        operationId: 'deleteFullTag',
        summary: 'Delete the specified repository tag.',
        security: security('repo:write'),
        params: tagParams,
      },
    },
    async (request, reply) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'write');
      await deps.tags.delete(repo, request.params.tag, request.subject);
      return reply.code(204).send();
    },
  );

  app.post(
    `${repositoryPath}/tag/:tag/restore`,
    {
      schema: {
        tags: ['tag'],
        operationId: 'restoreTag',
        summary: 'Restores a repository tag back to a previous image in the repository.',
        security: security('repo:write'),
        params: tagParams,
        body: Type.Object({ manifest_digest: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'write');
      await deps.tags.restore(repo, request.params.tag, request.body.manifest_digest, request.subject);
      return {};
    },
  );

  app.post(
    `${repositoryPath}/tag/:tag/expire`,
    {
      schema: {
        tags: ['tag'],
        operationId: 'removeTagFromTimemachine',
        summary:
          'Updates any expired tags with the matching name and manifest with an expiry outside the time machine window.',
        security: security('repo:write'),
        params: tagParams,
        body: Type.Object({
          manifest_digest: Type.Optional(Type.String()),
          include_submanifests: Type.Optional(Type.Boolean()),
          is_alive: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request, reply) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'write');
      await deps.tags.expire(
        repo,
        request.params.tag,
        { manifestDigest: request.body.manifest_digest, isAlive: request.body.is_alive },
        request.subject,
      );
      return reply.code(200).type('application/json').send(JSON.stringify(''));
    },
  );
}
