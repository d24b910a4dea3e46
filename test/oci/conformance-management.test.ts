// The content management workflow as the distribution-spec conformance suites check it (legacy
// 04_management_test.go and the redesign's delete order): tags, manifests and blobs are deleted.
import assert from 'node:assert/strict';
import {
  assertBlob,
  assertManifest,
  assertOciError,
  imageIndex,
  imageManifest,
  randomBlob,
  randomConfig,
  randomDigest,
  suite,
} from './fixtures.js';

suite('OCI conformance: content management', async (t, { registry }) => {
  const name = 'admin/conformance-management';
  const config3 = randomConfig();
  const layer = randomBlob(1024);
  const m3 = imageManifest({ config: config3, layers: [layer] });
  const otherConfig = randomConfig();
  const other = imageManifest({ config: otherConfig, layers: [layer] });
  let tagsBefore: string[] = [];

  await t.test('setup: m3 as tagtest0 and tagtest1, another manifest as keep', async () => {
    await registry.pushBlobs(name, config3, layer, otherConfig);
    await registry.pushManifest(name, m3, 'tagtest0');
    await registry.pushManifest(name, m3, 'tagtest1');
    await registry.pushManifest(name, other, 'keep');
    tagsBefore = await registry.tagList(name);
    assert.deepEqual(tagsBefore, ['keep', 'tagtest0', 'tagtest1']);
  });

  await t.test('DELETE by tag is 202: the tag is gone, the manifest stays by digest', async () => {
    const res = await registry.request('DELETE', `/v2/${name}/manifests/tagtest0`);
    assert.equal(res.status, 202, res.body.toString());
    assertOciError(await registry.getManifest(name, 'tagtest0'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await registry.getManifest(name, 'tagtest0', 'HEAD')).status, 404);
    await assertManifest(registry, name, m3.digest, m3);
    await assertManifest(registry, name, 'tagtest1', m3);
    assert.deepEqual(await registry.tagList(name), ['keep', 'tagtest1']);
    // Once more: the tag is unknown now.
    assertOciError(
      await registry.request('DELETE', `/v2/${name}/manifests/tagtest0`),
      404,
      'MANIFEST_UNKNOWN',
    );
  });

  await t.test('a deleted tag can be pushed again', async () => {
    await registry.pushManifest(name, m3, 'tagtest0');
    await assertManifest(registry, name, 'tagtest0', m3);
    assert.deepEqual(await registry.tagList(name), tagsBefore);
  });

  await t.test('DELETE by digest is 202: the manifest and every tag pointing to it are gone', async () => {
    const res = await registry.request('DELETE', `/v2/${name}/manifests/${m3.digest}`);
    assert.equal(res.status, 202, res.body.toString());
    assertOciError(await registry.getManifest(name, m3.digest), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await registry.getManifest(name, m3.digest, 'HEAD')).status, 404);
    for (const tag of ['tagtest0', 'tagtest1'])
      assertOciError(await registry.getManifest(name, tag), 404, 'MANIFEST_UNKNOWN');
    // The tags list shrinks by every tag that pointed at it; other tags stay.
    assert.deepEqual(await registry.tagList(name), ['keep']);
    await assertManifest(registry, name, 'keep', other);
    assertOciError(
      await registry.request('DELETE', `/v2/${name}/manifests/${m3.digest}`),
      404,
      'MANIFEST_UNKNOWN',
    );
    assertOciError(
      await registry.request('DELETE', `/v2/${name}/manifests/${randomDigest()}`),
      404,
      'MANIFEST_UNKNOWN',
    );
  });

  await t.test('a blob still referenced by a manifest cannot be deleted', async () => {
    // The layer is used by `other` (m3 is gone); otherConfig as well.
    for (const blob of [layer, otherConfig]) {
      assertOciError(
        await registry.request('DELETE', `/v2/${name}/blobs/${blob.digest}`),
        405,
        'UNSUPPORTED',
      );
      await assertBlob(registry, name, blob);
    }
    await assertManifest(registry, name, 'keep', other);
  });

  await t.test('DELETE blob is 202, then the blob is 404; deleting it again is 404', async () => {
    // config3 lost its last reference with m3.
    const res = await registry.request('DELETE', `/v2/${name}/blobs/${config3.digest}`);
    assert.equal(res.status, 202, res.body.toString());
    assertOciError(await registry.getBlob(name, config3.digest), 404, 'BLOB_UNKNOWN');
    assert.equal((await registry.getBlob(name, config3.digest, 'HEAD')).status, 404);
    assertOciError(
      await registry.request('DELETE', `/v2/${name}/blobs/${config3.digest}`),
      404,
      'BLOB_UNKNOWN',
    );
    assertOciError(
      await registry.request('DELETE', `/v2/${name}/blobs/${randomDigest()}`),
      404,
      'BLOB_UNKNOWN',
    );
    // A manifest referencing it is refused now.
    assertOciError(await registry.putManifest(name, 'again', m3), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  await t.test(
    'after the manifest is deleted its blobs can be deleted; everything can be pushed again',
    async () => {
      assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/${other.digest}`)).status, 202);
      assert.deepEqual(await registry.tagList(name), []);
      for (const blob of [layer, otherConfig]) {
        assert.equal((await registry.request('DELETE', `/v2/${name}/blobs/${blob.digest}`)).status, 202);
        assertOciError(await registry.getBlob(name, blob.digest), 404, 'BLOB_UNKNOWN');
      }
      await registry.pushBlobs(name, config3, layer);
      await registry.pushManifest(name, m3, 'tagtest0');
      await assertManifest(registry, name, 'tagtest0', m3);
      await assertBlob(registry, name, layer);
    },
  );

  await t.test('deleting a blob in one repository leaves it in another', async () => {
    const shared = randomBlob(128);
    const second = 'admin/conformance-management-second';
    await registry.pushBlob(name, shared);
    await registry.pushBlob(second, shared);
    assert.equal((await registry.request('DELETE', `/v2/${name}/blobs/${shared.digest}`)).status, 202);
    assertOciError(await registry.getBlob(name, shared.digest), 404, 'BLOB_UNKNOWN');
    await assertBlob(registry, second, shared);
  });

  await t.test('deleting a manifest in one repository leaves it in another', async () => {
    const second = 'admin/conformance-management-second';
    await registry.pushBlobs(second, config3, layer);
    await registry.pushManifest(second, m3, 'copy');
    assert.equal((await registry.request('DELETE', `/v2/${second}/manifests/${m3.digest}`)).status, 202);
    await assertManifest(registry, name, 'tagtest0', m3);
    assertOciError(await registry.getManifest(second, 'copy'), 404, 'MANIFEST_UNKNOWN');
  });

  await t.test(
    'redesign order: tags, then index before children and referrers before subject, then blobs',
    async () => {
      const repo = 'admin/conformance-management-order';
      const cfgA = randomConfig();
      const cfgB = randomConfig();
      const lyr = randomBlob(256);
      await registry.pushBlobs(repo, cfgA, cfgB, lyr);
      const amd = imageManifest({ config: cfgA, layers: [lyr] });
      const arm = imageManifest({ config: cfgB, layers: [lyr] });
      for (const m of [amd, arm]) await registry.pushManifest(repo, m);
      const index = imageIndex({ manifests: [amd, arm] });
      await registry.pushManifest(repo, index);
      await registry.pushManifest(repo, index, 'index');
      const sbom = imageManifest({
        config: cfgA,
        layers: [lyr],
        artifactType: 'application/vnd.example.sbom',
        subject: index,
      });
      await registry.pushManifest(repo, sbom, 'sbom');

      for (const tag of ['index', 'sbom']) {
        assert.equal((await registry.request('DELETE', `/v2/${repo}/manifests/${tag}`)).status, 202);
        assert.equal((await registry.getManifest(repo, tag, 'HEAD')).status, 404);
      }
      for (const m of [sbom, index, arm, amd]) {
        assert.equal(
          (await registry.request('DELETE', `/v2/${repo}/manifests/${m.digest}`)).status,
          202,
          m.digest,
        );
        assert.equal((await registry.getManifest(repo, m.digest, 'HEAD')).status, 404);
      }
      for (const blob of [cfgA, cfgB, lyr]) {
        assert.equal((await registry.request('DELETE', `/v2/${repo}/blobs/${blob.digest}`)).status, 202);
        assert.equal((await registry.getBlob(repo, blob.digest, 'HEAD')).status, 404);
      }
      assert.deepEqual(await registry.tagList(repo), []);
    },
  );

  await t.test('deletes in an unknown repository are 404', async () => {
    const repo = 'admin/conformance-management-unknown';
    assertOciError(
      await registry.request('DELETE', `/v2/${repo}/manifests/latest`),
      404,
      'MANIFEST_UNKNOWN',
      'NAME_UNKNOWN',
    );
    assertOciError(
      await registry.request('DELETE', `/v2/${repo}/manifests/${randomDigest()}`),
      404,
      'MANIFEST_UNKNOWN',
      'NAME_UNKNOWN',
    );
    assertOciError(
      await registry.request('DELETE', `/v2/${repo}/blobs/${randomDigest()}`),
      404,
      'BLOB_UNKNOWN',
      'NAME_UNKNOWN',
    );
  });
});
