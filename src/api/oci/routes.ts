import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Invalid, TooLarge } from '../../platform/errors.js';
import { subjectName, type RegistryTokens, type Subject } from '../../identity/index.js';
import type { EventBus } from '../../platform/events.js';
import {
  referrersIndexMediaType,
  type BlobsService,
  type ManifestsService,
  type RepositoriesService,
  type UploadsService,
  validateRepositoryName,
} from '../../registry/index.js';
import { authorize, challengeHeader, ChallengeError, type Need } from './registry-auth.js';
import { parseContentRange, parseRangeHeader } from './http-ranges.js';
import { toOciError, sendOciError } from './oci-errors.js';
import { registerTokenRoute, type TokenRouteDeps } from './token.route.js';

export interface OciDeps extends TokenRouteDeps {
  uploads: UploadsService;
  blobs: BlobsService;
  manifests: ManifestsService;
  repositories: RepositoriesService;
  tokens: RegistryTokens;
  events: EventBus;
  publicUrl?: string;
}

type Request = FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>;

/** One path shape of /v2/<name>/...: the name is greedy, as repository names contain slashes. */
const routes: Array<{ pattern: RegExp; endpoint: Endpoint }> = [
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, endpoint: 'uploads' },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, endpoint: 'upload' },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, endpoint: 'blob' },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, endpoint: 'manifest' },
  { pattern: /^\/v2\/(.+)\/tags\/list$/, endpoint: 'tags' },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, endpoint: 'referrers' },
];
type Endpoint = 'uploads' | 'upload' | 'blob' | 'manifest' | 'tags' | 'referrers';

const apiVersionHeader = { 'docker-distribution-api-version': 'registry/2.0' };
const maxPageSize = 10_000;
const defaultCatalogPage = 1000;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function pageSize(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value))
    throw new Invalid('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: value });
  return Math.min(Number(value), maxPageSize);
}

/** Reads a request body up to `limit` bytes; past it, TooLarge. */
async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(raw.headers['content-length'] ?? 0);
  const tooLarge = () => new TooLarge('SIZE_INVALID', `manifest is larger than ${limit} bytes`, { limit });
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** True when the request carries a body to stream (a length above zero, or chunked encoding). */
const hasBody = (raw: IncomingMessage) =>
  raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;

