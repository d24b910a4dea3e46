// The content discovery workflow as the distribution-spec conformance suites check it: tags list with
// n/last/Link, the catalog, and the referrers API (legacy 03_discovery_test.go, redesign referrer data sets).
import assert from 'node:assert/strict';
import {
  assertManifest,
  assertOciError,
  dummyDigest,
  emptyJsonBlob,
  emptyJsonDigest,
  imageIndex,
  imageManifest,
  mt,
  randomBlob,
  randomConfig,
  randomDigest,
  suite,
  type Manifest,
} from './fixtures.js';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<{
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }>;
}

const annotationKey = 'org.opencontainers.conformance.test';

suite('OCI conformance: content discovery', async (t, { registry }) => {
  const name = 'admin/conformance-discovery';
  const config = randomConfig();
  const layer = randomBlob(512);
  const m2 = imageManifest({ config, layers: [layer] });
  const tags = ['test0', 'test1', 'test2', 'test3', 'TEST0', 'TEST1', 'TEST2', 'TEST3'];

  const referrers = async (repo: string, digest: string, query = '') => {
    const res = await registry.request('GET', `/v2/${repo}/referrers/${digest}${query}`);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers.get('content-type'), mt.ociIndex);
    const body = res.json<ReferrersIndex>();
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, mt.ociIndex);
    assert.ok(Array.isArray(body.manifests));
    return { res, body };
  };

  await t.test(
    'empty repository: tags list is 404 NAME_UNKNOWN (or an empty 200), referrers an empty index',
    async () => {
      const list = await registry.tags('admin/conformance-discovery-empty');
      if (list.status === 200) assert.deepEqual(list.json<{ tags: string[] }>().tags, []);
      else assertOciError(list, 404, 'NAME_UNKNOWN');
      const { body } = await referrers('admin/conformance-discovery-empty', randomDigest());
      assert.deepEqual(body.manifests, []);
    },
  );

  await t.test('setup: config, layer, and one manifest under eight mixed-case tags', async () => {
    await registry.pushBlobs(name, config, layer);
    for (const tag of tags) await registry.pushManifest(name, m2, tag);
  });

  await t.test('tags list: all tags, sorted in byte order', async () => {
    const res = await registry.tags(name);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(res.json(), { name, tags: [...tags].sort() });
    assert.equal(res.headers.get('link'), null);
  });

  await t.test('tags list: n, last and the Link header', async () => {
    const sorted = [...tags].sort();
    const half = sorted.length / 2;
    const page1 = await registry.tags(name, `?n=${half}`);
    assert.equal(page1.status, 200);
    assert.deepEqual(page1.json<{ tags: string[] }>().tags, sorted.slice(0, half));
    const last = sorted[half - 1]!;
    assert.equal(page1.headers.get('link'), `</v2/${name}/tags/list?last=${last}&n=${half}>; rel="next"`);
    // Following the Link gives the rest, and never `last` itself.
    const next = /^<([^>]+)>; rel="next"$/.exec(page1.headers.get('link')!)![1]!;
    const page2 = await registry.request('GET', next);
    assert.equal(page2.status, 200);
    const rest = page2.json<{ tags: string[] }>().tags;
    assert.deepEqual(rest, sorted.slice(half));
    assert.ok(!rest.includes(last));
    assert.equal(page2.headers.get('link'), null, 'no Link on the last page');
    // n=2 pages through everything.
    const seen: string[] = [];
    let path: string | undefined = `/v2/${name}/tags/list?n=3`;
    while (path) {
      const page = await registry.request('GET', path);
      assert.equal(page.status, 200);
      const pageTags = page.json<{ tags: string[] }>().tags;
      assert.ok(pageTags.length <= 3);
      seen.push(...pageTags);
      path = /^<([^>]+)>; rel="next"$/.exec(page.headers.get('link') ?? '')?.[1];
    }
    assert.deepEqual(seen, sorted);
    // `last` without n; a `last` that is not a tag of the repository.
    assert.deepEqual((await registry.tags(name, '?last=TEST3')).json<{ tags: string[] }>().tags, [
      'test0',
      'test1',
      'test2',
      'test3',
    ]);
    assert.deepEqual((await registry.tags(name, '?last=test10')).json<{ tags: string[] }>().tags, [
      'test2',
      'test3',
    ]);
    assert.deepEqual((await registry.tags(name, '?last=zzz')).json<{ tags: string[] }>().tags, []);
    // n larger than the list: everything, no Link.
    const all = await registry.tags(name, '?n=100');
    assert.deepEqual(all.json<{ tags: string[] }>().tags, sorted);
    assert.equal(all.headers.get('link'), null);
    // Exactly n left: no Link either.
    const exact = await registry.tags(name, `?n=${sorted.length}`);
    assert.equal(exact.json<{ tags: string[] }>().tags.length, sorted.length);
    assert.equal(exact.headers.get('link'), null);
  });

  await t.test(
    'tags list: n=0 is an empty list without Link; a bad n is 400 PAGINATION_NUMBER_INVALID',
    async () => {
      const zero = await registry.tags(name, '?n=0');
      assert.equal(zero.status, 200);
      assert.deepEqual(zero.json(), { name, tags: [] });
      assert.equal(zero.headers.get('link'), null);
      for (const n of ['-1', 'abc', '1.5', '1e3']) {
        assertOciError(
          await registry.tags(name, `?n=${encodeURIComponent(n)}`),
          400,
          'PAGINATION_NUMBER_INVALID',
        );
      }
    },
  );

  await t.test('catalog: sorted, n/last with a Link header, n=0, bad n', async () => {
    const extra = [
      'admin/conformance-discovery-cat-a',
      'admin/conformance-discovery-cat-b',
      'admin/conformance-discovery-cat-c',
    ];
    for (const repo of extra) await registry.pushBlob(repo, randomBlob(8));
    const full = await registry.request('GET', '/v2/_catalog');
    assert.equal(full.status, 200, full.body.toString());
    const repositories = full.json<{ repositories: string[] }>().repositories;
    for (const repo of [name, ...extra]) assert.ok(repositories.includes(repo), repo);
    assert.deepEqual(repositories, [...repositories].sort());
    const first = await registry.request('GET', '/v2/_catalog?n=2');
    assert.deepEqual(first.json<{ repositories: string[] }>().repositories, repositories.slice(0, 2));
    assert.equal(
      first.headers.get('link'),
      `</v2/_catalog?last=${encodeURIComponent(repositories[1]!)}&n=2>; rel="next"`,
    );
    const seen: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=2';
    while (path) {
      const page = await registry.request('GET', path);
      assert.equal(page.status, 200);
      const names = page.json<{ repositories: string[] }>().repositories;
      assert.ok(names.length <= 2);
      seen.push(...names);
      path = /^<([^>]+)>; rel="next"$/.exec(page.headers.get('link') ?? '')?.[1];
    }
    assert.deepEqual(seen, repositories);
    const afterLast = await registry.request('GET', `/v2/_catalog?last=${encodeURIComponent(extra[0]!)}`);
    assert.deepEqual(
      afterLast.json<{ repositories: string[] }>().repositories,
      repositories.filter((r) => r > extra[0]!),
    );
    const zero = await registry.request('GET', '/v2/_catalog?n=0');
    assert.equal(zero.status, 200);
    assert.deepEqual(zero.json(), { repositories: [] });
    assert.equal(zero.headers.get('link'), null);
    assertOciError(await registry.request('GET', '/v2/_catalog?n=x'), 400, 'PAGINATION_NUMBER_INVALID');
  });

  // Referrers, as the legacy suite sets them up: three referrers pushed before their subject exists,
  // two after, and one whose subject is never pushed.
  const emptyJson = emptyJsonBlob();
  const refBlobA = randomBlob(64, 'application/vnd.nhl.peanut.butter.bagel');
  const refBlobB = randomBlob(64, 'application/vnd.nba.strawberry.jam.croissant');
  const config4 = randomConfig();
  const config3 = randomConfig();
  const m4 = imageManifest({ config: config4, layers: [layer] });
  const m3 = imageManifest({ config: config3, layers: [layer] });
  const typeA = 'application/vnd.nhl.peanut.butter.bagel';
  const typeB = 'application/vnd.nba.strawberry.jam.croissant';
  const annotated = (value: string) => ({ [annotationKey]: value });
  const aConfig = imageManifest({
    config: { ...emptyJson, mediaType: typeA },
    layers: [emptyJson],
    subject: m4,
    annotations: annotated('test config a'),
  });
  const aLayer = imageManifest({
    config: emptyJson,
    layers: [refBlobA],
    artifactType: typeA,
    subject: m4,
    annotations: annotated('test layer a'),
  });
  const aIndex = imageIndex({
    manifests: [aConfig, aLayer],
    artifactType: 'application/vnd.food.stand',
    subject: m4,
    annotations: annotated('test index'),
  });
  const bConfig = imageManifest({
    config: { ...emptyJson, mediaType: typeB },
    layers: [emptyJson],
    subject: m4,
    annotations: annotated('test config b'),
  });
  const bLayer = imageManifest({
    config: emptyJson,
    layers: [refBlobB],
    artifactType: typeB,
    subject: m4,
    annotations: annotated('test layer b'),
  });
  const cLayer = imageManifest({
    config: emptyJson,
    layers: [refBlobB],
    artifactType: typeB,
    subject: m3,
    annotations: annotated('test layer c'),
  });

  const putReferrer = async (manifest: Manifest, subject: Manifest) => {
    const res = await registry.pushManifest(name, manifest);
    assert.equal(res.headers.get('oci-subject'), subject.digest);
  };

  await t.test('referrers setup: PUT by digest before the subject exists returns OCI-Subject', async () => {
    const put = await registry.pushBlob(name, emptyJson);
    assert.equal(put.headers.get('docker-content-digest'), emptyJsonDigest);
    await registry.pushBlob(name, refBlobA);
    for (const manifest of [aConfig, aLayer, aIndex]) await putReferrer(manifest, m4);
    assertOciError(await registry.getManifest(name, m4.digest), 404, 'MANIFEST_UNKNOWN');
    // Already listed while the subject is missing.
    const { body } = await referrers(name, m4.digest);
    assert.deepEqual(
      new Set(body.manifests.map((m) => m.digest)),
      new Set([aConfig.digest, aLayer.digest, aIndex.digest]),
    );
  });

  await t.test(
    'referrers setup: subject pushed, then more referrers, and one whose subject never comes',
    async () => {
      await registry.pushBlobs(name, config4, refBlobB);
      const res = await registry.pushManifest(name, m4, 'tagtest0');
      assert.equal(res.headers.get('oci-subject'), null, 'no OCI-Subject without a subject');
      for (const manifest of [bConfig, bLayer]) await putReferrer(manifest, m4);
      await putReferrer(cLayer, m3);
      for (const manifest of [aConfig, aLayer, aIndex, bConfig, bLayer, cLayer])
        await assertManifest(registry, name, manifest.digest, manifest);
    },
  );

  await t.test('referrers of an unknown digest: 200 with an empty index', async () => {
    const { body } = await referrers(name, dummyDigest);
    assert.deepEqual(body, { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [] });
    const sha512 = await referrers(name, randomDigest('sha512'));
    assert.deepEqual(sha512.body.manifests, []);
  });

  await t.test(
    'referrers of the subject: the five, each with its descriptor and exactly its annotations',
    async () => {
      const { body } = await referrers(name, m4.digest);
      assert.equal(body.manifests.length, 5);
      assert.notEqual(body.manifests[0]!.digest, body.manifests[1]!.digest);
      const expected = [
        { manifest: aConfig, artifactType: typeA, annotation: 'test config a' },
        { manifest: aLayer, artifactType: typeA, annotation: 'test layer a' },
        { manifest: aIndex, artifactType: 'application/vnd.food.stand', annotation: 'test index' },
        { manifest: bConfig, artifactType: typeB, annotation: 'test config b' },
        { manifest: bLayer, artifactType: typeB, annotation: 'test layer b' },
      ];
      for (const { manifest, artifactType, annotation } of expected) {
        const entry = body.manifests.find((m) => m.digest === manifest.digest);
        assert.ok(entry, `referrer ${manifest.digest} is listed`);
        assert.deepEqual(entry, {
          mediaType: manifest.mediaType,
          digest: manifest.digest,
          size: manifest.size,
          artifactType,
          annotations: { [annotationKey]: annotation },
        });
      }
    },
  );

  await t.test('referrers ?artifactType= filter sets OCI-Filters-Applied', async () => {
    const a = await referrers(name, m4.digest, `?artifactType=${encodeURIComponent(typeA)}`);
    assert.equal(a.res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      new Set(a.body.manifests.map((m) => m.digest)),
      new Set([aConfig.digest, aLayer.digest]),
    );
    const index = await referrers(
      name,
      m4.digest,
      `?artifactType=${encodeURIComponent('application/vnd.food.stand')}`,
    );
    assert.deepEqual(
      index.body.manifests.map((m) => m.digest),
      [aIndex.digest],
    );
    const none = await referrers(name, m4.digest, '?artifactType=application/vnd.example.none');
    assert.equal(none.res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(none.body.manifests, []);
    const unfiltered = await referrers(name, m4.digest);
    assert.equal(unfiltered.res.headers.get('oci-filters-applied'), null);
  });

  await t.test('referrers of a subject that was never pushed: exactly the one', async () => {
    assertOciError(await registry.getManifest(name, m3.digest), 404, 'MANIFEST_UNKNOWN');
    const { body } = await referrers(name, m3.digest);
    assert.deepEqual(body.manifests, [
      {
        mediaType: mt.ociManifest,
        digest: cLayer.digest,
        size: cLayer.size,
        artifactType: typeB,
        annotations: { [annotationKey]: 'test layer c' },
      },
    ]);
  });

  await t.test('artifactType falls back to config.mediaType; an index without one has none', async () => {
    const subject = imageManifest({ config, layers: [layer], annotations: { 'org.example.subject': 'yes' } });
    await registry.pushManifest(name, subject, 'subject-image');
    // Images with a subject but no artifactType: the OCI image config type.
    const art1 = imageManifest({
      config,
      layers: [layer],
      subject,
      annotations: { 'org.example.unique': 'one' },
    });
    const art2 = imageManifest({
      config,
      layers: [layer],
      subject,
      annotations: { 'org.example.unique': 'two', 'org.example.other': 'x' },
    });
    const res1 = await registry.pushManifest(name, art1, 'tagged-artifact1');
    assert.equal(res1.headers.get('oci-subject'), subject.digest);
    await registry.pushManifest(name, art2, 'tagged-artifact2');
    // An index with a subject and no artifactType.
    const index = imageIndex({ manifests: [art1], subject });
    await registry.pushManifest(name, index, 'index-with-subject');
    // A referrer without annotations has none in its descriptor.
    const bare = imageManifest({
      config: emptyJson,
      layers: [emptyJson],
      artifactType: 'application/vnd.example.bare',
      subject,
    });
    await registry.pushManifest(name, bare);
    const { body } = await referrers(name, subject.digest);
    const byDigest = new Map(body.manifests.map((m) => [m.digest, m]));
    assert.equal(body.manifests.length, 4);
    assert.deepEqual(byDigest.get(art1.digest), {
      mediaType: mt.ociManifest,
      digest: art1.digest,
      size: art1.size,
      artifactType: mt.ociConfig,
      annotations: { 'org.example.unique': 'one' },
    });
    assert.deepEqual(byDigest.get(art2.digest)?.annotations, {
      'org.example.unique': 'two',
      'org.example.other': 'x',
    });
    assert.deepEqual(byDigest.get(index.digest), {
      mediaType: mt.ociIndex,
      digest: index.digest,
      size: index.size,
    });
    assert.deepEqual(byDigest.get(bare.digest), {
      mediaType: mt.ociManifest,
      digest: bare.digest,
      size: bare.size,
      artifactType: 'application/vnd.example.bare',
    });
    const filtered = await referrers(
      name,
      subject.digest,
      `?artifactType=${encodeURIComponent(mt.ociConfig)}`,
    );
    assert.deepEqual(
      new Set(filtered.body.manifests.map((m) => m.digest)),
      new Set([art1.digest, art2.digest]),
    );
    // The subject's own annotations are not a referrer's.
    assert.ok(!body.manifests.some((m) => m.annotations?.['org.example.subject']));
  });

  await t.test('referrers are per repository; a deleted referrer leaves the list', async () => {
    const other = 'admin/conformance-discovery-other';
    const { body: elsewhere } = await referrers(other, m4.digest);
    assert.deepEqual(elsewhere.manifests, []);
    assert.equal((await registry.request('DELETE', `/v2/${name}/manifests/${bLayer.digest}`)).status, 202);
    const { body } = await referrers(name, m4.digest);
    assert.equal(body.manifests.length, 4);
    assert.ok(!body.manifests.some((m) => m.digest === bLayer.digest));
  });

  await t.test('referrers with a malformed digest: 400 DIGEST_INVALID', async () => {
    assertOciError(
      await registry.request('GET', `/v2/${name}/referrers/sha256:baddigeststring`),
      400,
      'DIGEST_INVALID',
    );
    assertOciError(
      await registry.request('GET', `/v2/${name}/referrers/md5:${'a'.repeat(32)}`),
      400,
      'DIGEST_INVALID',
    );
  });

  await t.test('teardown: every manifest by digest, then the blobs', async () => {
    for (const manifest of [aIndex, aConfig, aLayer, bConfig, cLayer, m4, m2]) {
      assert.equal(
        (await registry.request('DELETE', `/v2/${name}/manifests/${manifest.digest}`)).status,
        202,
        manifest.digest,
      );
    }
    assertOciError(await registry.getManifest(name, 'test0'), 404, 'MANIFEST_UNKNOWN');
    const { body } = await referrers(name, m4.digest);
    assert.deepEqual(body.manifests, []);
  });
});
