import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { labelMediaTypes, type Label, type LayerInfo } from '../../registry/index.js';
import type { QuayDeps } from './plugin.js';
import { repositoryName, repositoryParams, repositoryPath } from './repository.routes.js';
import { formatDate } from './views.js';

const manifestParams = Type.Composite([repositoryParams, Type.Object({ manifestref: Type.String() })]);
const labelParams = Type.Composite([manifestParams, Type.Object({ labelid: Type.String() })]);
const manifestPath = `${repositoryPath}/manifest/:manifestref`;
const security = (scope: string) => [{ oauth2_implicit: [scope] }];

/**
 * What `/security` answers for a manifest this installation holds. Slipway has no security
 * scanner yet; Quay reports a manifest its scanner cannot index as `unsupported`, which clients
 * (the Quay UI, container-security-operator) show as "no data" rather than as an error.
 */
const noScanner = { status: 'unsupported', data: null } as const;

const labelView = (label: Label) => ({
  id: label.id,
  key: label.key,
  value: label.value,
  source_type: label.sourceType,
  media_type: label.mediaType,
});

/** Quay's `_layer_dict`. */
const layerView = (layer: LayerInfo) => ({
  index: layer.index,
  compressed_size: layer.compressedSize,
  is_remote: layer.isRemote,
  urls: layer.urls,
  command: layer.command,
  comment: layer.comment,
  author: layer.author,
  blob_digest: layer.blobDigest,
  created_datetime: formatDate(layer.created),
});

/** Manifests, their labels and their security status (Quay `manifest.py`, `secscan.py`). */
export async function manifestRoutes(scope: FastifyInstance, deps: QuayDeps): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    manifestPath,
    {
      schema: {
        tags: ['manifest'],
        operationId: 'getRepoManifest',
        summary: 'Fetch a manifest of a repository: its bytes, configuration type and layers.',
        security: security('repo:read'),
        params: manifestParams,
        querystring: Type.Object({ include_modelcard: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const name = repositoryName(request.params);
      await deps.access.repository(request.subject, name, 'read');
      const manifest = await deps.manifestDetails.describe(name, request.params.manifestref);
      return {
        digest: manifest.digest,
        is_manifest_list: manifest.isManifestList,
        manifest_data: Buffer.from(manifest.bytes).toString('utf8'),
        config_media_type: manifest.configMediaType,
        layers_compressed_size: manifest.layersSize,
        layers: manifest.layers?.map(layerView) ?? null,
      };
    },
  );

  app.get(
    `${manifestPath}/labels`,
    {
      schema: {
        tags: ['manifest'],
        operationId: 'listManifestLabels',
        summary: 'List the labels of a manifest.',
        security: security('repo:read'),
        params: manifestParams,
        querystring: Type.Object({ filter: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'read');
      const labels = await deps.labels.list(
        repo,
        request.params.manifestref,
        request.query.filter || undefined,
      );
      return { labels: labels.map(labelView) };
    },
  );

  app.post(
    `${manifestPath}/labels`,
    {
      schema: {
        tags: ['manifest'],
        operationId: 'addManifestLabel',
        summary: 'Adds a new label into the tag manifest.',
        security: security('repo:write'),
        params: manifestParams,
        body: Type.Object({
          key: Type.String(),
          value: Type.String(),
          // `type: [string, null]` rather than anyOf, so that type coercion does not turn null into "".
          media_type: Type.Unsafe<(typeof labelMediaTypes)[number] | null>({
            type: ['string', 'null'],
            enum: [...labelMediaTypes, null],
          }),
        }),
      },
    },
    async (request, reply) => {
      const name = repositoryName(request.params);
      const repo = await deps.access.repository(request.subject, name, 'write');
      const { manifestref } = request.params;
      const label = await deps.labels.add(
        repo,
        manifestref,
        { key: request.body.key, value: request.body.value, mediaType: request.body.media_type },
        request.subject,
      );
      return reply
        .code(201)
        .header('location', `/api/v1/repository/${name}/manifest/${manifestref}/labels/${label.id}`)
        .send({ label: labelView(label) });
    },
  );

  app.get(
    `${manifestPath}/labels/:labelid`,
    {
      schema: {
        tags: ['manifest'],
        operationId: 'getManifestLabel',
        summary: 'Retrieves the label with the specific ID under the manifest.',
        security: security('repo:read'),
        params: labelParams,
      },
    },
    async (request) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'read');
      return labelView(await deps.labels.get(repo, request.params.manifestref, request.params.labelid));
    },
  );

  app.delete(
    `${manifestPath}/labels/:labelid`,
    {
      schema: {
        tags: ['manifest'],
        operationId: 'deleteManifestLabel',
        summary: 'Deletes an existing label from a manifest.',
        security: security('repo:write'),
        params: labelParams,
      },
    },
    async (request, reply) => {
      const repo = await deps.access.repository(request.subject, repositoryName(request.params), 'write');
      await deps.labels.delete(repo, request.params.manifestref, request.params.labelid, request.subject);
      return reply.code(204).send();
    },
  );

  app.get(
    `${manifestPath}/security`,
    {
      schema: {
        tags: ['secscan'],
        operationId: 'getRepoManifestSecurity',
        summary:
          'The security scan status of a manifest; no scanner is configured, so every manifest is unsupported.',
        security: security('repo:read'),
        params: manifestParams,
        querystring: Type.Object({ vulnerabilities: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      const name = repositoryName(request.params);
      await deps.access.repository(request.subject, name, 'read');
      await deps.manifestDetails.describe(name, request.params.manifestref); // 404 for an unknown manifest
      return noScanner;
    },
  );
}
