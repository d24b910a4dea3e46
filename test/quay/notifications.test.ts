import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/platform/clock.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { startHttpReceiver, startSmtpReceiver } from '../support/receivers.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pushImage } from './push.js';

const notificationKeys = ['uuid', 'title', 'event', 'method', 'config', 'event_config', 'number_of_failures'];

forEachDatabase((database) => {
  describe(`Quay repository notifications on ${database}`, () => {
    let server: TestServer;
    let receiver: Awaited<ReturnType<typeof startHttpReceiver>>;
    let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
    let alice: QuayClient;
    let registry: RegistryClient;
    const clock = new ManualClock();
    let skip = false;
    const base = '/repository/alice/app/notification';

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      receiver = await startHttpReceiver();
      smtp = await startSmtpReceiver();
      server = await startTestServer({
        database,
        clock,
        config: { outboundAllow: '127.0.0.1/32', smtpUrl: smtp.url, smtpFrom: 'registry@example.com' },
      });
      ({ client: alice } = await userWithToken(server, 'alice'));
      registry = new RegistryClient(server.url, { username: 'alice', password: 'alice-password-1' });
      await pushImage(registry, 'alice/app', 'v0');
    });
    after(async () => {
      await server?.close();
      await receiver?.close();
      await smtp?.close();
    });

    test('a webhook receives Quay repo_push payload on a real push', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await alice.post(`${base}/`, {
        event: 'repo_push',
        method: 'webhook',
        config: { url: `${receiver.url}/push` },
        eventConfig: {},
        title: 'CI hook',
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), [...notificationKeys].sort());
      assert.equal(created.body.event, 'repo_push');
      assert.equal(created.body.method, 'webhook');
      assert.equal(created.body.title, 'CI hook');
      assert.deepEqual(created.body.config, { url: `${receiver.url}/push` });
      assert.deepEqual(created.body.event_config, {});
      assert.equal(created.body.number_of_failures, 0);

      await pushImage(registry, 'alice/app', 'v1');
      assert.equal(
        receiver.at('/push').length,
        0,
        'delivery is asynchronous: nothing is sent before the worker runs',
      );
      assert.ok((await server.services.notifications.drain()) >= 1);
      const [delivered] = receiver.at('/push');
      assert.ok(delivered, 'the webhook was called');
      assert.equal(delivered.method, 'POST');
      assert.match(String(delivered.headers['content-type']), /^application\/json/);
      assert.deepEqual(delivered.json(), {
        repository: 'alice/app',
        namespace: 'alice',
        name: 'app',
        docker_url: `${server.host}/alice/app`,
        homepage: `${server.url}/repository/alice/app`,
        updated_tags: ['v1'],
      });
      assert.equal(await server.services.notifications.drain(), 0, 'nothing left to send');

      // A templated webhook receives the template filled from the same event data.
      const templated = await alice.post(`${base}/`, {
        event: 'repo_push',
        method: 'webhook',
        config: {
          url: `${receiver.url}/templated`,
          template: JSON.stringify({
            text: 'pushed ${repository}: ${updated_tags}',
            tags: '${updated_tags}',
          }),
        },
        eventConfig: {},
      });
      assert.equal(templated.status, 201, templated.text);
      await pushImage(registry, 'alice/app', 'v2');
      await server.services.notifications.drain();
      assert.deepEqual(receiver.at('/templated')[0]?.json(), { text: 'pushed alice/app: v2', tags: ['v2'] });
      assert.equal(receiver.at('/push').length, 2);
      for (const uuid of [created.body.uuid, templated.body.uuid])
        assert.equal((await alice.delete(`${base}/${uuid}`)).status, 204);
    });

    test('a failing receiver is retried with backoff and disabled after 3 failures; reset re-enables it', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      receiver.respond('/fail', 500);
      const created = await alice.post(`${base}/`, {
        event: 'repo_push',
        method: 'webhook',
        config: { url: `${receiver.url}/fail` },
        eventConfig: {},
      });
      assert.equal(created.status, 201);
      const uuid = created.body.uuid as string;
      const failures = async () => (await alice.get(`${base}/${uuid}`)).body.number_of_failures as number;
      const notifications = server.services.notifications;

      const tested = await alice.post(`${base}/${uuid}/test`);
      assert.equal(tested.status, 200);
      assert.deepEqual(tested.body, {});
      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 1);
      assert.deepEqual(receiver.at('/fail')[0]!.json().updated_tags, ['latest', 'foo'], 'the sample payload');
      assert.equal(await failures(), 1);
      const [pending] = await notifications.pendingDeliveries(uuid);
      assert.equal(pending?.attempts, 1);
      assert.equal(pending?.nextAttemptAt, clock.now() + 30_000);
      assert.match(pending?.lastError ?? '', /500/);

      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 1, 'not retried before its time');
      clock.advance(30_000);
      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 2);
      assert.equal(await failures(), 2);
      assert.equal(
        (await notifications.pendingDeliveries(uuid))[0]?.nextAttemptAt,
        clock.now() + 120_000,
        'backoff grows',
      );

      clock.advance(120_000);
      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 3);
      assert.equal(await failures(), 3);
      assert.deepEqual(await notifications.pendingDeliveries(uuid), [], 'given up after the third failure');

      await pushImage(registry, 'alice/app', 'v3');
      clock.advance(3_600_000);
      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 3, 'a disabled notification no longer fires');

      const reset = await alice.post(`${base}/${uuid}`);
      assert.equal(reset.status, 204);
      assert.equal(reset.text, '');
      assert.equal(await failures(), 0);
      receiver.respond('/fail', 200);
      await pushImage(registry, 'alice/app', 'v4');
      await notifications.drain();
      assert.equal(receiver.at('/fail').length, 4, 'fires again after the reset');
      assert.deepEqual(receiver.at('/fail')[3]!.json().updated_tags, ['v4']);
      assert.equal(await failures(), 0);
      assert.equal((await alice.delete(`${base}/${uuid}`)).status, 204);
    });

    test('slack and email methods; build and mirror events send their samples', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const slack = await alice.post(`${base}/`, {
        event: 'build_failure',
        method: 'slack',
        config: { url: `${receiver.url}/slack` },
        eventConfig: { 'ref-regex': 'refs/heads/.*' },
      });
      assert.equal(slack.status, 201, slack.text);
      assert.equal((await alice.post(`${base}/${slack.body.uuid}/test`)).status, 200);
      const email = await alice.post(`${base}/`, {
        event: 'repo_mirror_sync_success',
        method: 'email',
        config: { email: 'ops@example.com' },
        eventConfig: {},
      });
      assert.equal(email.status, 201, email.text);
      assert.equal((await alice.post(`${base}/${email.body.uuid}/test`)).status, 200);
      await server.services.notifications.drain();

      const body = receiver.at('/slack')[0]?.json();
      assert.equal(body.username, 'quayiobot');
      assert.equal(body.text, 'Build failure for repository alice/app [fake-bu]');
      assert.equal(body.attachments[0].fallback, body.text);
      assert.equal(body.attachments[0].color, 'danger');
      assert.deepEqual(body.attachments[0].mrkdwn_in, ['text']);
      assert.match(body.attachments[0].text, /This is a fake error message/);

      const mail = smtp.messages.find((m) => m.to.includes('ops@example.com'));
      assert.ok(mail, 'the e-mail was sent');
      assert.equal(mail.from, 'registry@example.com');
      assert.match(mail.raw, /Subject: Repository Mirror success for TEST NOTIFICATION/);
      for (const uuid of [slack.body.uuid, email.body.uuid])
        assert.equal((await alice.delete(`${base}/${uuid}`)).status, 204);
    });

    test('list, get, delete; unknown notifications; who may manage them', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await alice.post(base, {
        event: 'build_success',
        method: 'webhook',
        config: { url: 'https://hooks.example.com/x' },
        eventConfig: {},
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.title, null);
      const uuid = created.body.uuid as string;
      const list = await alice.get(`${base}/`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { notifications: [created.body] });
      assert.deepEqual((await alice.get(`${base}/${uuid}`)).body, created.body);

      const anonymous = new QuayClient(server.url);
      const { client: bob } = await userWithToken(server, 'bob');
      const { client: readOnly } = await userWithToken(server, 'alice', ['repo:read', 'repo:write']);
      const { client: superuser } = await userWithToken(server, 'admin');
      const calls: Array<[string, string, unknown?]> = [
        ['GET', `${base}/`],
        [
          'POST',
          `${base}/`,
          { event: 'repo_push', method: 'webhook', config: { url: 'https://e.example/' }, eventConfig: {} },
        ],
        ['GET', `${base}/${uuid}`],
        ['POST', `${base}/${uuid}`],
        ['POST', `${base}/${uuid}/test`],
        ['DELETE', `${base}/${uuid}`],
      ];
      for (const [method, path, body] of calls) {
        assert.equal(
          (await anonymous.request(method, path, body)).status,
          401,
          `anonymous ${method} ${path}`,
        );
        const denied = await bob.request(method, path, body);
        assert.equal(denied.status, 403, `bob ${method} ${path}`);
        assert.equal(denied.body.error_type, 'insufficient_scope');
        assert.equal(
          (await readOnly.request(method, path, body)).status,
          403,
          `no repo:admin ${method} ${path}`,
        );
      }
      // A missing repository looks forbidden to outsiders, missing to its namespace's owner.
      assert.equal((await bob.get('/repository/alice/nothing/notification/')).status, 403);
      assert.equal((await alice.get('/repository/alice/nothing/notification/')).status, 404);
      assert.equal((await superuser.get(`${base}/`)).status, 200);

      const missing = '00000000-0000-0000-0000-000000000000';
      assert.equal((await alice.get(`${base}/${missing}`)).status, 404);
      for (const [method, path] of [
        ['DELETE', `${base}/${missing}`],
        ['POST', `${base}/${missing}`],
        ['POST', `${base}/${missing}/test`],
      ] as const) {
        const res = await alice.request(method, path, method === 'POST' ? {} : undefined);
        assert.equal(res.status, 400, `${method} ${path}`);
        assert.match(res.body.error_message, /No repository notification found for: alice, app/);
      }
      assert.equal((await superuser.delete(`${base}/${uuid}`)).status, 204);
      assert.equal((await alice.get(`${base}/${uuid}`)).status, 404);
      assert.deepEqual((await alice.get(`${base}/`)).body, { notifications: [] });

      // Creating a notification is in the repository's usage log.
      const logs = await alice.get('/repository/alice/app/logs');
      const added = logs.body.logs.find(
        (l: { kind: string; metadata: { notification_id?: string } }) =>
          l.kind === 'add_repo_notification' && l.metadata.notification_id === uuid,
      );
      assert.ok(added, 'add_repo_notification is logged');
      assert.equal(added?.metadata.event, 'build_success');
      assert.equal(added?.performer.name, 'alice');
      assert.ok(logs.body.logs.some((l: { kind: string }) => l.kind === 'delete_repo_notification'));
    });

    test('bad input is a 400 naming the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const valid = {
        event: 'repo_push',
        method: 'webhook',
        config: { url: 'https://e.example/' },
        eventConfig: {},
      };
      const cases: Array<[unknown, RegExp]> = [
        [{ ...valid, event: undefined }, /event/],
        [{ ...valid, event: 'no_such_event' }, /event/],
        [{ ...valid, method: 'carrier_pigeon' }, /method/],
        [{ ...valid, config: undefined }, /config/],
        [{ ...valid, config: 'x' }, /config/],
        [{ ...valid, eventConfig: undefined }, /eventConfig/],
        [{ ...valid, config: {} }, /config\.url/],
        [{ ...valid, config: { url: 'ftp://e.example/' } }, /config\.url/],
        [{ ...valid, config: { url: 'http://10.1.2.3/hook' } }, /config\.url/],
        [{ ...valid, config: { url: 'http://127.0.0.2/hook' } }, /config\.url/],
        [{ ...valid, config: { url: 'http://[::1]/hook' } }, /config\.url/],
        [{ ...valid, config: { url: 'https://e.example/', template: '{not json' } }, /config\.template/],
        [{ ...valid, method: 'slack', config: {} }, /config\.url/],
        [{ ...valid, method: 'email', config: { email: 'not-an-address' } }, /config\.email/],
        [{ ...valid, event: 'build_start', eventConfig: { 'ref-regex': '(' } }, /ref-regex/],
        [{ ...valid, title: { text: 'x' } }, /title/],
      ];
      for (const [body, field] of cases) {
        const res = await alice.post(`${base}/`, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error_type, 'invalid_request');
        assert.match(res.body.detail, field, JSON.stringify(body));
      }
      const noBody = await alice.request('POST', `${base}/`);
      assert.equal(noBody.status, 400);
      assert.deepEqual((await alice.get(`${base}/`)).body, { notifications: [] });
    });
  });
});
