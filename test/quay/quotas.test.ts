import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainEvent } from '../../src/platform/events.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { requireTools, run, runOk } from '../support/tools.js';
import { imageManifest, randomBlob, randomConfig } from '../oci/fixtures.js';

const allButSuper = [
  'repo:read',
  'repo:write',
  'repo:admin',
  'repo:create',
  'user:read',
  'user:admin',
  'org:admin',
] as const;
const quotaMessage = 'Quota has been exceeded on namespace';

interface ApiError {
  detail: string;
  error_message: string;
  error_type: string;
}

/** A 400 ApiError whose message names the field. */
function assertBadInput(res: QuayResponse<ApiError>, field: string): void {
  assert.equal(res.status, 400, `${field}: ${res.text}`);
  assert.equal(res.body.error_type, 'invalid_request');
  assert.match(res.body.detail, new RegExp(field.replace('.', '\\.')), res.text);
  assert.equal(res.body.error_message, res.body.detail);
}

forEachDatabase((database) => {
  describe(`Quay quotas on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    let anon: QuayClient;
    let outsider: QuayClient;
    let member: QuayClient;
    let owner: QuayClient;
    let superuser: QuayClient;
    let superNoScope: QuayClient;
    const events: DomainEvent[] = [];

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      for (const type of ['quota.warning', 'quota.exceeded'] as const)
        server.services.events.on(type, (e) => events.push(e));
      anon = new QuayClient(server.url);
      outsider = (await userWithToken(server, 'outsider')).client;
      member = (await userWithToken(server, 'qmember')).client;
      owner = (await userWithToken(server, 'qowner')).client;
      superuser = (await userWithToken(server, 'admin')).client;
      superNoScope = (await userWithToken(server, 'admin', [...allButSuper])).client;
      const { identity } = server.services;
      const qowner = await identity.getUserByName('qowner');
      for (const org of ['quotaorg', 'otherorg', 'pushorg'])
        await identity.createOrganization({ name: org, owner: qowner });
      await identity.setMember('quotaorg', 'qmember', 'member');
    });
    after(() => server?.close());

    const ready = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return !skip;
    };

    test('organization quota: who may read and write it, and the bare-array views', async (t) => {
      if (!ready(t)) return;
      const base = '/organization/quotaorg/quota';
      assert.equal((await anon.get(base)).status, 401);
      assert.equal((await outsider.get(base)).status, 403);
      assert.equal(
        (await superNoScope.get(base)).status,
        403,
        'a superuser token without super:user is an outsider',
      );
      for (const client of [member, owner, superuser]) {
        const list = await client.get(base);
        assert.equal(list.status, 200);
        assert.deepEqual(list.body, []);
      }

      assert.equal((await anon.post(base, { limit_bytes: 1000 })).status, 401);
      for (const client of [outsider, member, owner, superNoScope])
        assert.equal((await client.post(base, { limit_bytes: 1000 })).status, 403);
      assertBadInput(await superuser.post(base, {}), 'limit_bytes');
      assertBadInput(await superuser.post(base, { limit_bytes: 'lots' }), 'limit_bytes');
      assertBadInput(await superuser.post(base, { limit_bytes: 0 }), 'limit_bytes');
      assertBadInput(await superuser.post(base, { limit_bytes: -5 }), 'limit_bytes');
      assertBadInput(await superuser.post(base, { limit: 'ten gigs' }), 'limit');
      assertBadInput(await superuser.post(base, { limit: '1 GiB', limit_bytes: 5 }), 'limit');

      const created = await superuser.post(base, { limit_bytes: 4096 });
      assert.equal(created.status, 201);
      assert.equal(created.text, '"Created"');
      const again = await superuser.post(base, { limit_bytes: 1 });
      assert.equal(again.status, 400);
      assert.equal(again.body.detail, "Organization quota for 'quotaorg' already exists");

      const list = await member.get(base);
      assert.equal(list.status, 200);
      assert.ok(Array.isArray(list.body));
      const [quota] = list.body;
      assert.deepEqual(Object.keys(quota).sort(), [
        'default_config',
        'default_config_exists',
        'id',
        'limit',
        'limit_bytes',
        'limits',
      ]);
      assert.equal(typeof quota.id, 'number');
      assert.equal(quota.limit_bytes, 4096);
      assert.equal(quota.limit, '4.0 KiB');
      assert.equal(quota.default_config, false);
      assert.deepEqual(quota.limits, []);

      const one = `${base}/${quota.id}`;
      assert.equal((await member.get(one)).body.limit_bytes, 4096);
      assert.equal((await outsider.get(one)).status, 403);
      assert.equal((await anon.get(one)).status, 401);
      assert.equal((await superuser.get(`${base}/999999`)).status, 404);
      assert.equal((await superuser.get(`${base}/not-a-number`)).status, 404);

      // Human sizes, on another organization.
      assert.equal((await superuser.post('/organization/otherorg/quota', { limit: '10 GiB' })).status, 201);
      const other = (await superuser.get('/organization/otherorg/quota')).body[0];
      assert.equal(other.limit_bytes, 10 * 1024 ** 3);
      assert.equal(other.limit, '10.0 GiB');

      // Changing the size.
      for (const client of [member, owner, superNoScope])
        assert.equal((await client.put(one, { limit_bytes: 2048 })).status, 403);
      assert.equal((await anon.put(one, { limit_bytes: 2048 })).status, 401);
      assertBadInput(await superuser.put(one, { limit_bytes: 'x' }), 'limit_bytes');
      assertBadInput(await superuser.put(one, { limit_bytes: -1 }), 'limit_bytes');
      assertBadInput(await superuser.put(one, { limit: '12 bananas' }), 'limit');
      const changed = await superuser.put(one, { limit_bytes: 2048 });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.limit_bytes, 2048);
      assert.equal((await superuser.put(one, { limit: '3 KiB' })).body.limit_bytes, 3072);
      assert.equal((await superuser.put(one, {})).body.limit_bytes, 3072, 'an empty change changes nothing');
      assert.equal((await superuser.put(`${base}/999999`, { limit_bytes: 5 })).status, 404);

      // A user namespace is not an organization; a missing organization is hidden from outsiders.
      assert.equal((await superuser.get('/organization/qowner/quota')).status, 404);
      assert.equal((await superuser.get('/organization/nosuchorg/quota')).status, 404);
      assert.equal((await outsider.get('/organization/nosuchorg/quota')).status, 403);
      assert.equal((await superuser.post('/organization/nosuchorg/quota', { limit_bytes: 5 })).status, 404);

      // Deleting.
      for (const client of [member, owner, superNoScope])
        assert.equal((await client.delete(one)).status, 403);
      assert.equal((await anon.delete(one)).status, 401);
      const gone = await superuser.delete(one);
      assert.equal(gone.status, 204);
      assert.equal(gone.text, '');
      assert.deepEqual((await member.get(base)).body, []);
      assert.equal((await superuser.delete(one)).status, 404);
    });

    test('quota limits: add, list, get, change, delete, with bad input named', async (t) => {
      if (!ready(t)) return;
      const base = '/organization/quotaorg/quota';
      assert.equal((await superuser.post(base, { limit_bytes: 1000 })).status, 201);
      const quotaId = (await superuser.get(base)).body[0].id;
      const limits = `${base}/${quotaId}/limit`;

      assert.equal((await anon.post(limits, { type: 'Warning', threshold_percent: 80 })).status, 401);
      for (const client of [outsider, member, owner, superNoScope])
        assert.equal((await client.post(limits, { type: 'Warning', threshold_percent: 80 })).status, 403);
      assertBadInput(await superuser.post(limits, { threshold_percent: 80 }), 'type');
      assertBadInput(await superuser.post(limits, { type: 'Warning' }), 'threshold_percent');
      assertBadInput(await superuser.post(limits, { type: 'Block', threshold_percent: 80 }), 'type');
      assertBadInput(
        await superuser.post(limits, { type: 'Reject', threshold_percent: 0 }),
        'threshold_percent',
      );
      assertBadInput(
        await superuser.post(limits, { type: 'Reject', threshold_percent: 101 }),
        'threshold_percent',
      );
      assertBadInput(
        await superuser.post(limits, { type: 'Reject', threshold_percent: 'most' }),
        'threshold_percent',
      );

      const made = await superuser.post(limits, { type: 'warning', threshold_percent: 80 });
      assert.equal(made.status, 201);
      assert.equal(made.text, '"Created"');
      assert.equal((await superuser.post(limits, { type: 'Reject', threshold_percent: 100 })).status, 201);
      const duplicate = await superuser.post(limits, { type: 'Warning', threshold_percent: 80 });
      assert.equal(duplicate.status, 400);
      assert.equal(duplicate.body.detail, 'Quota limit already exists');

      assert.equal((await anon.get(limits)).status, 401);
      assert.equal((await outsider.get(limits)).status, 403);
      const listed = await member.get(limits);
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.map((l: { type: string; limit_percent: number }) => [l.type, l.limit_percent]),
        [
          ['Warning', 80],
          ['Reject', 100],
        ],
      );
      const warningId = listed.body[0].id;
      const one = `${limits}/${warningId}`;
      assert.deepEqual((await member.get(one)).body, { id: warningId, type: 'Warning', limit_percent: 80 });
      assert.equal((await outsider.get(one)).status, 403);
      assert.equal((await superuser.get(`${limits}/999999`)).status, 404);
      assert.equal((await member.get(base)).body[0].limits.length, 2, 'the quota view carries its limits');

      for (const client of [member, owner, superNoScope])
        assert.equal((await client.put(one, { threshold_percent: 90 })).status, 403);
      assert.equal((await anon.put(one, { threshold_percent: 90 })).status, 401);
      assertBadInput(await superuser.put(one, { type: 'Sometimes' }), 'type');
      assertBadInput(await superuser.put(one, { threshold_percent: 200 }), 'threshold_percent');
      const changed = await superuser.put(one, { threshold_percent: 90 });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.id, quotaId, 'Quay answers a limit change with the quota view');
      assert.deepEqual(changed.body.limits[0], { id: warningId, type: 'Warning', limit_percent: 90 });
      assert.equal((await superuser.put(`${limits}/999999`, { threshold_percent: 5 })).status, 404);

      for (const client of [member, owner, superNoScope])
        assert.equal((await client.delete(one)).status, 403);
      assert.equal((await superuser.delete(one)).status, 204);
      assert.equal((await superuser.get(one)).status, 404);
      assert.equal((await superuser.delete(one)).status, 404);
      assert.equal(
        (await superuser.delete(`${base}/${quotaId}`)).status,
        204,
        'a quota goes with its limits',
      );
    });

    test('user quotas: superusers set them, users read their own with user:admin', async (t) => {
      if (!ready(t)) return;
      for (const prefix of ['/superuser/users/outsider', '/superuser/organization/otherorg']) {
        const base = `${prefix}/quota`;
        assert.equal((await anon.get(base)).status, 401);
        for (const client of [outsider, owner, superNoScope]) {
          assert.equal((await client.get(base)).status, 403);
          assert.equal((await client.post(base, { limit_bytes: 5 })).status, 403);
        }
        assert.equal((await superuser.get(base)).status, 200);
      }
      assert.equal((await superuser.get('/superuser/users/nobody-here/quota')).status, 404);
      assert.equal(
        (await superuser.post('/superuser/users/nobody-here/quota', { limit_bytes: 5 })).status,
        404,
      );
      assertBadInput(await superuser.post('/superuser/users/outsider/quota', {}), 'limit_bytes');
      assertBadInput(await superuser.post('/superuser/users/outsider/quota', { limit: 'x' }), 'limit');

      const created = await superuser.post('/superuser/users/outsider/quota', { limit: '5 MiB' });
      assert.equal(created.status, 201);
      assert.equal(created.text, '"Created"');
      const [quota] = (await superuser.get('/superuser/users/outsider/quota')).body;
      assert.equal(quota.limit_bytes, 5 * 1024 ** 2);
      assert.equal((await superuser.post('/superuser/users/outsider/quota', { limit_bytes: 5 })).status, 400);

      const one = `/superuser/users/outsider/quota/${quota.id}`;
      assert.equal((await outsider.put(one, { limit_bytes: 5 })).status, 403);
      assertBadInput(await superuser.put(one, { limit_bytes: 'big' }), 'limit_bytes');
      assert.equal((await superuser.put(one, { limit_bytes: 6 * 1024 ** 2 })).body.limit, '6.0 MiB');
      await server.services.quotas.addLimit('outsider', String(quota.id), {
        type: 'Reject',
        thresholdPercent: 100,
      });
      assert.equal((await superuser.get(one)).status, 404, 'Quay has no GET of one quota under /superuser');

      // The user's own view.
      assert.equal((await anon.get('/user/quota')).status, 401);
      const { client: readOnly } = await userWithToken(server, 'outsider', ['user:read']);
      assert.equal((await readOnly.get('/user/quota')).status, 403, 'user quota needs user:admin');
      const mine = await outsider.get('/user/quota');
      assert.equal(mine.status, 200);
      assert.equal(mine.body[0].id, quota.id);
      assert.equal((await outsider.get(`/user/quota/${quota.id}`)).body.limit_bytes, 6 * 1024 ** 2);
      assert.equal((await outsider.get('/user/quota/999999')).status, 404);
      const limits = await outsider.get(`/user/quota/${quota.id}/limit`);
      assert.equal(limits.status, 200);
      assert.equal(limits.body[0].type, 'Reject');
      const limit = await outsider.get(`/user/quota/${quota.id}/limit/${limits.body[0].id}`);
      assert.equal(limit.status, 200);
      assert.equal(limit.body.id, quota.id, 'Quay answers with the quota view here');
      assert.equal((await outsider.get(`/user/quota/${quota.id}/limit/999999`)).status, 404);
      assert.deepEqual((await member.get('/user/quota')).body, [], 'others see only their own');
      assert.equal((await member.get(`/user/quota/${quota.id}`)).status, 404);

      assert.equal((await outsider.delete(one)).status, 403);
      assert.equal((await superuser.delete(one)).status, 204);
      assert.deepEqual((await outsider.get('/user/quota')).body, []);
      const orgQuota = (await superuser.get('/superuser/organization/otherorg/quota')).body[0];
      assert.equal(
        (await superuser.delete(`/superuser/organization/otherorg/quota/${orgQuota.id}`)).status,
        204,
      );
      assert.equal(
        (await superuser.delete(`/superuser/organization/otherorg/quota/${orgQuota.id}`)).status,
        404,
      );
    });

    test('the registry enforces Reject limits on uploads, mounts and manifest pushes, and warns at Warning limits', async (t) => {
      if (!ready(t)) return;
      const registry = new RegistryClient(server.url, { username: 'qowner', password: 'qowner-password-1' });
      const config = randomConfig();
      const first = randomBlob(1000);
      await registry.pushBlob('pushorg/app', config.bytes);
      await registry.pushBlob('pushorg/app', first.bytes);
      const usage = config.size + first.size;
      assert.equal((await server.services.quotas.report('pushorg')).usageBytes, usage);

      // Reject at 100% of usage + 1500 bytes, Warning at 75% (between the usage and the usage + 1000).
      const limitBytes = usage + 1500;
      assert.equal(
        (await superuser.post('/organization/pushorg/quota', { limit_bytes: limitBytes })).status,
        201,
      );
      const quotaId = (await superuser.get('/organization/pushorg/quota')).body[0].id;
      const limits = `/organization/pushorg/quota/${quotaId}/limit`;
      events.length = 0;
      assert.equal((await superuser.post(limits, { type: 'Reject', threshold_percent: 100 })).status, 201);
      assert.equal((await superuser.post(limits, { type: 'Warning', threshold_percent: 75 })).status, 201);
      assert.equal(events.length, 0, 'usage is below the warning threshold');

      // 1000 more bytes: within the quota, past the 75% warning.
      const second = randomBlob(1000);
      await registry.pushBlob('pushorg/app', second.bytes);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0], {
        type: 'quota.warning',
        namespace: 'pushorg',
        thresholdPercent: 75,
        usageBytes: usage + 1000,
        limitBytes,
      });

      // 600 more bytes would exceed it: refused as Quay refuses, and the upload is discarded.
      const third = randomBlob(600);
      const start = await registry.request('POST', '/v2/pushorg/app/blobs/uploads/');
      assert.equal(start.status, 202);
      const location = start.headers.get('location')!;
      const refused = await registry.request(
        'PUT',
        `${location}${location.includes('?') ? '&' : '?'}digest=${third.digest}`,
        {
          body: third.bytes,
          headers: { 'content-type': 'application/octet-stream' },
        },
      );
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.json(), { errors: [{ code: 'DENIED', message: quotaMessage, detail: {} }] });
      assert.equal((await registry.request('GET', location)).status, 404, 'the refused upload is gone');
      assert.equal((await registry.request('HEAD', `/v2/pushorg/app/blobs/${third.digest}`)).status, 404);
      assert.equal(events.at(-1)?.type, 'quota.exceeded');
      assert.equal((await server.services.quotas.report('pushorg')).usageBytes, usage + 1000);

      // Blobs the namespace already holds add nothing: a mount and a re-upload still pass, and so does a manifest.
      const mount = await registry.request(
        'POST',
        `/v2/pushorg/copy/blobs/uploads/?mount=${first.digest}&from=pushorg/app`,
        { extraScopes: ['repository:pushorg/app:pull'] },
      );
      assert.equal(mount.status, 201, mount.body.toString());
      await registry.pushBlob('pushorg/copy', config.bytes);
      const manifest = imageManifest({ config, layers: [first] });
      const pushed = await registry.pushManifest(
        'pushorg/copy',
        'v1',
        manifest.bytes.toString(),
        manifest.mediaType,
      );
      assert.equal(pushed.status, 201, pushed.body.toString());

      // Once the quota is lowered below the usage, even manifest pushes are refused; reads go on.
      assert.equal(
        (await superuser.put(`/organization/pushorg/quota/${quotaId}`, { limit_bytes: 1000 })).status,
        200,
      );
      const later = await registry.pushManifest(
        'pushorg/copy',
        'v2',
        manifest.bytes.toString(),
        manifest.mediaType,
      );
      assert.equal(later.status, 403);
      assert.deepEqual(later.json(), { errors: [{ code: 'DENIED', message: quotaMessage, detail: {} }] });
      const mountAgain = await registry.request(
        'POST',
        `/v2/pushorg/third/blobs/uploads/?mount=${first.digest}&from=pushorg/app`,
        { extraScopes: ['repository:pushorg/app:pull'] },
      );
      assert.equal(mountAgain.status, 403);
      const pulled = await registry.request('GET', '/v2/pushorg/copy/manifests/v1', {
        headers: { accept: manifest.mediaType },
      });
      assert.equal(pulled.status, 200);
      assert.equal((await registry.request('GET', `/v2/pushorg/app/blobs/${second.digest}`)).status, 200);

      // Other namespaces are not affected.
      await registry.pushBlob('qowner/mine', randomBlob(5000).bytes);

      // Without a Reject limit nothing is refused.
      const rejectId = (await superuser.get(limits)).body.find(
        (l: { type: string }) => l.type === 'Reject',
      ).id;
      assert.equal((await superuser.delete(`${limits}/${rejectId}`)).status, 204);
      const v2 = await registry.pushManifest(
        'pushorg/copy',
        'v2',
        manifest.bytes.toString(),
        manifest.mediaType,
      );
      assert.equal(v2.status, 201);
    });

    test('a Reject quota stops a real skopeo push, and what was there is still served', async (t) => {
      if (!ready(t)) return;
      if (!requireTools(t, 'buildah', 'skopeo', 'busybox')) return;
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-quota-'));
      t.after(() => rm(workDir, { recursive: true, force: true }));
      const { env, ociLayout } = await buildTestImages(join(workDir, 'images'));
      const creds = 'qowner:qowner-password-1';
      const { identity } = server.services;
      await identity.createOrganization({ name: 'skorg', owner: await identity.getUserByName('qowner') });
      const skopeo = (...args: string[]) => run('skopeo', args, { env, timeoutMs: 60_000 });
      const source = `oci:${ociLayout}:${TEST_IMAGE_TAG}`;

      await runOk(
        'skopeo',
        [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          creds,
          source,
          `docker://${server.host}/skorg/first:v1`,
        ],
        {
          env,
          timeoutMs: 60_000,
        },
      );
      const stored = (await server.services.quotas.report('skorg')).usageBytes;
      assert.ok(stored > 100_000, `the image is stored (${stored} bytes)`);

      // A quota of 1 KiB, rejecting at 100%: the namespace is over it.
      assert.equal((await superuser.post('/organization/skorg/quota', { limit: '1 KiB' })).status, 201);
      const quotaId = (await superuser.get('/organization/skorg/quota')).body[0].id;
      assert.equal(
        (
          await superuser.post(`/organization/skorg/quota/${quotaId}/limit`, {
            type: 'Reject',
            threshold_percent: 100,
          })
        ).status,
        201,
      );
      const refused = await skopeo(
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        source,
        `docker://${server.host}/skorg/second:v1`,
      );
      assert.notEqual(refused.code, 0, 'the push must fail');
      assert.match(refused.stderr, /Quota has been exceeded on namespace/);

      // A fresh organization with a quota smaller than the image: the first layer upload is refused.
      await identity.createOrganization({ name: 'skfresh', owner: await identity.getUserByName('qowner') });
      assert.equal((await superuser.post('/organization/skfresh/quota', { limit: '100 KiB' })).status, 201);
      const freshId = (await superuser.get('/organization/skfresh/quota')).body[0].id;
      await superuser.post(`/organization/skfresh/quota/${freshId}/limit`, {
        type: 'Reject',
        threshold_percent: 100,
      });
      const fresh = await skopeo(
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        source,
        `docker://${server.host}/skfresh/app:v1`,
      );
      assert.notEqual(fresh.code, 0);
      assert.match(fresh.stderr, /Quota has been exceeded on namespace/);
      assert.ok((await server.services.quotas.report('skfresh')).usageBytes <= 100 * 1024);

      // What was pushed before the quota is still served.
      const inspected = await skopeo(
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        creds,
        `docker://${server.host}/skorg/first:v1`,
      );
      assert.equal(inspected.code, 0, inspected.stderr);
      const out = join(workDir, 'out');
      const copied = await skopeo(
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        creds,
        `docker://${server.host}/skorg/first:v1`,
        `oci:${out}:back`,
      );
      assert.equal(copied.code, 0, copied.stderr);
    });
  });
});
