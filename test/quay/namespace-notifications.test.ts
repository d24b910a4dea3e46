// Namespace notifications (/organization/{org}/notifications, /user/namespacenotifications):
// quota_warning and quota_error delivered to a local webhook receiver, on every test database.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { formatBytes } from '../../src/notifications/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken, type QuayResponse } from '../support/quay-client.js';
import { startHttpReceiver } from '../support/receivers.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pushImage } from './push.js';

const viewKeys = ['config', 'event', 'event_config', 'method', 'number_of_failures', 'title', 'uuid'];

/** A 400 ApiError whose message names the field. */
function assertBadInput(res: QuayResponse<any>, field: RegExp, what: string): void {
  assert.equal(res.status, 400, `${what}: ${res.text}`);
  assert.equal(res.body.error_type, 'invalid_request', what);
  assert.equal(res.body.error_message, res.body.detail, what);
  assert.match(String(res.body.detail), field, what);
}

forEachDatabase((database) => {
  describe(`Quay namespace notifications on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let receiver: Awaited<ReturnType<typeof startHttpReceiver>>;
    let skip = false;
    let anonymous: QuayClient;
    let owner: QuayClient;
    let ownerNoOrgScope: QuayClient;
    let ownerUserRead: QuayClient;
    let member: QuayClient;
    let outsider: QuayClient;
    let superuser: QuayClient;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      receiver = await startHttpReceiver();
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.1/32' } });
      anonymous = new QuayClient(server.url);
      owner = (await userWithToken(server, 'nsowner')).client;
      ownerNoOrgScope = (await userWithToken(server, 'nsowner', ['repo:admin', 'repo:create', 'user:admin']))
        .client;
      ownerUserRead = (await userWithToken(server, 'nsowner', ['user:read'])).client;
      member = (await userWithToken(server, 'nsmember')).client;
      outsider = (await userWithToken(server, 'nsoutsider')).client;
      superuser = (await userWithToken(server, 'admin')).client;
      const { identity } = server.services;
      const nsowner = await identity.getUserByName('nsowner');
      for (const org of ['quotaco', 'otherco', 'pushco'])
        await identity.createOrganization({ name: org, owner: nsowner });
      await identity.setMember('quotaco', 'nsmember', 'member');
    });
    after(async () => {
      await server?.close();
      await receiver?.close();
    });

    const ready = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return !skip;
    };
    const webhook = (event: string, path: string, title?: string) => ({
      event,
      method: 'webhook',
      config: { url: `${receiver.url}${path}` },
      eventConfig: {},
      ...(title ? { title } : {}),
    });

    test('organization notifications: organization admins list, create, read, test, reset and delete them', async (t) => {
      if (!ready(t)) return;
      const base = '/organization/quotaco/notifications';
      for (const [client, status, who] of [
        [anonymous, 401, 'anonymous'],
        [outsider, 403, 'outsider'],
        [member, 403, 'member'],
        [ownerNoOrgScope, 403, 'token without org:admin'],
      ] as const) {
        assert.equal((await client.get(base)).status, status, who);
        assert.equal((await client.post(base, webhook('quota_warning', '/x'))).status, status, who);
      }
      assert.deepEqual((await owner.get(base)).body, { notifications: [] });
      assert.equal((await superuser.get(base)).status, 200);
      assert.equal((await superuser.get('/organization/nosuchorg/notifications')).status, 404);
      assert.equal(
        (await superuser.get('/organization/nsowner/notifications')).status,
        404,
        'a user is no organization',
      );

      const created = await owner.post(base, webhook('quota_warning', '/org-warning', 'Storage alarm'));
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), viewKeys);
      assert.deepEqual(
        { ...created.body, uuid: undefined },
        {
          uuid: undefined,
          title: 'Storage alarm',
          event: 'quota_warning',
          method: 'webhook',
          config: { url: `${receiver.url}/org-warning` },
          event_config: {},
          number_of_failures: 0,
        },
      );
      const one = `${base}/${created.body.uuid}`;
      assert.deepEqual((await owner.get(one)).body, created.body);
      assert.deepEqual((await superuser.get(base)).body, { notifications: [created.body] });
      assert.equal((await member.get(one)).status, 403);
      assert.equal((await owner.get(`${base}/no-such-uuid`)).status, 404);
      assert.equal(
        (await owner.get(`/organization/otherco/notifications/${created.body.uuid}`)).status,
        404,
        'the uuid of another organization',
      );

      // Bad input: a 400 naming the field, with Quay's messages for events and methods.
      assertBadInput(await owner.post(base, {}), /event/, 'missing event');
      assertBadInput(
        await owner.post(base, { ...webhook('quota_warning', '/x'), eventConfig: undefined }),
        /eventConfig/,
        'missing eventConfig',
      );
      assertBadInput(
        await owner.post(base, { ...webhook('quota_warning', '/x'), config: 'x' }),
        /config/,
        'config',
      );
      const wrongEvent = await owner.post(base, webhook('repo_push', '/x'));
      assertBadInput(wrongEvent, /event/, 'repository event');
      assert.equal(
        wrongEvent.body.detail,
        "Invalid event 'repo_push'. Must be one of: quota_error, quota_warning",
      );
      const wrongMethod = await owner.post(base, { ...webhook('quota_error', '/x'), method: 'pigeon' });
      assertBadInput(wrongMethod, /method/, 'unknown method');
      assert.equal(wrongMethod.body.detail, "Unknown notification method 'pigeon'");
      assertBadInput(
        await owner.post(base, { ...webhook('quota_error', '/x'), config: {} }),
        /config\.url/,
        'webhook without url',
      );
      assertBadInput(
        await owner.post(base, { ...webhook('quota_error', '/x'), config: { url: 'http://10.1.2.3/hook' } }),
        /config\.url/,
        'webhook to a private address',
      );
      assertBadInput(
        await owner.post(base, {
          ...webhook('quota_error', '/x'),
          method: 'email',
          config: { email: 'nope' },
        }),
        /config\.email/,
        'bad e-mail',
      );
      assert.equal((await owner.get(base)).body.notifications.length, 1, 'nothing else was stored');

      // test: Quay's sample quota figures, delivered by the worker.
      assert.equal((await member.post(`${one}/test`)).status, 403);
      assert.equal((await owner.post(`${base}/no-such-uuid/test`)).status, 404);
      const tested = await owner.post(`${one}/test`);
      assert.equal(tested.status, 200, tested.text);
      assert.deepEqual(tested.body, {});
      assert.ok((await server.services.notifications.drain()) >= 1);
      const [sample] = receiver.at('/org-warning');
      assert.ok(sample, 'the sample was delivered');
      assert.match(String(sample.headers['content-type']), /^application\/json/);
      assert.deepEqual(sample.json(), {
        namespace: 'quotaco',
        homepage: `${server.url}/organization/quotaco`,
        threshold_percent: 80,
        usage_bytes: 858993459,
        limit_bytes: 1073741824,
        usage_percent: 80,
        usage_bytes_formatted: '819.20 MB',
        limit_bytes_formatted: '1.00 GB',
      });

      // reset failures, delete.
      assert.equal((await member.post(one)).status, 403);
      assert.equal((await owner.post(`${base}/no-such-uuid`)).status, 404);
      assert.equal((await owner.post(one)).status, 204);
      assert.equal((await member.delete(one)).status, 403);
      assert.equal((await owner.delete(one)).status, 204);
      assert.equal((await owner.delete(one)).status, 404);
      assert.equal((await owner.get(one)).status, 404);
      assert.deepEqual((await owner.get(base)).body, { notifications: [] });

      const logs = (await owner.get('/organization/quotaco/logs')).body.logs as Array<{
        kind: string;
        metadata: Record<string, unknown>;
      }>;
      const logged = logs.find((l) => l.kind === 'create_namespace_notification');
      assert.deepEqual(logged?.metadata, {
        namespace: 'quotaco',
        notification_id: created.body.uuid,
        event: 'quota_warning',
        method: 'webhook',
      });
      for (const kind of ['reset_namespace_notification', 'delete_namespace_notification'])
        assert.ok(
          logs.some((l) => l.kind === kind),
          kind,
        );
    });

    test('user notifications: a user manages those of its own namespace with user:admin', async (t) => {
      if (!ready(t)) return;
      const base = '/user/namespacenotifications';
      assert.equal((await anonymous.get(base)).status, 401);
      assert.equal((await anonymous.post(base, webhook('quota_error', '/x'))).status, 401);
      assert.equal((await ownerUserRead.get(base)).status, 403);
      assert.equal((await ownerUserRead.post(base, webhook('quota_error', '/x'))).status, 403);
      assert.deepEqual((await owner.get(base)).body, { notifications: [] });

      const created = await owner.post(base, webhook('quota_error', '/user-error'));
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), viewKeys);
      assert.equal(created.body.title, null);
      assert.equal(created.body.event, 'quota_error');
      const one = `${base}/${created.body.uuid}`;
      assert.deepEqual((await owner.get(base)).body, { notifications: [created.body] });
      assert.deepEqual((await owner.get(one)).body, created.body);
      assert.equal((await ownerUserRead.get(one)).status, 403);
      assert.equal((await member.get(one)).status, 404, "another user's notification is not found");
      assertBadInput(await owner.post(base, webhook('quota_full', '/x')), /event/, 'unknown event');
      assertBadInput(await owner.post(base, { event: 'quota_error' }), /method/, 'missing method');

      const orgNotification = await owner.post(
        '/organization/otherco/notifications',
        webhook('quota_error', '/other'),
      );
      assert.equal(orgNotification.status, 201);
      assert.equal(
        (await owner.get(`${base}/${orgNotification.body.uuid}`)).status,
        404,
        'organization notifications are not the user namespace',
      );

      assert.deepEqual((await owner.post(`${one}/test`)).body, {});
      await server.services.notifications.drain();
      const [sample] = receiver.at('/user-error');
      assert.deepEqual(sample?.json(), {
        namespace: 'nsowner',
        homepage: `${server.url}/organization/nsowner`,
        threshold_percent: 100,
        usage_bytes: 1127428915,
        limit_bytes: 1073741824,
        usage_percent: 105,
        usage_bytes_formatted: '1.05 GB',
        limit_bytes_formatted: '1.00 GB',
      });
      assert.equal((await owner.post(one)).status, 204);
      assert.equal((await owner.delete(one)).status, 204);
      assert.equal((await owner.delete(one)).status, 404);
      assert.equal((await owner.post(`${one}/test`)).status, 404);
      assert.equal(
        (await owner.delete(`/organization/otherco/notifications/${orgNotification.body.uuid}`)).status,
        204,
      );
    });

    test('a push crossing a Warning limit and a push stopped by a Reject limit notify the namespace', async (t) => {
      if (!ready(t)) return;
      const base = '/organization/pushco/notifications';
      assert.equal((await owner.post(base, webhook('quota_warning', '/warning'))).status, 201);
      assert.equal((await owner.post(base, webhook('quota_error', '/error'))).status, 201);
      const registry = new RegistryClient(server.url, {
        username: 'nsowner',
        password: 'nsowner-password-1',
      });
      await registry.pushBlob('pushco/app', randomBytes(1000));

      // A 2000-byte quota: Warning at 75 % (1500 bytes), Reject at 100 %.
      assert.equal((await superuser.post('/organization/pushco/quota', { limit_bytes: 2000 })).status, 201);
      const quotaId = (await superuser.get('/organization/pushco/quota')).body[0].id;
      const limits = `/organization/pushco/quota/${quotaId}/limit`;
      assert.equal((await superuser.post(limits, { type: 'Reject', threshold_percent: 100 })).status, 201);
      assert.equal((await superuser.post(limits, { type: 'Warning', threshold_percent: 75 })).status, 201);
      await server.services.notifications.drain();
      assert.equal(receiver.at('/warning').length, 0, 'usage (1000 bytes) is below the warning limit');

      // 600 more bytes: 1600 of 2000, past the Warning limit.
      await registry.pushBlob('pushco/app', randomBytes(600));
      await server.services.notifications.drain();
      const warnings = receiver.at('/warning');
      assert.equal(warnings.length, 1);
      assert.deepEqual(warnings[0]!.json(), {
        namespace: 'pushco',
        homepage: `${server.url}/organization/pushco`,
        threshold_percent: 75,
        usage_bytes: 1600,
        limit_bytes: 2000,
        usage_percent: 80,
        usage_bytes_formatted: '1.56 KB',
        limit_bytes_formatted: '1.95 KB',
      });
      assert.equal(receiver.at('/error').length, 0);

      // An image push that would take the namespace past 2000 bytes is stopped, and stopped again
      // when retried: one quota_error, since a threshold notifies once per cooldown.
      await assert.rejects(pushImage(registry, 'pushco/app', 'v1'), /403/);
      await assert.rejects(pushImage(registry, 'pushco/app', 'v1'), /403/);
      await server.services.notifications.drain();
      const errors = receiver.at('/error');
      assert.equal(errors.length, 1);
      const error = errors[0]!.json();
      assert.ok(error.usage_bytes > 2000, `usage with the refused blob: ${error.usage_bytes}`);
      assert.deepEqual(error, {
        namespace: 'pushco',
        homepage: `${server.url}/organization/pushco`,
        threshold_percent: 100,
        usage_bytes: error.usage_bytes,
        limit_bytes: 2000,
        usage_percent: Math.floor((error.usage_bytes * 100) / 2000),
        usage_bytes_formatted: formatBytes(error.usage_bytes),
        limit_bytes_formatted: '1.95 KB',
      });
      assert.equal(receiver.at('/warning').length, 1, 'no second warning');

      // The repository list reports the repository's size against the namespace's quota.
      const usage = (await server.services.quotas.report('pushco')).usageBytes;
      const listed = await owner.get('/repository?namespace=pushco');
      assert.deepEqual(listed.body.repositories[0].quota_report, {
        quota_bytes: usage,
        configured_quota: 2000,
      });

      // A user namespace notifies its own webhook the same way.
      assert.equal(
        (await owner.post('/user/namespacenotifications', webhook('quota_warning', '/user-warning'))).status,
        201,
      );
      assert.equal(
        (await superuser.post('/superuser/users/nsowner/quota', { limit_bytes: 1000 })).status,
        201,
      );
      const userQuota = (await superuser.get('/superuser/users/nsowner/quota')).body[0].id;
      await server.services.quotas.addLimit('nsowner', String(userQuota), {
        type: 'Warning',
        thresholdPercent: 50,
      });
      await registry.pushBlob('nsowner/mine', randomBytes(600));
      await server.services.notifications.drain();
      const [userWarning] = receiver.at('/user-warning');
      assert.deepEqual(userWarning?.json(), {
        namespace: 'nsowner',
        homepage: `${server.url}/organization/nsowner`,
        threshold_percent: 50,
        usage_bytes: 600,
        limit_bytes: 1000,
        usage_percent: 60,
        usage_bytes_formatted: '600 bytes',
        limit_bytes_formatted: '1000 bytes',
      });
    });
  });
});
