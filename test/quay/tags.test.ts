// Tags, manifests, labels and the security endpoint of the Quay API, on both databases:
// history, create/move, expiration (an expired tag is no longer served by /v2/), immutability,
// delete (consistent with /v2/), restore, the time machine, manifest details and labels.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/platform/clock.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ociConfig, ociManifest, pushImage, pushIndex, type PushedImage } from './push.js';

const repo = 'tagorg/app';
const base = `/repository/${repo}`;
const emptyLayer = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const rfc2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/;

forEachDatabase((database) => {
  describe(`Quay tags and manifests on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    const clock = new ManualClock();
    let owner: QuayClient; // organization admin
    let writer: QuayClient;
    let reader: QuayClient;
    let outsider: QuayClient;
    let superuser: QuayClient;
    let readOnlyToken: QuayClient; // the writer with a repo:read token
    const anonymous = () => new QuayClient(server.url);
    let registry: RegistryClient;
    let img1: PushedImage;
    let img2: PushedImage;

    const tick = () => clock.advance(1000);
    const nowS = () => Math.floor(clock.now() / 1000);
    const v2 = (method: string, path: string, accept = ociManifest) =>
      registry.request(method, `/v2/${repo}/${path}`, { headers: { accept } });
    const history = async (query = '') => {
      const res = await owner.get(`${base}/tag/${query}`);
      assert.equal(res.status, 200, res.text);
      return res.body as { tags: Array<Record<string, any>>; page: number; has_additional: boolean };
    };

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database, clock });
      const { identity } = server.services;
      owner = (await userWithToken(server, 'towner')).client;
      writer = (await userWithToken(server, 'twriter')).client;
      reader = (await userWithToken(server, 'treader')).client;
      outsider = (await userWithToken(server, 'toutsider')).client;
      readOnlyToken = (await userWithToken(server, 'twriter', ['repo:read'])).client;
      superuser = (await userWithToken(server, 'admin')).client;
      await identity.createOrganization({ name: 'tagorg', owner: (await identity.getUserByName('towner'))! });
      const created = await owner.post('/repository', {
        namespace: 'tagorg',
        repository: 'app',
        visibility: 'private',
        description: 'tags under test',
      });
      assert.equal(created.status, 201, created.text);
      assert.equal((await owner.put(`${base}/permissions/user/twriter`, { role: 'write' })).status, 200);
      assert.equal((await owner.put(`${base}/permissions/user/treader`, { role: 'read' })).status, 200);
      registry = new RegistryClient(server.url, { username: 'towner', password: 'towner-password-1' });
      img1 = await pushImage(registry, repo, 'v1');
      tick();
      img2 = await pushImage(registry, repo, 'v1'); // moves v1
      tick();
      assert.equal((await registry.pushManifest(repo, 'latest', img2.bytes, ociManifest)).status, 201);
      tick();
    });
    after(() => server?.close());

    test('history lists pushes and moves newest first, with Quay fields', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { tags, page, has_additional } = await history();
      assert.equal(page, 1);
      assert.equal(has_additional, false);
      assert.deepEqual(
        tags.map((x) => [x.name, x.manifest_digest, 'end_ts' in x]),
        [
          ['latest', img2.digest, false],
          ['v1', img2.digest, false],
          ['v1', img1.digest, true],
        ],
      );
      const [latest, , ended] = tags;
      assert.deepEqual(Object.keys(latest!), [
        'name',
        'reversion',
        'immutable',
        'start_ts',
        'manifest_digest',
        'is_manifest_list',
        'size',
        'last_modified',
      ]);
      assert.equal(latest!.reversion, false);
      assert.equal(latest!.is_manifest_list, false);
      assert.equal(latest!.size, img2.layerSize);
      assert.match(latest!.last_modified, rfc2822);
      assert.equal(typeof latest!.start_ts, 'number');
      assert.ok(ended!.end_ts >= ended!.start_ts);
      assert.match(ended!.expiration, rfc2822);

      assert.equal((await history('?onlyActiveTags=true')).tags.length, 2);
      assert.equal((await history('?specificTag=v1')).tags.length, 2);
      assert.deepEqual(
        (await history('?filter_tag_name=like:ATE')).tags.map((x) => x.name),
        ['latest'],
        'like: matches part of the name in any case',
      );
      assert.equal((await history('?filter_tag_name=eq:v1')).tags.length, 2);
      const paged = await history('?limit=1&page=2');
      assert.deepEqual([paged.tags.length, paged.page, paged.has_additional], [1, 2, true]);
      assert.equal((await history('?limit=1&page=3')).has_additional, false);
      assert.equal((await history('?limit=500')).tags.length, 3, 'limit is clamped to 100');
      const noSlash = await owner.get(`${base}/tag?onlyActiveTags=true`);
      assert.equal(noSlash.status, 200);

      const badFilter = await owner.get(`${base}/tag/?filter_tag_name=nocolon`);
      assert.equal(badFilter.status, 400);
      assert.match(badFilter.body.message, /filter_tag_name/);
      const badLimit = await owner.get(`${base}/tag/?limit=many`);
      assert.equal(badLimit.status, 400);
      assert.match(badLimit.body.detail, /limit/);
    });

    test('tag list: who may read it', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assert.equal((await anonymous().get(`${base}/tag/`)).status, 401);
      assert.equal((await outsider.get(`${base}/tag/`)).status, 403);
      assert.equal((await reader.get(`${base}/tag/`)).status, 200);
      assert.equal((await readOnlyToken.get(`${base}/tag/`)).status, 200);
      assert.equal((await superuser.get(`${base}/tag/`)).status, 200);
      const { client: noRepoScope } = await userWithToken(server, 'treader', ['user:read']);
      assert.equal((await noRepoScope.get(`${base}/tag/`)).status, 403);
      // A missing repository looks like a forbidden one, except to the namespace's admins.
      assert.equal((await outsider.get('/repository/tagorg/nothing/tag/')).status, 403);
      assert.equal((await owner.get('/repository/tagorg/nothing/tag/')).status, 404);
    });

    test('PUT creates or moves a tag; /v2/ serves it; bad input names the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await writer.put(`${base}/tag/stable`, { manifest_digest: img1.digest });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.text, '"Updated"');
      assert.match(created.headers.get('content-type') ?? '', /application\/json/);
      let pulled = await v2('GET', 'manifests/stable');
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), img1.digest);
      tick();
      assert.equal((await writer.put(`${base}/tag/stable`, { manifest_digest: img2.digest })).status, 201);
      pulled = await v2('GET', 'manifests/stable');
      assert.equal(pulled.headers.get('docker-content-digest'), img2.digest);
      const rows = (await history('?specificTag=stable')).tags;
      assert.deepEqual(
        rows.map((r) => [r.manifest_digest, 'end_ts' in r]),
        [
          [img2.digest, false],
          [img1.digest, true],
        ],
      );

      const unknown = await writer.put(`${base}/tag/stable`, { manifest_digest: `sha256:${'0'.repeat(64)}` });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error_type, 'not_found');
      assert.equal((await writer.put(`${base}/tag/stable`, { manifest_digest: null })).status, 404);
      const badName = await writer.put(`${base}/tag/-bad`, { manifest_digest: img1.digest });
      assert.equal(badName.status, 400);
      assert.match(badName.body.message, /Invalid tag/);
      assert.match(badName.body.detail, /tag/);
      const badExpiration = await writer.put(`${base}/tag/stable`, { expiration: 'tomorrow' });
      assert.equal(badExpiration.status, 400);
      assert.match(badExpiration.body.detail, /expiration/);
      const badDigestType = await writer.put(`${base}/tag/stable`, { manifest_digest: { digest: 'x' } });
      assert.equal(badDigestType.status, 400);
      assert.match(badDigestType.body.detail, /manifest_digest/);

      assert.equal((await reader.put(`${base}/tag/x`, { manifest_digest: img1.digest })).status, 403);
      assert.equal((await anonymous().put(`${base}/tag/x`, { manifest_digest: img1.digest })).status, 401);
      assert.equal((await readOnlyToken.put(`${base}/tag/x`, { manifest_digest: img1.digest })).status, 403);
      assert.equal((await outsider.put(`${base}/tag/x`, { manifest_digest: img1.digest })).status, 403);
      assert.equal(
        (await superuser.put(`${base}/tag/bysuper`, { manifest_digest: img1.digest })).status,
        201,
      );
    });

    test('expiration: shown on the tag, clamped to at least an hour; an expired tag is no longer served', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const first = await writer.put(`${base}/tag/shortlived`, { manifest_digest: img1.digest });
      assert.equal(first.status, 201, first.text);
      const start = nowS();
      const past = await writer.put(`${base}/tag/shortlived`, { expiration: start - 10 });
      assert.equal(past.status, 400);
      assert.match(past.body.detail, /expiration/);
      assert.equal((await writer.put(`${base}/tag/nosuchtag`, { expiration: start + 7200 })).status, 404);

      const soon = await writer.put(`${base}/tag/shortlived`, { expiration: start + 60 });
      assert.equal(soon.status, 201, soon.text);
      let [row] = (await history('?specificTag=shortlived')).tags;
      assert.equal(row!.end_ts, start + 3600, 'an expiration sooner than an hour becomes an hour');
      assert.match(row!.expiration, rfc2822);
      assert.equal((await writer.put(`${base}/tag/shortlived`, { expiration: null })).status, 201);
      [row] = (await history('?specificTag=shortlived')).tags;
      assert.ok(!('end_ts' in row!) && !('expiration' in row!), 'null removes the expiration');

      assert.equal((await writer.put(`${base}/tag/shortlived`, { expiration: start + 7200 })).status, 201);
      assert.equal((await v2('GET', 'manifests/shortlived')).status, 200, 'served until it expires');
      clock.advance(3 * 3600 * 1000);
      assert.equal((await v2('GET', 'manifests/shortlived')).status, 404);
      assert.equal((await v2('HEAD', 'manifests/shortlived')).status, 404);
      const listed = (await v2('GET', 'tags/list')).json<{ tags: string[] }>();
      assert.ok(!listed.tags.includes('shortlived'));
      assert.ok(!(await history('?onlyActiveTags=true')).tags.some((x) => x.name === 'shortlived'));
      [row] = (await history('?specificTag=shortlived')).tags;
      assert.equal(row!.end_ts, start + 7200);
      assert.equal((await writer.put(`${base}/tag/shortlived`, { expiration: nowS() + 7200 })).status, 404);
      assert.equal((await writer.delete(`${base}/tag/shortlived`)).status, 404);

      // Pointing it again starts a new entry; the expired one keeps its end.
      assert.equal(
        (await writer.put(`${base}/tag/shortlived`, { manifest_digest: img2.digest })).status,
        201,
      );
      assert.equal((await v2('GET', 'manifests/shortlived')).status, 200);
      const rows = (await history('?specificTag=shortlived')).tags;
      assert.equal(rows[0]!.manifest_digest, img2.digest);
      assert.equal(rows[1]!.end_ts, start + 7200);
      tick();
    });

    test('immutable tags refuse moves, deletes and expiration on both faces; unsetting takes admin', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assert.equal((await writer.put(`${base}/tag/frozen`, { manifest_digest: img1.digest })).status, 201);
      assert.equal((await writer.put(`${base}/tag/frozen`, { immutable: true })).status, 201);
      assert.equal((await history('?specificTag=frozen')).tags[0]!.immutable, true);

      const del = await writer.delete(`${base}/tag/frozen`);
      assert.equal(del.status, 409);
      assert.equal(del.body.error_type, 'tag_immutable');
      assert.equal(del.body.detail, "Cannot delete immutable tag 'frozen'");
      assert.equal((await v2('DELETE', 'manifests/frozen')).status, 409);
      assert.notEqual((await registry.pushManifest(repo, 'frozen', img2.bytes, ociManifest)).status, 201);
      const move = await writer.put(`${base}/tag/frozen`, { manifest_digest: img2.digest });
      assert.equal(move.status, 409);
      assert.equal(move.body.detail, "Cannot overwrite immutable tag 'frozen'");
      assert.equal((await writer.put(`${base}/tag/frozen`, { expiration: nowS() + 7200 })).status, 409);
      assert.equal((await v2('GET', 'manifests/frozen')).headers.get('docker-content-digest'), img1.digest);

      assert.equal((await writer.put(`${base}/tag/frozen`, { immutable: false })).status, 403);
      assert.equal((await owner.put(`${base}/tag/frozen`, { immutable: false })).status, 201);
      assert.equal((await writer.delete(`${base}/tag/frozen`)).status, 204);
    });

    test('deleting a tag through /api/v1 and through /v2/ records the same history', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      await pushImage(registry, repo, 'viaapi');
      await pushImage(registry, repo, 'viav2');
      tick();
      const before = (await history()).tags.length;

      assert.equal((await reader.delete(`${base}/tag/viaapi`)).status, 403);
      assert.equal((await anonymous().delete(`${base}/tag/viaapi`)).status, 401);
      assert.equal((await readOnlyToken.delete(`${base}/tag/viaapi`)).status, 403);
      const deleted = await writer.delete(`${base}/tag/viaapi`);
      assert.equal(deleted.status, 204);
      assert.equal(deleted.text, '');
      assert.equal((await v2('GET', 'manifests/viaapi')).status, 404);
      assert.equal((await writer.delete(`${base}/tag/viaapi`)).status, 404);

      assert.equal((await v2('DELETE', 'manifests/viav2')).status, 202);
      assert.equal((await writer.delete(`${base}/tag/viav2`)).status, 404, 'already gone through /v2/');

      const after = await history();
      assert.equal(after.tags.length, before, 'a delete ends the entry and starts none');
      for (const name of ['viaapi', 'viav2']) {
        const rows = after.tags.filter((x) => x.name === name);
        assert.equal(rows.length, 1, name);
        assert.equal(rows[0]!.end_ts, nowS(), name);
      }
      const listed = (await v2('GET', 'tags/list')).json<{ tags: string[] }>();
      assert.ok(!listed.tags.includes('viaapi') && !listed.tags.includes('viav2'));
    });

    test('restore points a tag back at a manifest of its history, as a reversion', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const restored = await writer.post(`${base}/tag/viaapi/restore`, { manifest_digest: img1.digest });
      assert.equal(restored.status, 200, restored.text);
      assert.deepEqual(restored.body, {});
      const [row] = (await history('?specificTag=viaapi')).tags;
      assert.equal(row!.reversion, true);
      assert.equal(row!.manifest_digest, img1.digest);
      assert.equal((await v2('GET', 'manifests/viaapi')).headers.get('docker-content-digest'), img1.digest);

      const missing = await writer.post(`${base}/tag/viaapi/restore`, {});
      assert.equal(missing.status, 400);
      assert.match(missing.body.detail, /manifest_digest/);
      const unknown = await writer.post(`${base}/tag/viaapi/restore`, {
        manifest_digest: `sha256:${'1'.repeat(64)}`,
      });
      assert.equal(unknown.status, 404);
      assert.equal(
        (await reader.post(`${base}/tag/viaapi/restore`, { manifest_digest: img1.digest })).status,
        403,
      );
      assert.equal(
        (await anonymous().post(`${base}/tag/viaapi/restore`, { manifest_digest: img1.digest })).status,
        401,
      );
      tick();
    });

    test('expire pushes ended entries out of the time machine; is_alive ends the live tag', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const gone = await pushImage(registry, repo, 'gone');
      tick();
      assert.equal((await writer.delete(`${base}/tag/gone`)).status, 204);
      assert.equal((await history('?specificTag=gone')).tags.length, 1);

      const noDigest = await writer.post(`${base}/tag/gone/expire`, { is_alive: false });
      assert.equal(noDigest.status, 400);
      assert.match(noDigest.body.detail, /manifest_digest/);
      assert.equal(
        (await reader.post(`${base}/tag/gone/expire`, { manifest_digest: gone.digest })).status,
        403,
      );
      const expired = await writer.post(`${base}/tag/gone/expire`, { manifest_digest: gone.digest });
      assert.equal(expired.status, 200, expired.text);
      assert.equal(expired.text, '""');
      assert.equal((await history('?specificTag=gone')).tags.length, 0, 'out of the time machine');
      assert.equal(
        (await writer.post(`${base}/tag/gone/expire`, { manifest_digest: gone.digest })).status,
        404,
      );

      await pushImage(registry, repo, 'temp');
      tick();
      assert.equal((await writer.post(`${base}/tag/temp/expire`, { is_alive: true })).status, 200);
      assert.equal((await v2('GET', 'manifests/temp')).status, 404);
      assert.equal((await writer.post(`${base}/tag/temp/expire`, { is_alive: true })).status, 404);
    });

    test('GET manifest: bytes, config type and layers from the image history', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const res = await reader.get(`${base}/manifest/${img1.digest}`);
      assert.equal(res.status, 200, res.text);
      const m = res.body;
      assert.equal(m.digest, img1.digest);
      assert.equal(m.is_manifest_list, false);
      assert.equal(m.manifest_data, img1.bytes);
      assert.equal(m.config_media_type, ociConfig);
      assert.equal(m.layers_compressed_size, img1.layerSize);
      assert.equal(m.layers.length, 2, 'one entry per history entry');
      assert.deepEqual(m.layers[0], {
        index: 0,
        compressed_size: img1.layerSize,
        is_remote: false,
        urls: null,
        command: ['/bin/sh -c #(nop) ADD file:abc in / '],
        comment: null,
        author: null,
        blob_digest: img1.layerDigest,
        created_datetime: 'Fri, 10 May 2024 15:11:00 -0000',
      });
      assert.equal(m.layers[1].blob_digest, emptyLayer);
      assert.equal(m.layers[1].compressed_size, 32);

      assert.equal((await reader.get(`${base}/manifest/sha256:${'2'.repeat(64)}`)).status, 404);
      assert.equal((await reader.get(`${base}/manifest/latest`)).status, 404);
      assert.equal((await anonymous().get(`${base}/manifest/${img1.digest}`)).status, 401);
      assert.equal((await outsider.get(`${base}/manifest/${img1.digest}`)).status, 403);
      assert.equal((await superuser.get(`${base}/manifest/${img1.digest}`)).status, 200);
    });

    test('labels: the manifest’s own (immutable) and added ones; filter, add, get, delete', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const img = await pushImage(registry, repo, 'labelled', {
        labels: { 'com.example.team': 'infra', 'com.example.meta': '{"a":1}' },
        annotations: { 'org.opencontainers.image.source': 'https://example.com/src' },
      });
      const labels = `${base}/manifest/${img.digest}/labels`;
      const listed = await reader.get(labels);
      assert.equal(listed.status, 200, listed.text);
      const byKey = Object.fromEntries(listed.body.labels.map((l: any) => [l.key, l]));
      assert.deepEqual(Object.keys(byKey).sort(), [
        'com.example.meta',
        'com.example.team',
        'org.opencontainers.image.source',
      ]);
      assert.equal(byKey['com.example.team'].source_type, 'manifest');
      assert.equal(byKey['com.example.team'].media_type, 'text/plain');
      assert.equal(byKey['com.example.meta'].media_type, 'application/json');
      assert.equal((await reader.get(labels)).body.labels.length, 3, 'copied once');
      const filtered = await reader.get(`${labels}?filter=COM.EXAMPLE.T`);
      assert.deepEqual(
        filtered.body.labels.map((l: any) => l.key),
        ['com.example.team'],
      );

      const added = await writer.post(labels, { key: 'owner', value: 'team-a', media_type: null });
      assert.equal(added.status, 201, added.text);
      const label = added.body.label;
      assert.deepEqual(
        { ...label, id: undefined },
        { id: undefined, key: 'owner', value: 'team-a', source_type: 'api', media_type: 'text/plain' },
      );
      const location = added.headers.get('location')!;
      assert.equal(location, `/api/v1${labels}/${label.id}`);
      const fetched = await reader.get(location.replace('/api/v1', ''));
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.body, label);

      const reserved = await writer.post(labels, { key: 'io.k8s.thing', value: 'x', media_type: null });
      assert.equal(reserved.status, 400);
      assert.equal(reserved.body.message, 'Label has a reserved prefix');
      const badKey = await writer.post(labels, { key: 'Bad Key', value: 'x', media_type: null });
      assert.equal(badKey.status, 400);
      assert.match(badKey.body.detail, /key/);
      const badType = await writer.post(labels, { key: 'ok', value: 'x', media_type: 'text/html' });
      assert.equal(badType.status, 400);
      assert.match(badType.body.detail, /media_type/);
      const noValue = await writer.post(labels, { key: 'ok', media_type: null });
      assert.equal(noValue.status, 400);
      assert.match(noValue.body.detail, /value/);
      assert.equal((await reader.post(labels, { key: 'ok', value: 'x', media_type: null })).status, 403);
      assert.equal(
        (await readOnlyToken.post(labels, { key: 'ok', value: 'x', media_type: null })).status,
        403,
      );
      assert.equal((await anonymous().get(labels)).status, 401);
      assert.equal((await outsider.get(labels)).status, 403);
      assert.equal((await reader.get(`${base}/manifest/sha256:${'3'.repeat(64)}/labels`)).status, 404);

      const immutable = await writer.delete(`${labels}/${byKey['com.example.team'].id}`);
      assert.equal(immutable.status, 400);
      assert.equal(immutable.body.message, 'Cannot delete immutable label');
      assert.equal((await reader.delete(`${labels}/${label.id}`)).status, 403);
      assert.equal((await writer.delete(`${labels}/${label.id}`)).status, 204);
      assert.equal((await reader.get(`${labels}/${label.id}`)).status, 404);
      assert.equal((await writer.delete(`${labels}/${label.id}`)).status, 404);
    });

    test('security: no scanner, so a known manifest is "unsupported"; unknown ones are 404', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const res = await reader.get(`${base}/manifest/${img1.digest}/security?vulnerabilities=true`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { status: 'unsupported', data: null });
      assert.equal((await reader.get(`${base}/manifest/sha256:${'4'.repeat(64)}/security`)).status, 404);
      assert.equal((await anonymous().get(`${base}/manifest/${img1.digest}/security`)).status, 401);
      assert.equal((await outsider.get(`${base}/manifest/${img1.digest}/security`)).status, 403);
    });

    test('manifest lists: tag entries count their manifests; the manifest view has no layers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const index = await pushIndex(registry, repo, 'multi', [img1, img2]);
      const [row] = (await history('?specificTag=multi')).tags;
      assert.equal(row!.is_manifest_list, true);
      assert.equal(row!.size, null);
      assert.equal(row!.is_sparse, false);
      assert.equal(row!.child_manifest_count, 2);
      assert.equal(row!.present_child_count, 2);
      assert.deepEqual(row!.child_manifests_presence, { [img1.digest]: true, [img2.digest]: true });
      const m = (await reader.get(`${base}/manifest/${index.digest}`)).body;
      assert.deepEqual(
        [m.is_manifest_list, m.layers, m.layers_compressed_size, m.config_media_type],
        [true, null, 0, null],
      );
    });

    test('a READ_ONLY repository refuses tag and label changes with 503, and pushes', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      assert.equal((await owner.put(`${base}/changestate`, { state: 'READ_ONLY' })).status, 200);
      const put = await writer.put(`${base}/tag/ro`, { manifest_digest: img1.digest });
      assert.equal(put.status, 503);
      assert.equal(put.body.message, 'Repository is in read only or mirror mode: 1');
      assert.equal((await writer.delete(`${base}/tag/latest`)).status, 503);
      assert.equal(
        (await writer.post(`${base}/tag/ro/restore`, { manifest_digest: img1.digest })).status,
        503,
      );
      const label = await writer.post(`${base}/manifest/${img1.digest}/labels`, {
        key: 'k',
        value: 'v',
        media_type: null,
      });
      assert.equal(label.status, 503);
      assert.equal((await reader.get(`${base}/tag/`)).status, 200, 'reads still work');
      assert.notEqual((await registry.pushManifest(repo, 'ro', img1.bytes, ociManifest)).status, 201);
      assert.equal((await owner.put(`${base}/changestate`, { state: 'NORMAL' })).status, 200);
      assert.equal((await writer.put(`${base}/tag/ro`, { manifest_digest: img1.digest })).status, 201);
    });
  });
});
