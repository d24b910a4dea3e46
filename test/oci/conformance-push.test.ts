// The push workflow, request by request as the distribution-spec conformance suites check it:
// legacy v1.1.1 02_push_test.go (streamed, monolithic, chunked 0-21/22-41, cross-mount, manifests) and the
// redesign's blob API tests (post only, post+put, chunked, out-of-order, stream, mount, sha512) and data sets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  assertBlob,
  assertManifest,
  assertOciError,
  blobOf,
  descriptorOf,
  digestOf,
  dummyDigest,
  emptyJsonBlob,
  header,
  imageIndex,
  imageManifest,
  locationPath,
  manifestOf,
  mt,
  randomBlob,
  randomConfig,
  Registry,
  suite,
  withDigest,
  type Algorithm,
  type Blob,
  type Manifest,
} from './fixtures.js';

suite('OCI conformance: push', async (t, { server, registry }) => {
  const name = 'admin/conformance-push';
  const uploads = `/v2/${name}/blobs/uploads/`;
  const octet = { 'content-type': mt.octetStream };

  const startUpload = async (repo = name) => {
    const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/`, {
      headers: { 'content-length': '0' },
    });
    assert.equal(res.status, 202, res.body.toString());
    const location = locationPath(res.headers.get('location'));
    assert.ok(location.startsWith(`/v2/${repo}/blobs/uploads/`), location);
    return location;
  };
  /** Checks a finished upload's 201 and that its Location serves the bytes. */
  const assertCreated = async (
    res: { status: number; headers: Headers; body: Buffer },
    blob: Blob,
    repo = name,
  ) => {
    assert.equal(res.status, 201, res.body.toString());
    assert.equal(res.headers.get('location'), `/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(res.headers.get('docker-content-digest'), blob.digest);
    const get = await registry.request('GET', locationPath(res.headers.get('location')));
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(blob.bytes));
    await assertBlob(registry, repo, blob);
  };

  await t.test(
    'streamed upload: PATCH without Content-Length or Content-Range, then PUT ?digest=',
    async () => {
      const blob = randomBlob(100_000);
      const location = await startUpload();
      const first = await registry.raw('PATCH', location, {
        headers: octet,
        chunks: [blob.bytes.subarray(0, 30_000), blob.bytes.subarray(30_000, 60_000)],
      });
      assert.equal(first.status, 202, first.body.toString());
      assert.equal(header(first, 'range'), '0-59999');
      assert.ok(header(first, 'location'));
      // A second streamed PATCH appends.
      const second = await registry.raw('PATCH', locationPath(header(first, 'location')!), {
        headers: octet,
        chunks: [blob.bytes.subarray(60_000)],
      });
      assert.equal(second.status, 202, second.body.toString());
      assert.equal(header(second, 'range'), '0-99999');
      const done = await registry.request(
        'PUT',
        withDigest(locationPath(header(second, 'location')!), blob.digest),
        {
          headers: { ...octet, 'content-length': '0' },
        },
      );
      await assertCreated(done, blob);
    },
  );

  await t.test(
    'legacy streamed: one PATCH with the whole body (no Content-Range) is 202, empty PUT is 201',
    async () => {
      const blob = randomConfig();
      const location = await startUpload();
      const patch = await registry.request('PATCH', location, { headers: octet, body: blob.bytes });
      assert.equal(patch.status, 202);
      assert.equal(patch.headers.get('range'), `0-${blob.size - 1}`);
      const done = await registry.request(
        'PUT',
        withDigest(locationPath(patch.headers.get('location')), blob.digest, false),
      );
      await assertCreated(done, blob);
    },
  );

  await t.test('monolithic: POST ?digest= with the body is 201 and the blob is there', async () => {
    const blob = randomBlob(512);
    assertOciError(await registry.getBlob(name, blob.digest), 404, 'BLOB_UNKNOWN');
    const res = await registry.request('POST', `${uploads}?digest=${encodeURIComponent(blob.digest)}`, {
      headers: octet,
      body: blob.bytes,
    });
    await assertCreated(res, blob);
    // The digest unencoded, as some clients send it.
    const other = randomBlob(10);
    await assertCreated(
      await registry.request('POST', `${uploads}?digest=${other.digest}`, {
        headers: octet,
        body: other.bytes,
      }),
      other,
    );
  });

  await t.test('POST then PUT ?digest= with the body', async () => {
    const blob = randomBlob(512);
    const start = await registry.request('POST', uploads);
    assert.equal(start.status, 202);
    assert.equal(start.headers.get('range'), '0-0');
    assert.ok(start.headers.get('docker-upload-uuid'));
    const done = await registry.request(
      'PUT',
      withDigest(locationPath(start.headers.get('location')), blob.digest),
      { headers: octet, body: blob.bytes },
    );
    await assertCreated(done, blob);
  });

  await t.test('legacy chunked: 0-21 / 22-41 with out-of-order 416s and a stale Location', async () => {
    const blob = blobOf(randomBytes(42));
    const [chunk1, chunk2] = [blob.bytes.subarray(0, 22), blob.bytes.subarray(22)];
    // An out-of-order chunk on a fresh session.
    const fresh = await startUpload();
    const outOfOrder = await registry.request('PATCH', fresh, {
      headers: { ...octet, 'content-range': '22-41', 'content-length': '20' },
      body: chunk2,
    });
    assert.equal(outOfOrder.status, 416, outOfOrder.body.toString());

    const postLocation = await startUpload();
    const patch1 = await registry.request('PATCH', postLocation, {
      headers: { ...octet, 'content-range': '0-21', 'content-length': '22' },
      body: chunk1,
    });
    assert.equal(patch1.status, 202, patch1.body.toString());
    assert.equal(patch1.headers.get('range'), '0-21');
    assert.ok(patch1.headers.get('location'));
    // The same chunk again, to the POST's (now stale) Location.
    const again = await registry.request('PATCH', postLocation, {
      headers: { ...octet, 'content-range': '0-21', 'content-length': '22' },
      body: chunk1,
    });
    assert.equal(again.status, 416, again.body.toString());
    // Status of the stale Location.
    const status = await registry.request('GET', postLocation);
    assert.equal(status.status, 204);
    assert.ok(status.headers.get('location'));
    assert.equal(status.headers.get('range'), '0-21');
    const patch2 = await registry.request('PATCH', locationPath(status.headers.get('location')), {
      headers: { ...octet, 'content-range': '22-41', 'content-length': '20' },
      body: chunk2,
    });
    assert.equal(patch2.status, 202, patch2.body.toString());
    assert.equal(patch2.headers.get('range'), '0-41');
    assert.ok(patch2.headers.get('location'));
    const done = await registry.request(
      'PUT',
      withDigest(locationPath(patch2.headers.get('location')), blob.digest),
      {
        headers: { ...octet, 'content-length': '0' },
      },
    );
    await assertCreated(done, blob);
  });

  await t.test(
    'a PATCHed chunk, then the rest in the final PUT without Content-Range; the finished session is gone',
    async () => {
      const blob = randomBlob(3000);
      const location = await startUpload();
      const patch = await registry.request('PATCH', location, {
        headers: { ...octet, 'content-range': '0-999' },
        body: blob.bytes.subarray(0, 1000),
      });
      assert.equal(patch.status, 202);
      const done = await registry.request(
        'PUT',
        withDigest(locationPath(patch.headers.get('location')), blob.digest),
        { headers: octet, body: blob.bytes.subarray(1000) },
      );
      await assertCreated(done, blob);
      assertOciError(await registry.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertOciError(
        await registry.request('PUT', withDigest(location, blob.digest)),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
      // Pushing the same blob again (another session) is fine and changes nothing.
      await registry.pushBlob(name, blob);
      await assertBlob(registry, name, blob);
    },
  );

  /** The redesign's chunked upload: chunks of `chunkSize`, optionally the last one in the PUT, optionally out-of-order probes. */
  const chunkedUpload = async (
    blob: Blob,
    opts: { chunkSize: number; putLastChunk?: boolean; outOfOrder?: boolean },
  ) => {
    let location = await startUpload();
    const size = blob.size;
    let lastByte = -1;
    let final: Awaited<ReturnType<Registry['request']>> | undefined;
    while (lastByte < size - 1) {
      if (opts.outOfOrder) {
        // Skip ahead, or back to the start when skipping would run past the end.
        let badStart = lastByte + 1 + opts.chunkSize;
        if (badStart >= size) badStart = 0;
        const badLast = Math.min(badStart + opts.chunkSize - 1, size - 1);
        const asPut = opts.putLastChunk && badLast === size - 1;
        const bad = await registry.request(
          asPut ? 'PUT' : 'PATCH',
          asPut ? withDigest(location, blob.digest) : location,
          {
            headers: { ...octet, 'content-range': `${badStart}-${badLast}` },
            body: blob.bytes.subarray(badStart, badLast + 1),
          },
        );
        assert.equal(
          bad.status,
          416,
          `${asPut ? 'PUT' : 'PATCH'} ${badStart}-${badLast} at offset ${lastByte + 1}: ${bad.status} ${bad.body.toString()}`,
        );
        const status = await registry.request('GET', location);
        assert.equal(status.status, 204);
        const range = status.headers.get('range') ?? '';
        assert.match(range, /^0-\d+$/);
        assert.equal(range, `0-${Math.max(lastByte, 0)}`);
        location = locationPath(status.headers.get('location'));
      }
      const start = lastByte + 1;
      lastByte = Math.min(start + opts.chunkSize - 1, size - 1);
      const headers = {
        ...octet,
        'content-range': `${start}-${lastByte}`,
        'content-length': String(lastByte - start + 1),
      };
      const body = blob.bytes.subarray(start, lastByte + 1);
      if (opts.putLastChunk && lastByte === size - 1) {
        final = await registry.request('PUT', withDigest(location, blob.digest), { headers, body });
      } else {
        const patch = await registry.request('PATCH', location, { headers, body });
        assert.equal(patch.status, 202, patch.body.toString());
        assert.equal(patch.headers.get('range'), `0-${lastByte}`);
        location = locationPath(patch.headers.get('location'));
      }
    }
    final ??= await registry.request('PUT', withDigest(location, blob.digest), {
      headers: { ...octet, 'content-length': '0' },
    });
    return final;
  };

  await t.test('chunked: a single chunk, then several chunks (final PUT with no body)', async () => {
    const single = randomBlob(512);
    await assertCreated(await chunkedUpload(single, { chunkSize: 1024 }), single);
    const multi = randomBlob(1024 * 3 - 5);
    await assertCreated(await chunkedUpload(multi, { chunkSize: 1024 }), multi);
  });

  await t.test('chunked with the last chunk in the PUT (with Content-Range)', async () => {
    const blob = randomBlob(1024 * 3 - 5);
    await assertCreated(await chunkedUpload(blob, { chunkSize: 1024, putLastChunk: true }), blob);
  });

  await t.test(
    'out-of-order chunks are 416 (PATCH and final PUT), GET status recovers the offset',
    async () => {
      const blob = randomBlob(1024 * 3 - 5);
      await assertCreated(await chunkedUpload(blob, { chunkSize: 1024, outOfOrder: true }), blob);
      const withPut = randomBlob(1024 * 3 - 5);
      await assertCreated(
        await chunkedUpload(withPut, { chunkSize: 1024, outOfOrder: true, putLastChunk: true }),
        withPut,
      );
    },
  );

  await t.test('upload status: 204 with Location and Range 0-0 on an empty session', async () => {
    const location = await startUpload();
    const status = await registry.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    assert.equal(locationPath(status.headers.get('location')), location);
    assert.equal(status.body.length, 0);
  });

  await t.test('cancel: DELETE upload is 204, then the upload is unknown', async () => {
    const location = await startUpload();
    const patch = await registry.request('PATCH', location, {
      headers: { ...octet, 'content-range': '0-9' },
      body: randomBytes(10),
    });
    assert.equal(patch.status, 202);
    const cancel = await registry.request('DELETE', location);
    assert.equal(cancel.status, 204);
    assertOciError(await registry.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertOciError(
      await registry.request('PATCH', location, { headers: octet, body: 'more' }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    assertOciError(
      await registry.request('PUT', withDigest(location, dummyDigest), { body: 'hello world' }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    assertOciError(await registry.request('DELETE', location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  await t.test('sha512 blobs: the algorithm is known only at the final PUT', async () => {
    const postOnly = randomBlob(512, mt.ociLayerGzip, 'sha512');
    await assertCreated(
      await registry.request('POST', `${uploads}?digest=${encodeURIComponent(postOnly.digest)}`, {
        headers: octet,
        body: postOnly.bytes,
      }),
      postOnly,
    );
    const postPut = randomBlob(512, mt.ociLayerGzip, 'sha512');
    const start = await startUpload();
    await assertCreated(
      await registry.request('PUT', withDigest(start, postPut.digest), {
        headers: octet,
        body: postPut.bytes,
      }),
      postPut,
    );
    const chunked = randomBlob(1024 * 3 - 5, mt.ociLayerGzip, 'sha512');
    await assertCreated(await chunkedUpload(chunked, { chunkSize: 1024 }), chunked);
    const chunkedPut = randomBlob(1024 * 3 - 5, mt.ociLayerGzip, 'sha512');
    await assertCreated(
      await chunkedUpload(chunkedPut, { chunkSize: 1024, putLastChunk: true, outOfOrder: true }),
      chunkedPut,
    );
    const streamed = randomBlob(5000, mt.ociLayerGzip, 'sha512');
    const location = await startUpload();
    const patch = await registry.raw('PATCH', location, {
      headers: octet,
      chunks: [streamed.bytes.subarray(0, 2000), streamed.bytes.subarray(2000)],
    });
    assert.equal(patch.status, 202);
    await assertCreated(
      await registry.request('PUT', withDigest(locationPath(header(patch, 'location')!), streamed.digest)),
      streamed,
    );
    // The same bytes are a different blob under sha256.
    const sameBytes = blobOf(streamed.bytes);
    assertOciError(await registry.getBlob(name, sameBytes.digest), 404, 'BLOB_UNKNOWN');
  });

  await t.test('cross-repository mount', async () => {
    const target = 'admin/conformance-push-mount';
    const blobA = randomBlob(42);
    await registry.pushBlob(name, blobA);
    // Without `from`, of a blob no repository has: an upload session.
    const anonymousMissing = await registry.request(
      'POST',
      `/v2/${target}/blobs/uploads/?mount=${dummyDigest}`,
    );
    assert.equal(anonymousMissing.status, 202);
    assert.ok(
      locationPath(anonymousMissing.headers.get('location')).startsWith(`/v2/${target}/blobs/uploads/`),
    );
    // With `from`: 201, Location exactly /v2/<target>/blobs/<digest>.
    const mounted = await registry.request(
      'POST',
      `/v2/${target}/blobs/uploads/?mount=${blobA.digest}&from=${name}`,
    );
    assert.equal(mounted.status, 201, mounted.body.toString());
    assert.equal(
      new URL(mounted.headers.get('location')!, server.url).pathname,
      `/v2/${target}/blobs/${blobA.digest}`,
    );
    assert.equal(mounted.headers.get('docker-content-digest'), blobA.digest);
    const get = await registry.request('GET', locationPath(mounted.headers.get('location')));
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(blobA.bytes));
    await assertBlob(registry, target, blobA);
    // Without `from`, of a blob the user may pull elsewhere: mounted too.
    const anonymousKnown = await registry.request(
      'POST',
      `/v2/admin/conformance-push-mount2/blobs/uploads/?mount=${encodeURIComponent(blobA.digest)}`,
    );
    assert.equal(anonymousKnown.status, 201, anonymousKnown.body.toString());
    assert.equal(
      anonymousKnown.headers.get('location'),
      `/v2/admin/conformance-push-mount2/blobs/${blobA.digest}`,
    );
    await assertBlob(registry, 'admin/conformance-push-mount2', blobA);
    // `from` a repository that lacks the blob: must be 202 (an upload), never 201.
    const missing = randomBlob(42);
    const mountMissing = await registry.request(
      'POST',
      `/v2/${target}/blobs/uploads/?mount=${missing.digest}&from=${name}`,
    );
    assert.equal(mountMissing.status, 202);
    const location = locationPath(mountMissing.headers.get('location'));
    assert.ok(location.startsWith(`/v2/${target}/blobs/uploads/`));
    // The session it opened takes the upload.
    await assertCreated(
      await registry.request('PUT', withDigest(location, missing.digest), { body: missing.bytes }),
      missing,
      target,
    );
    // `from` an unknown repository: an upload as well.
    assert.equal(
      (
        await registry.request(
          'POST',
          `/v2/${target}/blobs/uploads/?mount=${blobA.digest}&from=admin/does-not-exist`,
        )
      ).status,
      202,
    );
  });

  await t.test('mount needs pull on the source: another user gets an upload, not the blob', async () => {
    await server.services.identity.createUser({ name: 'mallory', password: 'mallory-password' });
    const mallory = new Registry(server, { username: 'mallory', password: 'mallory-password' });
    const secret = randomBlob(64);
    await registry.pushBlob(name, secret);
    for (const query of [`mount=${secret.digest}&from=${name}`, `mount=${secret.digest}`]) {
      const res = await mallory.request('POST', `/v2/mallory/loot/blobs/uploads/?${query}`);
      assert.equal(res.status, 202, `${query}: ${res.status}`);
      assertOciError(await mallory.getBlob('mallory/loot', secret.digest), 404, 'BLOB_UNKNOWN');
    }
    assert.ok([401, 403].includes((await mallory.getBlob(name, secret.digest)).status));
    // Her catalog lists her repository, not the admin's private ones.
    const catalog = await mallory.request('GET', '/v2/_catalog');
    assert.equal(catalog.status, 200);
    assert.deepEqual(catalog.json(), { repositories: ['mallory/loot'] });
  });

  // Manifests.
  const config = randomConfig();
  const layers = [randomBlob(2048), randomBlob(1024)];
  const image = imageManifest({ config, layers });

  await t.test('manifest upload: OCI image by tag (test0..test3) and by digest', async () => {
    await registry.pushBlobs(name, config, ...layers);
    assertOciError(await registry.getManifest(name, '.INVALID_MANIFEST_NAME'), 404, 'MANIFEST_UNKNOWN');
    for (const tag of ['test0', 'test1', 'test2', 'test3']) await registry.pushManifest(name, image, tag);
    await registry.pushManifest(name, image);
    await assertManifest(registry, name, image.digest, image);
    for (const tag of ['test0', 'test1', 'test2', 'test3']) await assertManifest(registry, name, tag, image);
  });

  await t.test('Content-Type parameters are ignored', async () => {
    const res = await registry.putManifest(name, 'with-charset', image, `${mt.ociManifest}; charset=utf-8`);
    assert.equal(res.status, 201, res.body.toString());
    await assertManifest(registry, name, 'with-charset', image);
  });

  await t.test('OCI index (amd64 + arm64), nested index and empty index', async () => {
    const armConfig = randomConfig();
    await registry.pushBlob(name, armConfig);
    const arm = imageManifest({ config: armConfig, layers });
    await registry.pushManifest(name, arm);
    const index = imageIndex({
      manifests: [
        { manifest: image, platform: { architecture: 'amd64', os: 'linux' } },
        { manifest: arm, platform: { architecture: 'arm64', os: 'linux' } },
      ],
      annotations: { 'org.opencontainers.image.title': 'conformance' },
    });
    await registry.pushManifest(name, index);
    await registry.pushManifest(name, index, 'index');
    await assertManifest(registry, name, 'index', index);
    await assertManifest(registry, name, index.digest, index);
    const nested = imageIndex({ manifests: [index, image] });
    await registry.pushManifest(name, nested, 'nested-index');
    await assertManifest(registry, name, 'nested-index', nested);
    const empty = imageIndex({ manifests: [] });
    await registry.pushManifest(name, empty, 'empty-index');
    await assertManifest(registry, name, 'empty-index', empty);
  });

  await t.test('Docker schema2 manifest and Docker manifest list, by tag and by digest', async () => {
    const dockerConfig = randomConfig(mt.dockerConfig);
    const dockerLayer = randomBlob(700, mt.dockerLayer);
    await registry.pushBlobs(name, dockerConfig, dockerLayer);
    const schema2 = imageManifest({
      config: dockerConfig,
      layers: [dockerLayer],
      mediaType: mt.dockerManifest,
    });
    await registry.pushManifest(name, schema2, 'docker');
    await registry.pushManifest(name, schema2);
    await assertManifest(registry, name, 'docker', schema2);
    await assertManifest(registry, name, schema2.digest, schema2);
    const list = imageIndex({
      manifests: [{ manifest: schema2, platform: { architecture: 'amd64', os: 'linux' } }],
      mediaType: mt.dockerList,
    });
    await registry.pushManifest(name, list, 'docker-list');
    await registry.pushManifest(name, list);
    await assertManifest(registry, name, 'docker-list', list);
    await assertManifest(registry, name, list.digest, list);
  });

  await t.test('unknown fields, a data field and unusual formatting are stored verbatim', async () => {
    const custom = imageManifest({
      config,
      layers,
      configExtra: { data: config.bytes.toString('base64'), newUnspecifiedField: 'c29tZSBkYXRh' },
      extra: { 'com.example.custom': { nested: [1, 2, { x: null }] }, zzz: true },
      annotations: { 'org.example.unicode': 'héllo ✓' },
    });
    await registry.pushManifest(name, custom, 'custom-fields');
    await assertManifest(registry, name, 'custom-fields', custom);
    const pretty = manifestOf(image.json, { format: (json) => `${JSON.stringify(json, null, 3)}\n\n` });
    assert.notEqual(pretty.digest, image.digest);
    await registry.pushManifest(name, pretty, 'pretty');
    await assertManifest(registry, name, 'pretty', pretty);
    await assertManifest(registry, name, pretty.digest, pretty);
  });

  await t.test('an empty-layer manifest without a mediaType field', async () => {
    const emptyLayer = imageManifest({ config, layers: [], mediaType: null });
    assert.equal('mediaType' in emptyLayer.json, false);
    await registry.pushManifest(name, emptyLayer, 'emptylayer');
    await assertManifest(registry, name, 'emptylayer', emptyLayer);
  });

  await t.test('no layers, artifact with the empty config, artifact without layers', async () => {
    const emptyJson = emptyJsonBlob();
    await registry.pushBlob(name, emptyJson);
    const artifact = imageManifest({
      config: emptyJson,
      layers: [layers[0]!],
      artifactType: 'application/vnd.example.oci.conformance.v1',
    });
    await registry.pushManifest(name, artifact, 'artifact');
    await assertManifest(registry, name, 'artifact', artifact);
    const noLayers = imageManifest({
      config: emptyJson,
      layers: [emptyJson],
      artifactType: 'application/vnd.example.oci.conformance.v1',
    });
    await registry.pushManifest(name, noLayers, 'artifact-without-layers');
    await assertManifest(registry, name, 'artifact-without-layers', noLayers);
  });

  await t.test('non-distributable layers that were never pushed are accepted', async () => {
    const foreign = [randomBlob(100, mt.ociNondistributable), randomBlob(200, mt.ociNondistributable)];
    const manifest = imageManifest({
      config,
      layerDescriptors: [
        descriptorOf(layers[0]!),
        ...foreign.map((l) => descriptorOf(l, { urls: [`https://example.com/${l.digest}`] })),
      ],
    });
    await registry.pushManifest(name, manifest, 'non-distributable');
    await assertManifest(registry, name, 'non-distributable', manifest);
    assertOciError(await registry.getBlob(name, foreign[0]!.digest), 404, 'BLOB_UNKNOWN');
  });

  await t.test('a ~3.9 MB manifest (390 annotations of 10,000 characters)', async () => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 390; i++) annotations[`org.example.large.${i}`] = randomBytes(5000).toString('hex');
    const large = imageManifest({ config, layers, annotations });
    assert.ok(large.size > 3_900_000 && large.size < 4 * 1024 * 1024, `size ${large.size}`);
    await registry.pushManifest(name, large, 'large-manifest');
    await assertManifest(registry, name, 'large-manifest', large);
  });

  await t.test('manifests referencing unknown blobs are 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const unknownConfig = imageManifest({ config: randomConfig(), layers });
    assertOciError(
      await registry.putManifest(name, 'blob-unknown', unknownConfig),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    const unknownLayer = imageManifest({ config, layers: [layers[0]!, randomBlob(10)] });
    assertOciError(
      await registry.putManifest(name, unknownLayer.digest, unknownLayer),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    // A blob of another repository does not count.
    const elsewhere = randomBlob(30);
    await registry.pushBlob('admin/conformance-push-elsewhere', elsewhere);
    assertOciError(
      await registry.putManifest(name, 'blob-elsewhere', imageManifest({ config, layers: [elsewhere] })),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    const index = imageIndex({ manifests: [image, imageManifest({ config: randomConfig() })] });
    assertOciError(
      await registry.putManifest(name, 'index-unknown-child', index),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    for (const reference of [
      'blob-unknown',
      unknownLayer.digest,
      'blob-elsewhere',
      'index-unknown-child',
      index.digest,
    ]) {
      assertOciError(await registry.getManifest(name, reference), 404, 'MANIFEST_UNKNOWN');
    }
  });

  await t.test('sha512: an index and images addressed by sha512 digests', async () => {
    const pushAll = async (algorithm: Algorithm) => {
      const cfg = randomConfig(mt.ociConfig, algorithm);
      const lyr = randomBlob(900, mt.ociLayerGzip, algorithm);
      for (const blob of [cfg, lyr]) {
        const res = await registry.request('POST', `${uploads}?digest=${encodeURIComponent(blob.digest)}`, {
          body: blob.bytes,
        });
        assert.equal(res.status, 201, res.body.toString());
      }
      return imageManifest({ config: cfg, layers: [lyr], algorithm });
    };
    const images: Manifest[] = [await pushAll('sha512'), await pushAll('sha512')];
    for (const m of images) {
      assert.match(m.digest, /^sha512:[a-f0-9]{128}$/);
      await registry.pushManifest(name, m);
      await assertManifest(registry, name, m.digest, m);
    }
    const index = imageIndex({ manifests: images, algorithm: 'sha512' });
    // Only by digest: a tag push names the manifest by its canonical (sha256) digest.
    await registry.pushManifest(name, index);
    await assertManifest(registry, name, index.digest, index);
    assertOciError(await registry.getManifest(name, digestOf(index.bytes)), 404, 'MANIFEST_UNKNOWN');
  });

  await t.test('pushing a tag again moves it; the old manifest stays by digest', async () => {
    const otherConfig = randomConfig();
    await registry.pushBlob(name, otherConfig);
    const other = imageManifest({ config: otherConfig, layers });
    await registry.pushManifest(name, other, 'test3');
    await assertManifest(registry, name, 'test3', other);
    await assertManifest(registry, name, 'test2', image);
    await assertManifest(registry, name, image.digest, image);
    // The same manifest again under the same tag: still 201, nothing changes.
    await registry.pushManifest(name, other, 'test3');
    await assertManifest(registry, name, 'test3', other);
  });

  await t.test('teardown: tags, then manifests, then blobs are deleted', async () => {
    assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/test0`)).status, 202);
    assertOciError(await registry.getManifest(name, 'test0'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/${image.digest}`)).status, 202);
    assert.equal((await registry.getManifest(name, image.digest, 'HEAD')).status, 404);
  });
});
