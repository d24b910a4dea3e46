import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ManualClock } from '../../src/platform/clock.js';
import { digestOf } from '../../src/platform/blobs/digest.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

const hour = 3600_000;

forEachDatabase((database) => {
  describe(`garbage collection on ${database}`, () => {
    let server: TestServer;
    let client: RegistryClient;
    let skip = false;
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      // Tokens are verified against the same clock, so keep their lifetime above the jumps below.
      server = await startTestServer({
        database,
        clock,
        config: { gcGraceSeconds: 3600, uploadTtlSeconds: 7200, tokenTtlSeconds: 864000 },
      });
      client = new RegistryClient(server.url, { username: 'admin', password: adminPassword });
    });
    after(() => server?.close());

    const blobStatus = async (name: string, digest: string) =>
      (await client.request('HEAD', `/v2/${name}/blobs/${digest}`)).status;
    const pushImage = async (name: string, tag: string, layerText: string) => {
      const config = Buffer.from(`{"layer":"${layerText}"}`);
      const layer = Buffer.from(layerText);
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: await client.pushBlob(name, config),
          size: config.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: await client.pushBlob(name, layer),
            size: layer.length,
          },
        ],
      };
      const res = await client.pushManifest(name, tag, manifest);
      assert.equal(res.status, 201);
      return {
        manifestDigest: res.headers.get('docker-content-digest')!,
        layerDigest: manifest.layers[0]!.digest,
      };
    };

    test('unreferenced blobs survive the grace period, then are swept; referenced blobs never are', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const kept = await pushImage('admin/gc', 'keep', 'kept layer');
      const doomed = await pushImage('admin/gc', 'doomed', 'doomed layer');
      const loose = await client.pushBlob('admin/gc', Buffer.from('never referenced'));

      let report = await server.services.gc.collect();
      assert.equal(report.deletedBlobs, 0, 'nothing is old enough yet');

      assert.equal(
        (await client.request('DELETE', `/v2/admin/gc/manifests/${doomed.manifestDigest}`)).status,
        202,
      );
      clock.advance(2 * hour);
      const dry = await server.services.gc.collect({ dryRun: true });
      assert.ok(dry.deletedBlobs >= 3, 'a dry run reports what it would delete');
      assert.equal(await blobStatus('admin/gc', loose), 200, 'a dry run deletes nothing');

      clock.advance(2 * hour);
      report = await server.services.gc.collect();
      assert.ok(report.deletedBlobs >= 3, JSON.stringify(report));
      assert.equal(await blobStatus('admin/gc', loose), 404);
      assert.equal(await blobStatus('admin/gc', doomed.layerDigest), 404);
      assert.equal(await server.blobStore.stat(loose), undefined, 'the bytes are gone');
      assert.equal(await blobStatus('admin/gc', kept.layerDigest), 200);
      const pulled = await client.request('GET', `/v2/admin/gc/blobs/${kept.layerDigest}`);
      assert.equal(pulled.body.toString(), 'kept layer');
    });

    test('a blob a client just found with HEAD is spared, so a push that skips uploading it succeeds', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const layer = Buffer.from('found by head');
      const digest = await client.pushBlob('admin/gc2', layer);
      clock.advance(2 * hour);
      assert.equal(await blobStatus('admin/gc2', digest), 200); // the client's existence check
      await server.services.gc.collect();
      const config = Buffer.from('{}');
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: await client.pushBlob('admin/gc2', config),
          size: 2,
        },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: layer.length }],
      };
      assert.equal((await client.pushManifest('admin/gc2', 'v1', manifest)).status, 201);
    });

    test('idle upload sessions expire; orphan files without a record are removed', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const start = await client.request('POST', '/v2/admin/gc3/blobs/uploads/');
      const location = start.headers.get('location')!;
      assert.equal((await client.request('PATCH', location, { body: Buffer.from('abc') })).status, 202);

      const orphan = Buffer.from('orphan bytes');
      const orphanDigest = digestOf(orphan);
      const hex = orphanDigest.slice(7);
      await mkdir(path.join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2)), { recursive: true });
      const orphanPath = path.join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
      await writeFile(orphanPath, orphan);
      // The file's mtime is real time; the manual clock must pass it by more than the grace period.
      clock.advance(Date.now() - clock.now() + 3 * hour);

      const report = await server.services.gc.collect();
      assert.ok(report.expiredUploads >= 1, JSON.stringify(report));
      assert.ok(report.orphanFiles >= 1, JSON.stringify(report));
      assert.equal(await server.blobStore.stat(orphanDigest), undefined);
      const patch = await client.request('PATCH', location, { body: Buffer.from('def') });
      assert.equal(patch.status, 404);
      assert.equal(patch.json<{ errors: Array<{ code: string }> }>().errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
    });
  });
});
