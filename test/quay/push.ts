// Pushing small images through /v2/ for the Quay API suites.
import { createHash, randomBytes } from 'node:crypto';
import type { RegistryClient } from '../support/registry-client.js';

export const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
export const ociIndex = 'application/vnd.oci.image.index.v1+json';
export const ociConfig = 'application/vnd.oci.image.config.v1+json';
const ociLayer = 'application/vnd.oci.image.layer.v1.tar+gzip';

const sha256 = (bytes: Uint8Array | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface PushedImage {
  digest: string;
  bytes: string;
  layerDigest: string;
  layerSize: number;
  configDigest: string;
}

/**
 * Pushes a one-layer OCI image under `tag`: its config carries `labels`, a Cmd and a history of
 * one layer and one empty entry; the manifest carries `annotations`.
 */
export async function pushImage(
  client: RegistryClient,
  name: string,
  tag: string,
  opts: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<PushedImage> {
  const layer = randomBytes(100 + Math.floor(Math.random() * 100));
  const layerDigest = await client.pushBlob(name, layer);
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-05-10T15:11:00Z',
      author: 'tester',
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: opts.labels ?? {}, Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      history: [
        { created: '2024-05-10T15:11:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
        { created: '2024-05-10T15:12:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
      ],
    }),
  );
  const configDigest = await client.pushBlob(name, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: ociManifest,
    config: { mediaType: ociConfig, digest: configDigest, size: config.length },
    layers: [{ mediaType: ociLayer, digest: layerDigest, size: layer.length }],
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = JSON.stringify(manifest);
  const res = await client.pushManifest(name, tag, bytes, ociManifest);
  if (res.status !== 201) throw new Error(`push ${name}:${tag}: ${res.status} ${res.body.toString()}`);
  return { digest: sha256(bytes), bytes, layerDigest, layerSize: layer.length, configDigest };
}

/** Pushes an index of already pushed images under `tag`. */
export async function pushIndex(
  client: RegistryClient,
  name: string,
  tag: string,
  images: PushedImage[],
): Promise<{ digest: string; bytes: string }> {
  const bytes = JSON.stringify({
    schemaVersion: 2,
    mediaType: ociIndex,
    manifests: images.map((image, i) => ({
      mediaType: ociManifest,
      digest: image.digest,
      size: Buffer.byteLength(image.bytes),
      platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' },
    })),
  });
  const res = await client.pushManifest(name, tag, bytes, ociIndex);
  if (res.status !== 201) throw new Error(`push index ${name}:${tag}: ${res.status} ${res.body.toString()}`);
  return { digest: sha256(bytes), bytes };
}
