import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, adminPassword } from '../support/server.js';
import { RegistryClient } from '../support/registry-client.js';

test('push and pull a blob and manifest through token auth', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  const client = new RegistryClient(server.url, { username: 'admin', password: adminPassword });
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = Buffer.from('layer bytes');
  const configDigest = await client.pushBlob('admin/smoke', config);
  const layerDigest = await client.pushBlob('admin/smoke', layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length },
    ],
  };
  const put = await client.pushManifest('admin/smoke', 'v1', manifest);
  assert.equal(put.status, 201, put.body.toString());
  const get = await client.request('GET', '/v2/admin/smoke/manifests/v1');
  assert.equal(get.status, 200);
  assert.equal(get.body.toString(), JSON.stringify(manifest));
  assert.equal(get.headers.get('docker-content-digest'), put.headers.get('docker-content-digest'));
  const blob = await client.request('GET', `/v2/admin/smoke/blobs/${layerDigest}`);
  assert.equal(blob.body.toString(), 'layer bytes');
});