/** The OCI Distribution API (`/v2/`): thin handlers over the registry services. */
export async function ociRoutes(app: FastifyInstance, deps: OciDeps): Promise<void> {
  // Blob bodies are streamed by the handlers themselves; no parser may consume them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.addHook('onSend', async (_request, reply) => {
    reply.headers(apiVersionHeader);
  });

  app.setErrorHandler((err, request, reply) => {
    const realm = deps.publicUrl ?? `${request.protocol}://${request.headers.host ?? 'localhost'}`;
    if (err instanceof ChallengeError)
      reply.header('www-authenticate', challengeHeader(realm, deps.tokens.serviceName, err));
    const mapped = toOciError(err);
    if (mapped) {
      if (mapped.status === 416 && typeof (err as { detail?: { size?: number } }).detail?.size === 'number') {
        reply.header('content-range', `bytes */${(err as { detail: { size: number } }).detail.size}`);
      }
      return reply.code(mapped.status).type('application/json').send(mapped.body);
    }
    if ((err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500) {
      return sendOciError(
        reply,
        (err as { statusCode: number }).statusCode,
        'UNSUPPORTED',
        err instanceof Error ? err.message : 'bad request',
      );
    }
    request.log.error({ err }, 'request failed');
    return sendOciError(reply, 500, 'UNKNOWN', 'internal error');
  });

  await app.register(async (scope) => {
    await scope.register(import('@fastify/formbody'));
    registerTokenRoute(scope, deps);
  });

  app.get('/v2/', async (request, reply) => {
    await authorize(deps.tokens, request);
    return reply.type('application/json').send('{}');
  });

  app.get('/v2/_catalog', async (request: Request, reply) => {
    const subject = await authorize(deps.tokens, request, {
      type: 'registry',
      name: 'catalog',
      action: '*',
      challengeActions: '*',
    });
    const limit = pageSize(single(request.query.n), defaultCatalogPage)!;
    const last = single(request.query.last);
    const names = limit === 0 ? [] : await deps.repositories.list(subject, { last, limit: limit + 1 });
    const more = names.length > limit;
    const repositories = more ? names.slice(0, limit) : names;
    if (more)
      reply.header(
        'link',
        `</v2/_catalog?last=${encodeURIComponent(repositories.at(-1)!)}&n=${limit}>; rel="next"`,
      );
    return reply.send({ repositories });
  });

  app.route({
    method: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
    url: '/v2/*',
    handler: async (request: Request, reply) => {
      const path = request.url.split('?', 1)[0]!;
      for (const { pattern, endpoint } of routes) {
        const match = pattern.exec(path);
        if (!match) continue;
        const name = validateRepositoryName(match[1]!);
        return handlers[endpoint](request, reply, name, match[2] ?? '');
      }
      return sendOciError(reply, 404, 'NAME_UNKNOWN', 'unknown endpoint', { path });
    },
  });

  const need = (name: string, action: 'pull' | 'push' | 'delete'): Need => ({
    type: 'repository',
    name,
    action,
    challengeActions: action === 'pull' ? 'pull' : action === 'push' ? 'pull,push' : 'delete',
  });
  const allowed = (request: Request, name: string, action: 'pull' | 'push' | 'delete'): Promise<Subject> =>
    authorize(deps.tokens, request, need(name, action));
  const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
  const uploadProgress = (reply: FastifyReply, name: string, id: string, size: number, status = 202) =>
    reply
      .code(status)
      .header('location', uploadLocation(name, id))
      .header('range', `0-${Math.max(size - 1, 0)}`)
      .header('docker-upload-uuid', id)
      .header('content-length', '0')
      .send();
  const blobCreated = (reply: FastifyReply, name: string, digest: string) =>
    reply
      .code(201)
      .header('location', `/v2/${name}/blobs/${digest}`)
      .header('docker-content-digest', digest)
      .header('content-length', '0')
      .send();

  const handlers: Record<
    Endpoint,
    (request: Request, reply: FastifyReply, name: string, arg: string) => Promise<FastifyReply>
  > = {
    async uploads(request, reply, name) {
      if (request.method !== 'POST') return methodNotAllowed(reply);
      const subject = await allowed(request, name, 'push');
      const mount = single(request.query.mount);
      const digest = single(request.query.digest);
      if (mount !== undefined) {
        const from = single(request.query.from);
        if (from !== undefined) validateRepositoryName(from);
        if (await deps.blobs.mount(name, mount, subject, from)) return blobCreated(reply, name, mount);
      }
      const upload = await deps.uploads.start(name, subject);
      if (digest !== undefined) {
        await deps.uploads.finish(name, upload.id, digest, request.raw);
        return blobCreated(reply, name, digest);
      }
      if (hasBody(request.raw)) request.raw.resume();
      return uploadProgress(reply, name, upload.id, 0);
    },

    async upload(request, reply, name, id) {
      await allowed(request, name, 'push');
      switch (request.method) {
        case 'GET': {
          const { size } = await deps.uploads.status(name, id);
          return uploadProgress(reply, name, id, size, 204);
        }
        case 'PATCH': {
          const range = parseContentRange(request.headers['content-range']);
          const { size } = await deps.uploads.append(name, id, request.raw, range);
          return uploadProgress(reply, name, id, size);
        }
        case 'PUT': {
          const digest = single(request.query.digest);
          if (digest === undefined)
            throw new Invalid('DIGEST_INVALID', 'the digest query parameter is required');
          const range = parseContentRange(request.headers['content-range']);
          const body = hasBody(request.raw) ? request.raw : undefined;
          await deps.uploads.finish(name, id, digest, body, range);
          return blobCreated(reply, name, digest);
        }
        case 'DELETE':
          await deps.uploads.cancel(name, id);
          return reply.code(204).send();
        default:
          return methodNotAllowed(reply);
      }
    },

    async blob(request, reply, name, digest) {
      if (request.method === 'DELETE') {
        const subject = await allowed(request, name, 'delete');
        await deps.blobs.delete(name, digest, subject);
        return reply.code(202).header('content-length', '0').send();
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed(reply);
      await allowed(request, name, 'pull');
      const blobHeaders = () =>
        reply
          .type('application/octet-stream')
          .header('docker-content-digest', digest)
          .header('etag', `"${digest}"`)
          .header('accept-ranges', 'bytes');
      if (request.method === 'HEAD') {
        const { size } = await deps.blobs.stat(name, digest);
        return blobHeaders().header('content-length', String(size)).send();
      }
      const blob = await deps.blobs.open(name, digest, parseRangeHeader(request.headers.range));
      blobHeaders();
      if (blob.range) {
        reply.code(206).header('content-range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`);
        reply.header('content-length', String(blob.range.end - blob.range.start + 1));
      } else {
        reply.header('content-length', String(blob.size));
      }
      return reply.send(blob.stream);
    },

    async manifest(request, reply, name, reference) {
      switch (request.method) {
        case 'GET':
        case 'HEAD': {
          const subject = await allowed(request, name, 'pull');
          const manifest = await deps.manifests.get(name, reference, request.method === 'GET', subject);
          // A pull is a GET of a manifest; the usage log records it off the request path.
          if (request.method === 'GET') {
            deps.events.emit({
              type: 'manifest.pulled',
              repository: name,
              reference,
              digest: manifest.digest,
              actor: subjectName(subject),
            });
          }
          reply
            .type(manifest.mediaType)
            .header('docker-content-digest', manifest.digest)
            .header('etag', `"${manifest.digest}"`)
            .header('content-length', String(manifest.size));
          return reply.send(request.method === 'GET' ? Buffer.from(manifest.bytes!) : undefined);
        }
        case 'PUT': {
          const subject = await allowed(request, name, 'push');
          const bytes = await readBody(request.raw, deps.manifests.maxManifestBytes);
          const result = await deps.manifests.put(
            name,
            reference,
            bytes,
            request.headers['content-type'],
            subject,
          );
          if (result.subject) reply.header('oci-subject', result.subject);
          return reply
            .code(201)
            .header('location', `/v2/${name}/manifests/${result.digest}`)
            .header('docker-content-digest', result.digest)
            .header('content-length', '0')
            .send();
        }
        case 'DELETE': {
          const subject = await allowed(request, name, 'delete');
          await deps.manifests.delete(name, reference, subject);
          return reply.code(202).header('content-length', '0').send();
        }
        default:
          return methodNotAllowed(reply);
      }
    },

    async tags(request, reply, name) {
      if (request.method !== 'GET') return methodNotAllowed(reply);
      await allowed(request, name, 'pull');
      const limit = pageSize(single(request.query.n), undefined);
      const { tags, more } = await deps.manifests.tags(name, { last: single(request.query.last), limit });
      if (more)
        reply.header(
          'link',
          `</v2/${name}/tags/list?last=${encodeURIComponent(tags.at(-1)!)}&n=${limit}>; rel="next"`,
        );
      return reply.send({ name, tags });
    },

    async referrers(request, reply, name, digest) {
      if (request.method !== 'GET') return methodNotAllowed(reply);
      await allowed(request, name, 'pull');
      const artifactType = single(request.query.artifactType);
      const manifests = await deps.manifests.referrers(name, digest, artifactType);
      if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
      // A Buffer, not a string: Fastify appends "; charset=utf-8" to string bodies, and the spec wants the bare media type.
      const body = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: referrersIndexMediaType, manifests }),
      );
      return reply.type(referrersIndexMediaType).send(body);
    },
  };
}

function methodNotAllowed(reply: FastifyReply): FastifyReply {
  return sendOciError(reply, 405, 'UNSUPPORTED', 'the operation is unsupported');
}
