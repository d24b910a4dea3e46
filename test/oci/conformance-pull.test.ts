// The pull workflow, request by request as the distribution-spec conformance suites check it
// (legacy v1.1.1 01_pull_test.go and the redesigned blob/manifest checks, including Range).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RegistryClient } from '../support/registry-client.js';
import {
  assertBlob,
  assertManifest,
  assertOciError,
  blobOf,
  dummyDigest,
  emptyBlob,
  emptyBlobDigest,
  emptyJsonBlob,
  emptyJsonDigest,
  imageManifest,
  locationPath,
  mt,
  randomBlob,
  randomConfig,
  randomDigest,
  suite,
  withDigest,
} from './fixtures.js';

const specErrorCodes = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
];

suite('OCI conformance: pull', async (t, { server, registry }) => {
  const name = 'admin/conformance-pull';
  const configs = [randomConfig(), randomConfig()];
  const layer = randomBlob(1024);
  const manifests = configs.map((config) =>
    imageManifest({
      config,
      layers: [layer],
      // As the legacy suite: the config descriptor has a `data` field and a field no spec defines.
      configExtra: { data: config.bytes.toString('base64'), newUnspecifiedField: 'c29tZSBkYXRh' },
    }),
  );
  const [m0, m1] = manifests as [(typeof manifests)[0], (typeof manifests)[0]];

  await t.test('setup: POST+PUT config and layer blobs, PUT manifest by tag and by digest', async () => {
    for (const blob of [configs[0]!, configs[1]!, layer]) await registry.pushBlob(name, blob);
    await registry.pushManifest(name, m0, 'tagtest0');
    await registry.pushManifest(name, m1, m1.digest);
  });

  await t.test('authentication follows a Bearer challenge like docker', async () => {
    const ping = await fetch(`${server.url}/v2/`);
    assert.equal(ping.status, 401);
    const challenge = ping.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="[^"]+",service="[^"]+"/);
    const anonymous = await fetch(`${server.url}/v2/${name}/tags/list`);
    assert.equal(anonymous.status, 401);
    assert.match(
      anonymous.headers.get('www-authenticate') ?? '',
      new RegExp(`scope="repository:${name}:pull"`),
    );
    const body = (await anonymous.json()) as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]!.code, 'UNAUTHORIZED');
    // A fresh client has no token: it gets one from the challenge's realm and retries.
    const client = new RegistryClient(server.url, registry.credentials);
    assert.equal((await client.request('GET', '/v2/')).status, 200);
    const tags = await client.request('GET', `/v2/${name}/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json(), { name, tags: ['tagtest0'] });
  });

  await t.test(
    'HEAD blob: unknown 404, known 200 with Docker-Content-Digest and Content-Length',
    async () => {
      const missing = await registry.getBlob(name, dummyDigest, 'HEAD');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);
      const head = await registry.getBlob(name, configs[0]!.digest, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('docker-content-digest'), configs[0]!.digest);
      assert.equal(head.headers.get('content-length'), String(configs[0]!.size));
    },
  );

  await t.test('GET blob: unknown 404 BLOB_UNKNOWN, known 200 with exactly the pushed bytes', async () => {
    assertOciError(await registry.getBlob(name, dummyDigest), 404, 'BLOB_UNKNOWN');
    for (const blob of [configs[0]!, configs[1]!, layer]) await assertBlob(registry, name, blob);
  });

  await t.test('blobs are scoped to their repository', async () => {
    const other = 'admin/conformance-pull-other';
    const blob = randomBlob(64);
    await registry.pushBlob(other, blob);
    assertOciError(await registry.getBlob(name, blob.digest), 404, 'BLOB_UNKNOWN');
    assert.equal((await registry.getBlob(name, blob.digest, 'HEAD')).status, 404);
    await assertBlob(registry, other, blob);
  });

  await t.test('well-known blobs: zero bytes and the empty JSON {}', async () => {
    const empty = emptyBlob();
    assert.equal(empty.digest, emptyBlobDigest);
    await registry.pushBlob(name, empty);
    const head = await registry.getBlob(name, emptyBlobDigest, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '0');
    assert.equal(head.headers.get('docker-content-digest'), emptyBlobDigest);
    const get = await registry.getBlob(name, emptyBlobDigest);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-length'), '0');
    assert.equal(get.body.length, 0);

    // Monolithic, with an empty body.
    const post = await registry.request(
      'POST',
      `/v2/admin/conformance-pull-empty/blobs/uploads/?digest=${emptyBlobDigest}`,
      {
        headers: { 'content-length': '0' },
      },
    );
    assert.equal(post.status, 201, post.body.toString());
    const emptyGet = await registry.getBlob('admin/conformance-pull-empty', emptyBlobDigest);
    assert.equal(emptyGet.status, 200);
    assert.equal(emptyGet.headers.get('content-length'), '0');

    const emptyJson = emptyJsonBlob();
    assert.equal(emptyJson.digest, emptyJsonDigest);
    await registry.pushBlob(name, emptyJson);
    await assertBlob(registry, name, emptyJson);
  });

  await t.test('Range requests on blob GET', async () => {
    const blob = blobOf(randomBytes(2048));
    await registry.pushBlob(name, blob);
    const range = (value: string) => registry.getBlob(name, blob.digest, 'GET', { range: value });
    const partial = async (value: string, start: number, end: number) => {
      const res = await range(value);
      assert.equal(res.status, 206, `${value}: ${res.status}`);
      assert.ok(
        [`bytes ${start}-${end}/2048`, `bytes ${start}-${end}/*`].includes(
          res.headers.get('content-range') ?? '',
        ),
        `${value}: Content-Range ${res.headers.get('content-range')}`,
      );
      assert.equal(res.headers.get('content-length'), String(end - start + 1));
      assert.ok(res.body.equals(blob.bytes.subarray(start, end + 1)), `${value}: the asked bytes`);
    };
    await partial('bytes=500-1499', 500, 1499);
    await partial('bytes=500-', 500, 2047);
    await partial('bytes=-500', 1548, 2047);
    await partial('bytes=2000-5000', 2000, 2047);
    await partial('bytes=0-0', 0, 0);
    await partial('bytes=2047-2047', 2047, 2047);
    for (const value of ['bytes=500-0', 'bytes=5000-10000', 'bytes=2048-']) {
      const res = await range(value);
      assert.equal(res.status, 416, `${value}: ${res.status}`);
      assert.equal(res.headers.get('content-range'), 'bytes */2048');
    }
    // Without Range: the whole blob.
    const whole = await registry.getBlob(name, blob.digest);
    assert.equal(whole.status, 200);
    assert.ok(whole.body.equals(blob.bytes));
  });

  await t.test('HEAD manifest: invalid or unknown reference 404, by digest and by tag 200', async () => {
    const invalid = await registry.getManifest(name, '.INVALID_MANIFEST_NAME', 'HEAD');
    assert.equal(invalid.status, 404);
    assert.equal((await registry.getManifest(name, randomDigest(), 'HEAD')).status, 404);
    assert.equal((await registry.getManifest(name, 'missing-tag', 'HEAD')).status, 404);
    for (const [reference, manifest] of [
      [m0.digest, m0],
      [m1.digest, m1],
      ['tagtest0', m0],
    ] as const) {
      const head = await registry.request('HEAD', `/v2/${name}/manifests/${reference}`, {
        headers: { accept: mt.ociManifest },
      });
      assert.equal(head.status, 200, reference);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('docker-content-digest'), manifest.digest);
      assert.equal(head.headers.get('content-length'), String(manifest.size));
      assert.equal(head.headers.get('content-type'), mt.ociManifest);
    }
  });

  await t.test(
    'GET manifest: invalid or unknown reference 404, by digest and by tag the exact bytes',
    async () => {
      assertOciError(await registry.getManifest(name, '.INVALID_MANIFEST_NAME'), 404, 'MANIFEST_UNKNOWN');
      assertOciError(await registry.getManifest(name, randomDigest()), 404, 'MANIFEST_UNKNOWN');
      assertOciError(await registry.getManifest(name, `missing-${Date.now()}`), 404, 'MANIFEST_UNKNOWN');
      await assertManifest(registry, name, m0.digest, m0);
      await assertManifest(registry, name, m1.digest, m1);
      await assertManifest(registry, name, 'tagtest0', m0);
      // The `data` and unknown fields come back as pushed.
      const config = (
        JSON.parse((await registry.getManifest(name, m0.digest)).body.toString()) as {
          config: Record<string, unknown>;
        }
      ).config;
      assert.equal(config.newUnspecifiedField, 'c29tZSBkYXRh');
      assert.equal(config.data, configs[0]!.bytes.toString('base64'));
    },
  );

  await t.test('error codes: GET manifests/sha256:totallywrong is 400 (spec code) or 404', async () => {
    const res = await registry.request('GET', `/v2/${name}/manifests/sha256:totallywrong`, {
      headers: { 'content-type': 'application/json' },
    });
    assert.ok([400, 404].includes(res.status), `status ${res.status}`);
    if (res.status === 400) assertOciError(res, 400, ...specErrorCodes);
  });

  await t.test('a manifest of an unknown repository is 404', async () => {
    const res = await registry.getManifest('admin/never-pushed', 'latest');
    assert.equal(res.status, 404);
  });

  await t.test('a blob pushed with a sha512 digest is pulled by it', async () => {
    const blob = randomBlob(300, mt.ociLayerGzip, 'sha512');
    const start = await registry.request('POST', `/v2/${name}/blobs/uploads/`);
    const done = await registry.request(
      'PUT',
      withDigest(locationPath(start.headers.get('location')), blob.digest),
      { body: blob.bytes },
    );
    assert.equal(done.status, 201, done.body.toString());
    await assertBlob(registry, name, blob);
  });

  await t.test('teardown: DELETE manifests by digest, then blobs', async () => {
    for (const manifest of [m0, m1])
      assert.equal(
        (await registry.request('DELETE', `/v2/${name}/manifests/${manifest.digest}`)).status,
        202,
      );
    for (const blob of [configs[0]!, configs[1]!, layer]) {
      assert.equal((await registry.request('DELETE', `/v2/${name}/blobs/${blob.digest}`)).status, 202);
    }
    assertOciError(await registry.getManifest(name, m0.digest), 404, 'MANIFEST_UNKNOWN');
    assertOciError(await registry.getManifest(name, 'tagtest0'), 404, 'MANIFEST_UNKNOWN');
    assertOciError(await registry.getBlob(name, layer.digest), 404, 'BLOB_UNKNOWN');
  });
});
