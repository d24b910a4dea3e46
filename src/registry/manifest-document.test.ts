import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Invalid } from '../platform/errors.js';
import { parseManifest } from './manifest-document.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));
const image = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('a'), size: 2 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 3 },
    {
      mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      digest: d('c'),
      size: 3,
      urls: ['http://x'],
    },
  ],
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('e'), size: 10 },
  annotations: { 'org.example': 'yes' },
};

test('an image manifest: required blobs exclude non-distributable layers; artifactType falls back to the config type', () => {
  const doc = parseManifest(bytes(image), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8');
  assert.equal(doc.kind, 'image');
  assert.deepEqual(doc.blobs, [d('a'), d('b')]);
  assert.equal(doc.subject, d('e'));
  assert.equal(doc.artifactType, 'application/vnd.oci.image.config.v1+json');
  assert.deepEqual(doc.annotations, { 'org.example': 'yes' });
});

test('an index lists its children; without mediaType the shape or Content-Type decides', () => {
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: image.mediaType, digest: d('f'), size: 5 }],
    artifactType: 'x/y',
  };
  const doc = parseManifest(bytes(index), undefined);
  assert.equal(doc.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(doc.children, [d('f')]);
  assert.equal(doc.artifactType, 'x/y');
  const { mediaType: _m, ...noType } = image;
  assert.equal(
    parseManifest(bytes(noType), 'application/vnd.docker.distribution.manifest.v2+json').mediaType,
    'application/vnd.docker.distribution.manifest.v2+json',
  );
});

test('rejects what is not a valid schema 2 manifest, naming the problem', () => {
  const cases: Array<[unknown, string | undefined, RegExp]> = [
    ['not json', undefined, /not valid JSON/],
    [[1, 2], undefined, /JSON object/],
    [{ ...image, schemaVersion: 3 }, undefined, /schemaVersion/],
    [{ ...image, mediaType: 'application/x-unknown' }, undefined, /unknown manifest media type/],
    [image, 'application/vnd.oci.image.index.v1+json', /does not match/],
    [{ ...image, manifests: [] }, undefined, /must not have "manifests"/],
    [
      { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], layers: [] },
      undefined,
      /must not have "config" or "layers"/,
    ],
    [{ ...image, config: { ...image.config, digest: 'sha256:short' } }, undefined, /config.digest/],
    [{ ...image, layers: [{ ...image.layers[0], size: -1 }] }, undefined, /layers\[0\].size/],
    [{ ...image, annotations: { a: 1 } }, undefined, /annotations/],
    [{ schemaVersion: 2 }, 'text/plain', /unknown manifest media type/],
  ];
  for (const [body, type, message] of cases) {
    const raw = typeof body === 'string' ? Buffer.from(body) : bytes(body);
    assert.throws(
      () => parseManifest(raw, type),
      (err: unknown) =>
        err instanceof Invalid && err.code === 'MANIFEST_INVALID' && message.test(err.message),
      String(message),
    );
  }
  assert.throws(
    () => parseManifest(bytes({ schemaVersion: 1, name: 'x' }), undefined),
    (err: unknown) => err instanceof Invalid && err.code === 'MANIFEST_INVALID',
  );
});
