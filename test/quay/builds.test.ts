// Quay's repository builds API (/api/v1/repository/{r}/build/..., /filedrop/) on every test database: views,
// validation, permissions, cancel, logs and notifications. No image is built here (test/e2e/quay-build.test.ts
// does that with buildah): the runs these builds start end in their first step (bad archives) or wait.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { createPrivateRepository, QuayClient, userWithToken } from '../support/quay-client.js';
import { serveFiles, startHttpReceiver } from '../support/receivers.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MAX_BYTES = 2048;
const base = '/repository/alice/app/build/';

async function waitForPhase(client: QuayClient, id: string, phases: string[]): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await client.get(`${base}${id}`);
    assert.equal(res.status, 200, res.text);
    if (phases.includes(res.body.phase) || Date.now() > deadline) return res.body;
    await sleep(50);
  }
}

const viewKeys = [
  'archive_url',
  'context',
  'display_name',
  'dockerfile_path',
  'error',
  'id',
  'is_writer',
  'manual_user',
  'phase',
  'pull_robot',
  'repository',
  'resource_key',
  'started',
  'status',
  'subdirectory',
  'tags',
  'trigger',
  'trigger_metadata',
];

forEachDatabase((database) => {
  describe(`Quay repository builds on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let strict: TestServer;
    let files: Awaited<ReturnType<typeof serveFiles>>;
    let receiver: Awaited<ReturnType<typeof startHttpReceiver>>;
    let alice: QuayClient;
    let bob: QuayClient;
    let carol: QuayClient;
    let outsider: QuayClient;
    let anonymous: QuayClient;
    let skip = false;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      files = await serveFiles({
        '/big.tar.gz': Buffer.alloc(MAX_BYTES * 3, 0x1f),
        '/page.html': Buffer.from('<!DOCTYPE html><html><body>Sign in to continue</body></html>\n'),
      });
      receiver = await startHttpReceiver();
      server = await startTestServer({
        database,
        config: { outboundAllow: '127.0.0.0/8', buildArchiveMaxBytes: MAX_BYTES },
      });
      // The default: no loopback, private or link-local address may be reached.
      strict = await startTestServer();
      alice = (await userWithToken(server, 'alice')).client;
      bob = (await userWithToken(server, 'bob')).client;
      carol = (await userWithToken(server, 'carol')).client;
      outsider = (await userWithToken(server, 'outsider')).client;
      anonymous = new QuayClient(server.url);
      await createPrivateRepository(alice, 'alice', 'app');
      for (const [who, role] of [
        ['bob', 'read'],
        ['carol', 'write'],
      ]) {
        const grant = await alice.put(`/repository/alice/app/permissions/user/${who}`, { role });
        assert.equal(grant.status, 200, grant.text);
      }
      assert.equal((await alice.put('/user/robots/bot')).status, 201);
      assert.equal((await bob.put('/user/robots/bot')).status, 201);
      for (const event of ['build_queued', 'build_failure']) {
        const created = await alice.post('/repository/alice/app/notification/', {
          event,
          method: 'webhook',
          config: { url: `${receiver.url}/${event}` },
          eventConfig: {},
          title: event,
        });
        assert.equal(created.status, 201, created.text);
      }
    });

    after(async () => {
      if (skip) return;
      await server.services.runScheduler.stop();
      await server.close();
      await strict.close();
      await receiver.close();
      await files.close();
    });

    test('POST build/ queues a build: 201, Location, Quay view, build_queued notification', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const res = await alice.post(base, {
        archive_url: `${files.url}/missing.tar.gz`,
        dockerfile_path: '/docker/Dockerfile.prod',
        pull_robot: 'alice+bot',
      });
      assert.equal(res.status, 201, res.text);
      const build = res.body;
      assert.deepEqual(Object.keys(build).sort(), viewKeys);
      assert.equal(res.headers.get('location'), `/api/v1/repository/alice/app/build/${build.id}/status`);
      assert.match(build.id, /^[0-9a-f-]{36}$/);
      assert.equal(build.phase, 'waiting');
      assert.match(build.started, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d -0000$/);
      assert.match(build.display_name, /^[0-9a-f]{7}$/);
      assert.deepEqual(build.status, {});
      assert.equal(build.dockerfile_path, '/docker/Dockerfile.prod');
      assert.equal(build.subdirectory, '/docker/Dockerfile.prod');
      assert.equal(build.context, '/docker');
      assert.deepEqual(build.tags, ['latest']);
      assert.equal(build.manual_user, 'alice');
      assert.equal(build.is_writer, true);
      assert.equal(build.trigger, null);
      assert.equal(build.resource_key, null);
      assert.deepEqual(build.pull_robot, { name: 'alice+bot', kind: 'user', is_robot: true });
      assert.deepEqual(build.repository, { namespace: 'alice', name: 'app' });
      assert.equal(build.error, null);
      assert.equal(build.archive_url, `${files.url}/missing.tar.gz`);

      const same = await alice.get(`${base}${build.id}/status`);
      assert.deepEqual(same.body, build);

      assert.equal(await server.services.notifications.drain(), 1);
      const [queued] = receiver.at('/build_queued');
      assert.ok(queued, 'build_queued delivered');
      const payload = queued.json();
      assert.equal(payload.build_id, build.id);
      assert.equal(payload.repository, 'alice/app');
      assert.deepEqual(payload.docker_tags, ['latest']);
      assert.equal(payload.is_manual, true);
      assert.equal(payload.manual_user, 'alice');
    });

    test('path rules: subdirectory, context, dockerfile_path; tags as given', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const url = `${files.url}/missing.tar.gz`;
      const cases: [Record<string, unknown>, string, string][] = [
        [{}, '/Dockerfile', '/'],
        [{ subdirectory: 'web/' }, '/web/Dockerfile', '/web'],
        [{ context: '/web' }, '/web/Dockerfile', '/web'],
        [{ dockerfile_path: 'Dockerfile.ci', context: '/' }, '/Dockerfile.ci', '/'],
      ];
      for (const [fields, dockerfile, context] of cases) {
        const res = await carol.post(base, { archive_url: url, docker_tags: ['v1', 'v2'], ...fields });
        assert.equal(res.status, 201, res.text);
        assert.equal(res.body.dockerfile_path, dockerfile, JSON.stringify(fields));
        assert.equal(res.body.context, context, JSON.stringify(fields));
        assert.deepEqual(res.body.tags, ['v1', 'v2']);
        assert.equal(res.body.manual_user, 'carol');
      }
    });

    test('bad requests are 400 naming the problem, and store nothing', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const before = (await alice.get(`${base}?limit=100`)).body.builds.length;
      const url = `${files.url}/missing.tar.gz`;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{}, /^file_id or archive_url required$/],
        [{ docker_tags: ['x'] }, /file_id or archive_url required/],
        [{ archive_url: 'not a url' }, /archive_url/],
        [{ archive_url: 'ftp://example.com/x.tar.gz' }, /archive_url/],
        [{ archive_url: url, docker_tags: [] }, /docker_tags/],
        [{ archive_url: url, docker_tags: ['a', 'a'] }, /docker_tags/],
        [{ archive_url: url, docker_tags: ['no spaces'] }, /docker_tags/],
        [{ archive_url: url, dockerfile_path: '../../etc/passwd' }, /dockerfile_path/],
        [{ archive_url: url, subdirectory: 'a/../../b' }, /subdirectory/],
        [{ archive_url: url, pull_robot: 'alice+nobody' }, /pull_robot/],
        // bob's robot exists, but alice does not administer bob's namespace.
        [{ archive_url: url, pull_robot: 'bob+bot' }, /pull_robot/],
        [{ file_id: '00000000-0000-4000-8000-000000000000' }, /file_id/],
      ];
      for (const [body, message] of cases) {
        const res = await alice.post(base, body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.match(res.body.error_message, message, JSON.stringify(body));
        assert.equal(res.body.error_type, 'invalid_request');
      }
      assert.equal((await alice.get(`${base}?limit=100`)).body.builds.length, before);
    });

    test('archive_url to a loopback address without SLIPWAY_OUTBOUND_ALLOW is 400 naming archive_url', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const admin = (await userWithToken(strict, 'admin')).client;
      await createPrivateRepository(admin, 'admin', 'app');
      for (const archive_url of [
        `${files.url}/context.tar.gz`,
        'http://localhost:8080/context.tar.gz',
        'http://169.254.169.254/latest/meta-data',
        'http://[::1]/context.tar.gz',
        'http://10.1.2.3/context.tar.gz',
      ]) {
        const res = await admin.post('/repository/admin/app/build/', { archive_url });
        assert.equal(res.status, 400, `${archive_url}: ${res.text}`);
        assert.match(res.body.error_message, /^archive_url: this address may not be reached$/);
      }
      assert.deepEqual((await admin.get('/repository/admin/app/build/')).body, { builds: [] });
    });

    test('reading needs read, starting write, logs write, cancelling admin; private looks missing', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const { builds } = (await alice.get(`${base}?limit=1`)).body;
      const id = builds[0].id;
      const view = await bob.get(`${base}${id}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.is_writer, false);
      assert.equal('archive_url' in view.body, false, 'readers do not see the archive URL');
      assert.equal((await bob.get(`${base}${id}/logs`)).status, 403);
      assert.equal((await bob.post(base, { archive_url: `${files.url}/x.tar.gz` })).status, 403);
      assert.equal((await carol.delete(`${base}${id}`)).status, 403);
      assert.equal((await carol.get(`${base}${id}/logs`)).status, 200);

      // An outsider and the anonymous see the private repository exactly as a missing one.
      for (const [client, status] of [
        [outsider, 403],
        [anonymous, 401],
      ] as const) {
        for (const path of [base, `${base}${id}`, `${base}${id}/status`, `${base}${id}/logs`]) {
          const real = await client.get(path);
          const missing = await client.get(path.replace('/app/', '/nothing/'));
          assert.equal(real.status, status, path);
          assert.equal(missing.status, status, path);
          assert.deepEqual(real.body, missing.body, path);
          assert.doesNotMatch(real.text, /missing\.tar\.gz|alice\+bot/);
        }
        assert.equal((await client.post(base, { archive_url: `${files.url}/x.tar.gz` })).status, status);
        assert.equal((await client.delete(`${base}${id}`)).status, status);
      }
      // Another repository's build id is not found here.
      assert.equal((await alice.get(`${base}00000000-0000-4000-8000-000000000000`)).status, 404);
    });

    test('list: newest first, limit, since', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const all = (await alice.get(`${base}?limit=100`)).body.builds;
      assert.ok(all.length >= 5);
      const started = all.map((b: any) => Date.parse(b.started));
      assert.deepEqual(
        started,
        [...started].sort((a, b) => b - a),
      );
      assert.equal((await alice.get(base)).body.builds.length, 5, "Quay's default limit");
      const one = (await alice.get(`${base}?limit=1`)).body.builds;
      assert.deepEqual(
        one.map((b: any) => b.id),
        [all[0].id],
      );
      const future = Math.floor(Date.now() / 1000) + 3600;
      assert.deepEqual((await alice.get(`${base}?since=${future}`)).body, { builds: [] });
      assert.equal((await alice.get(`${base}?limit=0`)).status, 400);
    });

    test('logs of a waiting build; cancel before it runs: 201 Okay, cancelled, then 400', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      const created = await alice.post(base, { archive_url: `${files.url}/missing.tar.gz` });
      const id = created.body.id;
      const logs = await alice.get(`${base}${id}/logs`);
      assert.equal(logs.status, 200);
      assert.equal(logs.body.start, 0);
      assert.equal(logs.body.total, 1);
      assert.equal(logs.body.logs.length, 1);
      assert.equal(logs.body.logs[0].type, 'phase');
      assert.equal(logs.body.logs[0].message, 'waiting');
      assert.match(logs.body.logs[0].data.datetime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);

      const cancel = await alice.delete(`${base}${id}`);
      assert.equal(cancel.status, 201, cancel.text);
      assert.equal(cancel.body, 'Okay');
      const after = await alice.get(`${base}${id}`);
      assert.equal(after.body.phase, 'cancelled');
      assert.match(after.body.error, /cancelled by alice/);
      const again = await alice.delete(`${base}${id}`);
      assert.equal(again.status, 400);
      assert.equal(again.body.error_message, 'Build is currently running or has finished');
      const ended = (await alice.get(`${base}${id}/logs?start=1`)).body;
      assert.deepEqual(
        ended.logs.map((e: any) => [e.type, e.message]),
        [['phase', 'cancelled']],
      );
      assert.equal(ended.total, 2);
    });

    test('filedrop: an upload URL and file id; one PUT; only its owner builds from it', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      assert.equal((await anonymous.post('/filedrop/', { mimeType: 'text/plain' })).status, 401);
      assert.equal((await alice.post('/filedrop/', {})).status, 400);
      const drop = await alice.post('/filedrop/', { mimeType: 'application/x-tar' });
      assert.equal(drop.status, 200, drop.text);
      assert.deepEqual(Object.keys(drop.body).sort(), ['file_id', 'url']);
      assert.equal(drop.body.url, `${server.url}/api/v1/filedrop/${drop.body.file_id}`);

      // Not uploaded yet: unknown to builds.
      assert.equal((await alice.post(base, { file_id: drop.body.file_id })).status, 400);
      const put = await fetch(drop.body.url, { method: 'PUT', body: Buffer.from('FROM scratch\n') });
      assert.equal(put.status, 200, await put.text());
      const second = await fetch(drop.body.url, { method: 'PUT', body: Buffer.from('FROM other\n') });
      assert.equal(second.status, 404, 'a file is uploaded once');
      const unknown = await fetch(`${server.url}/api/v1/filedrop/00000000-0000-4000-8000-000000000000`, {
        method: 'PUT',
        body: 'x',
      });
      assert.equal(unknown.status, 404);

      // Another user's upload is unknown to carol.
      const foreign = await carol.post(base, { file_id: drop.body.file_id });
      assert.equal(foreign.status, 400, foreign.text);
      assert.match(foreign.body.error_message, /file_id/);
      const build = await alice.post(base, { file_id: drop.body.file_id, docker_tags: ['uploaded'] });
      assert.equal(build.status, 201, build.text);
      assert.equal(build.body.resource_key, drop.body.file_id);
      assert.equal('archive_url' in build.body, false);

      // Past the configured limit: 413, nothing kept.
      const big = await alice.post('/filedrop/', { mimeType: 'application/gzip' });
      const tooBig = await fetch(big.body.url, { method: 'PUT', body: Buffer.alloc(MAX_BYTES + 1) });
      assert.equal(tooBig.status, 413);
      assert.equal((await alice.post(base, { file_id: big.body.file_id })).status, 400);
    });

    test('bad archives end the build in error with a clear message; build_failure is sent', async (t) => {
      if (skip) return t.skip('PostgreSQL is not available');
      // Builds queued by earlier tests run now too: they fail to download or are cancelled.
      await server.services.runScheduler.start();
      const big = await alice.post(base, { archive_url: `${files.url}/big.tar.gz` });
      const html = await alice.post(base, { archive_url: `${files.url}/page.html` });
      const gone = await alice.post(base, { archive_url: `${files.url}/nothing-here.tar.gz` });
      const drop = await alice.post('/filedrop/', { mimeType: 'text/html' });
      await fetch(drop.body.url, { method: 'PUT', body: '<html><body>not a build context</body></html>' });
      const uploaded = await alice.post(base, { file_id: drop.body.file_id });
      const expected: [any, RegExp][] = [
        [big, new RegExp(`^archive larger than ${MAX_BYTES} bytes$`)],
        [html, /^the file is not a tar, tar\.gz or zip archive, nor a Dockerfile$/],
        [gone, /answered HTTP 404/],
        [uploaded, /^the file is not a tar, tar\.gz or zip archive, nor a Dockerfile$/],
      ];
      for (const [created, message] of expected) {
        assert.equal(created.status, 201, created.text);
        const ended = await waitForPhase(alice, created.body.id, ['complete', 'error', 'cancelled']);
        assert.equal(ended.phase, 'error', JSON.stringify(ended));
        assert.match(ended.error, message);
        const logs = (await alice.get(`${base}${created.body.id}/logs`)).body;
        assert.deepEqual(
          logs.logs.filter((e: any) => e.type === 'phase').map((e: any) => e.message),
          ['waiting', 'build-scheduled', 'unpacking', 'error'],
        );
        assert.deepEqual(
          logs.logs.filter((e: any) => e.type === 'error').map((e: any) => e.message),
          [ended.error],
        );
        // Finished: no cancel.
        assert.equal((await alice.delete(`${base}${created.body.id}`)).status, 400);
      }
      const deadline = Date.now() + 10_000;
      while (receiver.at('/build_failure').length < 4 && Date.now() < deadline) {
        await server.services.notifications.drain();
        await sleep(50);
      }
      const failure = receiver
        .at('/build_failure')
        .map((r) => r.json())
        .find((p) => p.build_id === big.body.id);
      assert.ok(failure, 'build_failure for the too big archive');
      assert.equal(failure.error_message, `archive larger than ${MAX_BYTES} bytes`);
    });
  });
});
