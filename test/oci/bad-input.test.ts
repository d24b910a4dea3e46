// Bad input on every OCI endpoint: each request gets the right status and an OCI error body
// `{"errors":[{"code":...}]}`, and what was stored before (tags, manifests, blobs) is left exactly as it was.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  assertBlob,
  assertManifest,
  assertOciError,
  blobOf,
  digestOf,
  emptyBlobDigest,
  header,
  imageIndex,
  imageManifest,
  locationPath,
  manifestOf,
  mt,
  randomBlob,
  randomConfig,
  randomDigest,
  suite,
  withDigest,
} from './fixtures.js';

suite('OCI bad input', async (t, { registry }) => {
  const name = 'admin/bad-input';
  const config = randomConfig();
  const layer = randomBlob(2048);
  const stable = imageManifest({ config, layers: [layer] });
  const octet = { 'content-type': mt.octetStream };

  /** What was pushed before any bad request: it must survive every one of them unchanged. */
  const assertIntact = async () => {
    await assertManifest(registry, name, 'stable', stable);
    await assertManifest(registry, name, stable.digest, stable);
    await assertBlob(registry, name, config);
    await assertBlob(registry, name, layer);
    assert.deepEqual(await registry.tagList(name), ['stable']);
  };
  const putRaw = (reference: string, body: string | Buffer, contentType: string = mt.ociManifest) =>
    registry.request('PUT', `/v2/${name}/manifests/${reference}`, {
      body,
      headers: { 'content-type': contentType },
    });
  const startUpload = async () => {
    const res = await registry.request('POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(res.status, 202);
    return locationPath(res.headers.get('location'));
  };

  await t.test('setup: a tagged manifest and its blobs', async () => {
    await registry.pushBlobs(name, config, layer);
    await registry.pushManifest(name, stable, 'stable');
    await assertIntact();
  });

  await t.test('malformed JSON manifest: 400 MANIFEST_INVALID', async () => {
    for (const body of [
      '{"schemaVersion": 2,',
      'not json',
      '',
      '[]',
      '"a string"',
      'null',
      Buffer.from([0xff, 0xfe, 0x00]),
    ]) {
      assertOciError(await putRaw('stable', body), 400, 'MANIFEST_INVALID');
    }
    await assertIntact();
  });

  await t.test('schemaVersion 1 and other versions: 400 MANIFEST_INVALID', async () => {
    const schema1 = JSON.stringify({
      schemaVersion: 1,
      name,
      tag: 'stable',
      architecture: 'amd64',
      fsLayers: [{ blobSum: layer.digest }],
      history: [],
    });
    assertOciError(
      await putRaw('stable', schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
      400,
      'MANIFEST_INVALID',
    );
    assertOciError(
      await putRaw('stable', schema1, 'application/vnd.docker.distribution.manifest.v1+json'),
      400,
      'MANIFEST_INVALID',
    );
    assertOciError(await putRaw('stable', schema1), 400, 'MANIFEST_INVALID');
    for (const schemaVersion of [3, '2', null]) {
      assertOciError(
        await putRaw('stable', JSON.stringify({ ...stable.json, schemaVersion })),
        400,
        'MANIFEST_INVALID',
      );
    }
    const noVersion = { ...stable.json };
    delete noVersion.schemaVersion;
    assertOciError(await putRaw('stable', JSON.stringify(noVersion)), 400, 'MANIFEST_INVALID');
    await assertIntact();
  });

  await t.test('unknown media type: 400 MANIFEST_INVALID', async () => {
    const unknown = JSON.stringify({ ...stable.json, mediaType: 'application/vnd.example.unknown+json' });
    assertOciError(
      await putRaw('stable', unknown, 'application/vnd.example.unknown+json'),
      400,
      'MANIFEST_INVALID',
    );
    assertOciError(await putRaw('stable', unknown), 400, 'MANIFEST_INVALID');
    // Neither mediaType nor a known Content-Type nor a recognisable shape.
    assertOciError(
      await putRaw('stable', JSON.stringify({ schemaVersion: 2 }), 'application/json'),
      400,
      'MANIFEST_INVALID',
    );
    await assertIntact();
  });

  await t.test('Content-Type that contradicts the mediaType: 400 MANIFEST_INVALID', async () => {
    const other = imageManifest({
      config,
      layers: [layer],
      annotations: { 'org.example.attempt': 'mismatch' },
    });
    assertOciError(await putRaw('stable', other.bytes, mt.dockerManifest), 400, 'MANIFEST_INVALID');
    assertOciError(await putRaw('stable', other.bytes, mt.ociIndex), 400, 'MANIFEST_INVALID');
    assertOciError(await putRaw(other.digest, other.bytes, mt.dockerManifest), 400, 'MANIFEST_INVALID');
    assertOciError(await registry.getManifest(name, other.digest), 404, 'MANIFEST_UNKNOWN');
    await assertIntact();
  });

  await t.test(
    'an index sent as an image manifest and an image sent as an index: 400 MANIFEST_INVALID',
    async () => {
      const index = imageIndex({ manifests: [stable], mediaType: null });
      assertOciError(await putRaw('stable', index.bytes, mt.ociManifest), 400, 'MANIFEST_INVALID');
      const image = imageManifest({ config, layers: [layer], mediaType: null });
      assertOciError(await putRaw('stable', image.bytes, mt.ociIndex), 400, 'MANIFEST_INVALID');
      // The mediaType says one thing and the shape another (CVE-2021-41190).
      const confused = JSON.stringify({
        ...stable.json,
        manifests: [{ mediaType: mt.ociManifest, digest: stable.digest, size: stable.size }],
      });
      assertOciError(await putRaw('stable', confused), 400, 'MANIFEST_INVALID');
      const confusedIndex = JSON.stringify({
        ...imageIndex({ manifests: [stable] }).json,
        config: stable.json.config,
        layers: [],
      });
      assertOciError(await putRaw('stable', confusedIndex, mt.ociIndex), 400, 'MANIFEST_INVALID');
      await assertIntact();
    },
  );

  await t.test('invalid descriptors in a manifest: 400 MANIFEST_INVALID', async () => {
    const cases = [
      { ...stable.json, config: { mediaType: mt.ociConfig, digest: 'sha256:baddigeststring', size: 1 } },
      { ...stable.json, config: { mediaType: mt.ociConfig, digest: config.digest, size: -1 } },
      { ...stable.json, config: { mediaType: mt.ociConfig, digest: config.digest } },
      { ...stable.json, layers: 'not-an-array' },
      { ...stable.json, annotations: { key: 42 } },
      { ...stable.json, subject: { mediaType: mt.ociManifest, digest: 'md5:abc', size: 1 } },
    ];
    for (const json of cases)
      assertOciError(await putRaw('stable', JSON.stringify(json)), 400, 'MANIFEST_INVALID');
    await assertIntact();
  });

  await t.test('manifest PUT by digest with a body that does not match: 400 DIGEST_INVALID', async () => {
    // The redesign's bad-digest-image: the body plus two spaces, sent to the original digest.
    assertOciError(
      await putRaw(stable.digest, Buffer.concat([stable.bytes, Buffer.from('  ')])),
      400,
      'DIGEST_INVALID',
    );
    const fresh = imageManifest({ config, layers: [layer], annotations: { 'org.example.fresh': 'yes' } });
    assertOciError(
      await putRaw(fresh.digest, Buffer.concat([fresh.bytes, Buffer.from('  ')])),
      400,
      'DIGEST_INVALID',
    );
    assertOciError(await registry.getManifest(name, fresh.digest), 404, 'MANIFEST_UNKNOWN');
    // A sha512 digest of other bytes.
    assertOciError(
      await putRaw(
        digestOf(fresh.bytes, 'sha512').replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        fresh.bytes,
      ),
      400,
      'DIGEST_INVALID',
    );
    await assertIntact();
  });

  await t.test(
    'blob upload with a digest that does not match: 400 DIGEST_INVALID, nothing stored',
    async () => {
      const blob = randomBlob(1500);
      const corrupted = Buffer.concat([blob.bytes, Buffer.from('oh no')]);
      const uploads = `/v2/${name}/blobs/uploads/`;
      // post only
      assertOciError(
        await registry.request('POST', `${uploads}?digest=${blob.digest}`, {
          body: corrupted,
          headers: octet,
        }),
        400,
        'DIGEST_INVALID',
      );
      // post + put
      assertOciError(
        await registry.request('PUT', withDigest(await startUpload(), blob.digest), {
          body: corrupted,
          headers: octet,
        }),
        400,
        'DIGEST_INVALID',
      );
      // chunked, empty final PUT
      let location = await startUpload();
      const patch = await registry.request('PATCH', location, {
        body: corrupted,
        headers: { ...octet, 'content-range': `0-${corrupted.length - 1}` },
      });
      assert.equal(patch.status, 202);
      assertOciError(
        await registry.request('PUT', withDigest(locationPath(patch.headers.get('location')), blob.digest)),
        400,
        'DIGEST_INVALID',
      );
      // chunked with the last chunk in the PUT
      location = await startUpload();
      const first = await registry.request('PATCH', location, {
        body: corrupted.subarray(0, 1000),
        headers: { ...octet, 'content-range': '0-999' },
      });
      assert.equal(first.status, 202);
      assertOciError(
        await registry.request('PUT', withDigest(location, blob.digest), {
          body: corrupted.subarray(1000),
          headers: { ...octet, 'content-range': `1000-${corrupted.length - 1}` },
        }),
        400,
        'DIGEST_INVALID',
      );
      // stream
      location = await startUpload();
      const streamed = await registry.raw('PATCH', location, {
        headers: octet,
        chunks: [corrupted.subarray(0, 700), corrupted.subarray(700)],
      });
      assert.equal(streamed.status, 202);
      assertOciError(
        await registry.request('PUT', withDigest(locationPath(header(streamed, 'location')!), blob.digest)),
        400,
        'DIGEST_INVALID',
      );
      assertOciError(await registry.getBlob(name, blob.digest), 404, 'BLOB_UNKNOWN');
      assertOciError(await registry.getBlob(name, digestOf(corrupted)), 404, 'BLOB_UNKNOWN');
      // Other bytes claiming the digest of a blob the repository has: refused, the blob unchanged.
      assertOciError(
        await registry.request('PUT', withDigest(await startUpload(), layer.digest), {
          body: randomBytes(layer.size),
        }),
        400,
        'DIGEST_INVALID',
      );
      assertOciError(
        await registry.request('POST', `${uploads}?digest=${config.digest}`, { body: 'not the config' }),
        400,
        'DIGEST_INVALID',
      );
      // Nothing at all claiming a non-empty digest.
      assertOciError(
        await registry.request('PUT', withDigest(await startUpload(), blob.digest)),
        400,
        'DIGEST_INVALID',
      );
      await assertIntact();
    },
  );

  await t.test('a failed final PUT leaves the session usable', async () => {
    const blob = randomBlob(600);
    const location = await startUpload();
    const patch = await registry.request('PATCH', location, {
      body: blob.bytes,
      headers: { ...octet, 'content-range': '0-599' },
    });
    assert.equal(patch.status, 202);
    assertOciError(
      await registry.request('PUT', withDigest(location, randomDigest())),
      400,
      'DIGEST_INVALID',
    );
    assertOciError(
      await registry.request('PUT', withDigest(location, 'md5:0123456789abcdef0123456789abcdef')),
      400,
      'DIGEST_INVALID',
    );
    const status = await registry.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-599');
    const done = await registry.request('PUT', withDigest(location, blob.digest));
    assert.equal(done.status, 201, done.body.toString());
    await assertBlob(registry, name, blob);
  });

  await t.test('invalid digest strings: 400 DIGEST_INVALID (or 404 on reads)', async () => {
    const invalid = [
      'sha256:baddigeststring',
      `md5:${'a'.repeat(32)}`,
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      `sha512:${'a'.repeat(64)}`,
      'sha256:',
    ];
    const other = imageManifest({
      config,
      layers: [layer],
      annotations: { 'org.example.attempt': 'digest' },
    });
    for (const digest of invalid) {
      assertOciError(await putRaw(digest, other.bytes), 400, 'DIGEST_INVALID');
      const get = await registry.getManifest(name, digest);
      if (get.status === 400) assertOciError(get, 400, 'DIGEST_INVALID');
      else assertOciError(get, 404, 'MANIFEST_UNKNOWN');
      assertOciError(await registry.getBlob(name, digest), 400, 'DIGEST_INVALID');
      assert.equal((await registry.getBlob(name, digest, 'HEAD')).status, 400);
      assertOciError(await registry.request('DELETE', `/v2/${name}/blobs/${digest}`), 400, 'DIGEST_INVALID');
      assertOciError(
        await registry.request('DELETE', `/v2/${name}/manifests/${digest}`),
        400,
        'DIGEST_INVALID',
      );
      assertOciError(
        await registry.request('POST', `/v2/${name}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
          body: 'x',
        }),
        400,
        'DIGEST_INVALID',
      );
      assertOciError(
        await registry.request(
          'POST',
          `/v2/${name}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${name}`,
        ),
        400,
        'DIGEST_INVALID',
      );
      assertOciError(await registry.request('GET', `/v2/${name}/referrers/${digest}`), 400, 'DIGEST_INVALID');
    }
    // A PUT of an upload without ?digest=.
    assertOciError(await registry.request('PUT', await startUpload(), { body: 'x' }), 400, 'DIGEST_INVALID');
    await assertIntact();
  });

  await t.test('a manifest over 4 MiB: 413', async () => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 430; i++) annotations[`org.example.huge.${i}`] = 'x'.repeat(10_000);
    const huge = imageManifest({ config, layers: [layer], annotations });
    assert.ok(huge.size > 4 * 1024 * 1024, `size ${huge.size}`);
    assertOciError(
      await registry.raw('PUT', `/v2/${name}/manifests/stable`, {
        body: huge.bytes,
        headers: { 'content-type': mt.ociManifest },
      }),
      413,
      'SIZE_INVALID',
      'MANIFEST_INVALID',
    );
    // Without a Content-Length (chunked transfer encoding) as well.
    const chunks = Array.from({ length: Math.ceil(huge.size / 65536) }, (_, i) =>
      huge.bytes.subarray(i * 65536, (i + 1) * 65536),
    );
    assertOciError(
      await registry.raw('PUT', `/v2/${name}/manifests/${huge.digest}`, {
        chunks,
        headers: { 'content-type': mt.ociManifest },
      }),
      413,
      'SIZE_INVALID',
      'MANIFEST_INVALID',
    );
    assertOciError(await registry.getManifest(name, huge.digest), 404, 'MANIFEST_UNKNOWN');
    await assertIntact();
  });

  await t.test(
    'bad Content-Range: malformed 400, out of order 416; the session keeps its bytes',
    async () => {
      const blob = blobOf(randomBytes(100));
      const location = await startUpload();
      const first = await registry.request('PATCH', location, {
        body: blob.bytes.subarray(0, 40),
        headers: { ...octet, 'content-range': '0-39' },
      });
      assert.equal(first.status, 202);
      for (const range of ['abc', '40-', '-59', 'bytes=a-b', '40_99', '40-99-100']) {
        assertOciError(
          await registry.request('PATCH', location, {
            body: blob.bytes.subarray(40),
            headers: { ...octet, 'content-range': range },
          }),
          400,
          'BLOB_UPLOAD_INVALID',
        );
      }
      for (const range of ['0-59', '41-99', '50-99', '60-40']) {
        const [start, end] = range.split('-').map(Number) as [number, number];
        const res = await registry.request('PATCH', location, {
          body: blob.bytes.subarray(start, Math.max(start, end) + 1),
          headers: { ...octet, 'content-range': range },
        });
        assertOciError(res, 416, 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID');
      }
      // A chunk whose length does not match its Content-Range.
      assertOciError(
        await registry.request('PATCH', location, {
          body: blob.bytes.subarray(40, 50),
          headers: { ...octet, 'content-range': '40-99' },
        }),
        416,
        'BLOB_UPLOAD_INVALID',
        'RANGE_INVALID',
      );
      // The same on the final PUT.
      assertOciError(
        await registry.request('PUT', withDigest(location, blob.digest), {
          body: blob.bytes.subarray(40),
          headers: { ...octet, 'content-range': 'garbage' },
        }),
        400,
        'BLOB_UPLOAD_INVALID',
      );
      assertOciError(
        await registry.request('PUT', withDigest(location, blob.digest), {
          body: blob.bytes.subarray(50),
          headers: { ...octet, 'content-range': '50-99' },
        }),
        416,
        'BLOB_UPLOAD_INVALID',
        'RANGE_INVALID',
      );
      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-39');
      const done = await registry.request('PUT', withDigest(location, blob.digest), {
        body: blob.bytes.subarray(40),
        headers: { ...octet, 'content-range': '40-99' },
      });
      assert.equal(done.status, 201, done.body.toString());
      await assertBlob(registry, name, blob);
      await assertIntact();
    },
  );

  await t.test('invalid repository names, path traversal included: 400 NAME_INVALID', async () => {
    const intruder = imageManifest({
      config,
      layers: [layer],
      annotations: { 'org.example.attempt': 'traversal' },
    });
    const names = [
      'admin/../admin/bad-input',
      'admin/./bad-input',
      'a/../b',
      '..',
      'A/upper',
      'admin/Bad-Input',
      'admin/bad-input/',
      '/admin/bad-input',
      'admin//bad-input',
      'admin/-leading',
      'admin/trailing-',
      'admin/a..b',
      'admin/%2e%2e/bad-input',
      `admin/${'a'.repeat(260)}`,
    ];
    for (const bad of names) {
      const base = `/v2/${bad}`;
      assertOciError(
        await registry.raw('PUT', `${base}/manifests/stable`, {
          body: intruder.bytes,
          headers: { 'content-type': mt.ociManifest },
        }),
        400,
        'NAME_INVALID',
      );
      assertOciError(await registry.raw('GET', `${base}/manifests/stable`), 400, 'NAME_INVALID');
      assertOciError(await registry.raw('GET', `${base}/blobs/${layer.digest}`), 400, 'NAME_INVALID');
      assertOciError(await registry.raw('POST', `${base}/blobs/uploads/`), 400, 'NAME_INVALID');
      assertOciError(await registry.raw('GET', `${base}/tags/list`), 400, 'NAME_INVALID');
      assertOciError(await registry.raw('GET', `${base}/referrers/${stable.digest}`), 400, 'NAME_INVALID');
    }
    assertOciError(
      await registry.request(
        'POST',
        `/v2/${name}/blobs/uploads/?mount=${layer.digest}&from=${encodeURIComponent('admin/../x')}`,
      ),
      400,
      'NAME_INVALID',
    );
    // Nothing was created under any of them.
    const catalog = (await registry.request('GET', '/v2/_catalog')).json<{ repositories: string[] }>()
      .repositories;
    assert.ok(
      catalog.every((repo) =>
        /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/.test(repo),
      ),
      catalog.join(', '),
    );
    assertOciError(await registry.getManifest(name, intruder.digest), 404, 'MANIFEST_UNKNOWN');
    await assertIntact();
  });

  await t.test('invalid tags: 400 TAG_INVALID on PUT; 128 characters is fine', async () => {
    const other = imageManifest({ config, layers: [layer], annotations: { 'org.example.attempt': 'tag' } });
    for (const tag of ['-bad', '.bad', 'a'.repeat(129), 'bad!', 'bad%20tag', 'b\u00e9d']) {
      assertOciError(
        await putRaw(encodeURIComponent(tag).replace(/%25/g, '%'), other.bytes),
        400,
        'TAG_INVALID',
      );
    }
    assertOciError(await registry.getManifest(name, other.digest), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(await registry.tagList(name), ['stable']);
    // Reading or deleting an invalid tag finds nothing.
    assertOciError(await registry.getManifest(name, '-bad'), 404, 'MANIFEST_UNKNOWN');
    const longest = 'A'.repeat(128);
    await registry.pushManifest(name, other, longest);
    await assertManifest(registry, name, longest, other);
    assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/${longest}`)).status, 202);
    assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/${other.digest}`)).status, 202);
    await assertIntact();
  });

  await t.test(
    'an upload session belongs to its repository; unknown sessions are 404 BLOB_UPLOAD_UNKNOWN',
    async () => {
      const blob = randomBlob(50);
      const location = await startUpload();
      const id = location.split('/').pop()!.split('?')[0]!;
      const elsewhere = `/v2/admin/bad-input-other/blobs/uploads/${id}`;
      await registry.pushBlob('admin/bad-input-other', randomBlob(5));
      assertOciError(
        await registry.request('PATCH', elsewhere, { body: blob.bytes, headers: octet }),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
      assertOciError(
        await registry.request('PUT', withDigest(elsewhere, blob.digest), { body: blob.bytes }),
        404,
        'BLOB_UPLOAD_UNKNOWN',
      );
      assertOciError(await registry.request('GET', elsewhere), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertOciError(await registry.request('DELETE', elsewhere), 404, 'BLOB_UPLOAD_UNKNOWN');
      assertOciError(await registry.getBlob('admin/bad-input-other', blob.digest), 404, 'BLOB_UNKNOWN');
      for (const bogus of ['0'.repeat(32), 'not-a-session', '..%2F..%2Fetc']) {
        assertOciError(
          await registry.request('GET', `/v2/${name}/blobs/uploads/${bogus}`),
          404,
          'BLOB_UPLOAD_UNKNOWN',
        );
        assertOciError(
          await registry.request('PUT', withDigest(`/v2/${name}/blobs/uploads/${bogus}`, emptyBlobDigest)),
          404,
          'BLOB_UPLOAD_UNKNOWN',
        );
      }
      // The session itself is intact.
      const done = await registry.request('PUT', withDigest(location, blob.digest), { body: blob.bytes });
      assert.equal(done.status, 201);
      await assertIntact();
    },
  );

  await t.test('methods an endpoint does not have: 405 UNSUPPORTED', async () => {
    assertOciError(
      await registry.request('POST', `/v2/${name}/manifests/stable`, { body: stable.bytes }),
      405,
      'UNSUPPORTED',
    );
    assertOciError(
      await registry.request('PUT', `/v2/${name}/blobs/${layer.digest}`, { body: layer.bytes }),
      405,
      'UNSUPPORTED',
    );
    assertOciError(await registry.request('DELETE', `/v2/${name}/tags/list`), 405, 'UNSUPPORTED');
    assertOciError(
      await registry.request('PATCH', `/v2/${name}/blobs/uploads/`, { body: 'x' }),
      405,
      'UNSUPPORTED',
    );
    await assertIntact();
  });

  await t.test('a manifest pushed to a tag after all of the above replaces it normally', async () => {
    const next = manifestOf({ ...stable.json, annotations: { 'org.example.version': '2' } });
    await registry.pushManifest(name, next, 'stable');
    await assertManifest(registry, name, 'stable', next);
    await assertManifest(registry, name, stable.digest, stable);
  });
});
