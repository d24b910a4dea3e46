import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { startHttpReceiver, startSmtpReceiver } from '../support/receivers.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ociManifest as manifestType, pushImage } from './push.js';

const rfc2822 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000$/;

type LogEntry = {
  kind: string;
  metadata: Record<string, unknown>;
  ip: string | null;
  datetime: string;
  performer?: { kind: string; name: string; is_robot: boolean; avatar: { kind: string; name: string } };
  namespace?: { kind: string; name: string };
};

/** `MM/DD/YYYY` of an epoch-millisecond time, in UTC. */
const day = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()}`;
};

forEachDatabase((database) => {
  describe(`Quay usage logs on ${database}`, () => {
    let server: TestServer;
    let receiver: Awaited<ReturnType<typeof startHttpReceiver>>;
    let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
    let alice: QuayClient;
    let bob: QuayClient;
    let superuser: QuayClient;
    let digest: string;
    let skip = false;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      receiver = await startHttpReceiver();
      smtp = await startSmtpReceiver();
      server = await startTestServer({
        database,
        config: { outboundAllow: '127.0.0.1/32', smtpUrl: smtp.url },
      });
      ({ client: alice } = await userWithToken(server, 'alice'));
      ({ client: bob } = await userWithToken(server, 'bob'));
      ({ client: superuser } = await userWithToken(server, 'admin'));
      const registry = new RegistryClient(server.url, { username: 'alice', password: 'alice-password-1' });
      ({ digest } = await pushImage(registry, 'alice/app', 'v1'));
      assert.equal(
        (await registry.request('GET', '/v2/alice/app/manifests/v1', { headers: { accept: manifestType } }))
          .status,
        200,
      );
      assert.equal(
        (await registry.request('HEAD', '/v2/alice/app/manifests/v1', { headers: { accept: manifestType } }))
          .status,
        200,
      );
      assert.equal((await registry.request('DELETE', '/v2/alice/app/manifests/v1')).status, 202);

      const { identity, robots, repositories } = server.services;
      const robot = await robots.create('alice', 'reader');
      await identity.grantRepository(
        (await repositories.get('alice/app')).id,
        { kind: 'robot', id: robot.id },
        'read',
      );
      const robotRegistry = new RegistryClient(server.url, { username: robot.name, password: robot.token });
      assert.equal(
        (
          await robotRegistry.request('GET', `/v2/alice/app/manifests/${digest}`, {
            headers: { accept: manifestType },
          })
        ).status,
        200,
      );

      const owner = await identity.getUserByName('alice');
      await identity.createOrganization({ name: 'acme', owner });
    });
    after(async () => {
      await server?.close();
      await receiver?.close();
      await smtp?.close();
    });

    test('pushes, pulls and deletes are logged with performer, address and metadata', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const res = await alice.get('/repository/alice/app/logs');
      assert.equal(res.status, 200, res.text);
      assert.match(res.body.start_time, rfc2822);
      assert.match(res.body.end_time, rfc2822);
      assert.equal(res.body.next_page, undefined);
      const logs = res.body.logs as LogEntry[];
      const kinds = logs.map((l) => l.kind).sort();
      assert.deepEqual(kinds, ['create_repo', 'delete_tag', 'pull_repo', 'pull_repo', 'push_repo']);

      const push = logs.find((l) => l.kind === 'push_repo')!;
      assert.deepEqual(Object.keys(push).sort(), ['datetime', 'ip', 'kind', 'metadata', 'performer']);
      assert.deepEqual(push.metadata, {
        repo: 'app',
        namespace: 'alice',
        tag: 'v1',
        manifest_digest: digest,
      });
      assert.equal(push.ip, '127.0.0.1');
      assert.match(push.datetime, rfc2822);
      assert.deepEqual(Object.keys(push.performer!).sort(), ['avatar', 'is_robot', 'kind', 'name']);
      assert.equal(push.performer!.kind, 'user');
      assert.equal(push.performer!.name, 'alice');
      assert.equal(push.performer!.is_robot, false);
      assert.equal(push.performer!.avatar.kind, 'user');

      const pulls = logs.filter((l) => l.kind === 'pull_repo');
      const byTag = pulls.find((l) => l.metadata.tag === 'v1')!;
      assert.equal(byTag.performer!.name, 'alice', 'a HEAD is not a pull: one pull by tag');
      const byRobot = pulls.find((l) => l.metadata.tag === undefined)!;
      assert.equal(byRobot.metadata.manifest_digest, digest);
      assert.equal(byRobot.performer!.name, 'alice+reader');
      assert.equal(byRobot.performer!.is_robot, true);
      assert.equal(byRobot.performer!.avatar.kind, 'robot');
      assert.deepEqual(logs.find((l) => l.kind === 'delete_tag')!.metadata, {
        repo: 'app',
        namespace: 'alice',
        tag: 'v1',
      });
      for (let i = 1; i < logs.length; i++)
        assert.ok(Date.parse(logs[i - 1]!.datetime) >= Date.parse(logs[i]!.datetime), 'newest first');

      const aggregated = await alice.get('/repository/alice/app/aggregatelogs');
      assert.equal(aggregated.status, 200);
      const today = new Date(
        Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()),
      );
      assert.deepEqual(
        aggregated.body.aggregated.find((a: { kind: string }) => a.kind === 'pull_repo'),
        { kind: 'pull_repo', count: 2, datetime: today.toUTCString().replace('GMT', '-0000') },
      );

      // The robot's creation is in the namespace's log; the user listing does not show namespaces.
      const userLogs = await alice.get('/user/logs');
      assert.equal(userLogs.status, 200);
      const created = (userLogs.body.logs as LogEntry[]).find((l) => l.kind === 'create_robot');
      assert.deepEqual(created?.metadata, { robot: 'alice+reader' });
      assert.ok((userLogs.body.logs as LogEntry[]).every((l) => l.namespace === undefined));
    });

    test('pages with next_page tokens; time windows; service-level kinds only for superusers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: carol } = await userWithToken(server, 'carol');
      const { audit } = server.services;
      const now = Date.now();
      for (let i = 0; i < 45; i++)
        audit.record({
          kind: 'change_repo_visibility',
          namespace: 'carol',
          repository: 'carol/app',
          performer: { kind: 'user', name: 'carol' },
          metadata: { repo: 'app', namespace: 'carol', n: i },
          datetime: now - 1000 - (i % 3),
        });
      audit.record({ kind: 'service_key_create', namespace: 'carol', metadata: {}, datetime: now - 500 });
      const old = Date.UTC(2024, 2, 5, 10, 0, 0);
      audit.record({ kind: 'create_repo', namespace: 'carol', metadata: { repo: 'old' }, datetime: old });

      const seen: number[] = [];
      let token: string | undefined;
      const sizes: number[] = [];
      do {
        const res = await carol.get(`/user/logs${token ? `?next_page=${encodeURIComponent(token)}` : ''}`);
        assert.equal(res.status, 200, res.text);
        sizes.push(res.body.logs.length);
        seen.push(...(res.body.logs as LogEntry[]).map((l) => l.metadata.n as number));
        token = res.body.next_page;
        if (token) assert.equal(typeof token, 'string');
      } while (token);
      assert.deepEqual(sizes, [20, 20, 5]);
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        [...Array(45).keys()],
        'every entry once, none twice',
      );
      const first = await carol.get('/user/logs?next_page=not-a-token');
      assert.equal(first.status, 200);
      assert.equal(first.body.logs.length, 20, 'an invalid token reads the first page');

      const window = await carol.get('/user/logs?starttime=03/05/2024&endtime=3/5/2024');
      assert.equal(window.status, 200);
      assert.equal(window.body.start_time, 'Tue, 05 Mar 2024 00:00:00 -0000');
      assert.equal(window.body.end_time, 'Wed, 06 Mar 2024 00:00:00 -0000', 'the end day is included');
      assert.deepEqual(
        (window.body.logs as LogEntry[]).map((l) => l.metadata.repo),
        ['old'],
      );
      const lastDay = await carol.get(`/user/logs?starttime=${day(now)}&endtime=${day(now)}`);
      assert.ok(lastDay.body.logs.length > 0);
      const reversed = await carol.get('/user/logs?starttime=03/05/2024&endtime=03/03/2024');
      assert.equal(reversed.status, 400);
      assert.match(reversed.body.detail, /endtime/);
      assert.equal(
        (await carol.get('/user/logs?starttime=yesterday')).status,
        200,
        'unparseable days take the default',
      );

      const aggregate = await carol.get('/user/aggregatelogs?starttime=03/01/2024&endtime=03/31/2024');
      assert.deepEqual(aggregate.body, {
        aggregated: [{ kind: 'create_repo', count: 1, datetime: 'Tue, 05 Mar 2024 00:00:00 -0000' }],
      });
      const todays = await carol.get('/user/aggregatelogs');
      assert.deepEqual(
        todays.body.aggregated.map((a: { kind: string; count: number }) => [a.kind, a.count]),
        [['change_repo_visibility', 45]],
        'service-level kinds are left out of user logs',
      );

      const all = await superuser.get('/superuser/logs');
      assert.equal(all.status, 200);
      const everything: LogEntry[] = [];
      let next: string | undefined;
      do {
        const res = await superuser.get(
          `/superuser/logs${next ? `?next_page=${encodeURIComponent(next)}` : ''}`,
        );
        everything.push(...(res.body.logs as LogEntry[]));
        next = res.body.next_page;
      } while (next);
      assert.ok(everything.some((l) => l.kind === 'service_key_create'));
      const push = everything.find((l) => l.kind === 'push_repo')!;
      assert.equal(push.namespace?.kind, 'user');
      assert.equal(push.namespace?.name, 'alice');
      const aggregateAll = await superuser.get('/superuser/aggregatelogs');
      assert.equal(aggregateAll.status, 200);
      assert.ok(aggregateAll.body.aggregated.some((a: { kind: string }) => a.kind === 'service_key_create'));
    });

    test('organization logs: performer filter, namespace kind, who may read them', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { audit } = server.services;
      for (const [name, kind] of [
        ['alice', 'org_create_team'],
        ['bob', 'org_add_team_member'],
        ['bob', 'org_add_team_member'],
      ] as const)
        audit.record({
          kind,
          namespace: 'acme',
          performer: { kind: 'user', name },
          metadata: { team: 'devs' },
        });
      const all = await alice.get('/organization/acme/logs');
      assert.equal(all.status, 200, all.text);
      assert.equal(all.body.logs.length, 3);
      const byBob = await alice.get('/organization/acme/logs?performer=bob');
      assert.deepEqual(
        (byBob.body.logs as LogEntry[]).map((l) => [l.kind, l.performer?.name]),
        [
          ['org_add_team_member', 'bob'],
          ['org_add_team_member', 'bob'],
        ],
      );
      const aggregated = await alice.get('/organization/acme/aggregatelogs?performer=bob');
      assert.deepEqual(
        aggregated.body.aggregated.map((a: { kind: string; count: number }) => [a.kind, a.count]),
        [['org_add_team_member', 2]],
      );
      const system = await superuser.get('/superuser/logs');
      const orgEntry = (system.body.logs as LogEntry[]).find((l) => l.kind === 'org_create_team');
      assert.deepEqual(
        orgEntry?.namespace && { kind: orgEntry.namespace.kind, name: orgEntry.namespace.name },
        {
          kind: 'org',
          name: 'acme',
        },
      );

      const anonymous = new QuayClient(server.url);
      const { client: repoOnly } = await userWithToken(server, 'alice', ['repo:admin']);
      for (const path of ['/organization/acme/logs', '/organization/acme/aggregatelogs']) {
        assert.equal((await anonymous.get(path)).status, 401, path);
        assert.equal((await bob.get(path)).status, 403, path);
        assert.equal((await repoOnly.get(path)).status, 403, `${path} without org:admin`);
        assert.equal((await superuser.get(path)).status, 200, path);
      }
      assert.equal((await bob.get('/organization/nosuchorg/logs')).status, 403);
      assert.equal((await anonymous.post('/organization/acme/exportlogs', {})).status, 401);
      assert.equal((await bob.post('/organization/acme/exportlogs', {})).status, 403);
    });

    test('who may read repository, user and superuser logs', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const anonymous = new QuayClient(server.url);
      const { client: writer } = await userWithToken(server, 'alice', ['repo:read', 'repo:write']);
      const { client: userRead } = await userWithToken(server, 'alice', ['user:read']);
      for (const [method, path] of [
        ['GET', '/repository/alice/app/logs'],
        ['GET', '/repository/alice/app/aggregatelogs'],
        ['POST', '/repository/alice/app/exportlogs'],
      ] as const) {
        const body = method === 'POST' ? {} : undefined;
        assert.equal((await anonymous.request(method, path, body)).status, 401, path);
        const denied = await bob.request(method, path, body);
        assert.equal(denied.status, 403, path);
        assert.equal(denied.body.error_type, 'insufficient_scope');
        assert.equal((await writer.request(method, path, body)).status, 403, `${path} without repo:admin`);
        assert.equal((await superuser.request(method, path, body)).status, 200, path);
      }
      assert.equal((await alice.get('/repository/alice/missing/logs')).status, 404);
      assert.equal((await bob.get('/repository/alice/missing/logs')).status, 403);
      for (const [method, path] of [
        ['GET', '/user/logs'],
        ['GET', '/user/aggregatelogs'],
        ['POST', '/user/exportlogs'],
      ] as const) {
        const body = method === 'POST' ? {} : undefined;
        assert.equal((await anonymous.request(method, path, body)).status, 401, path);
        assert.equal((await userRead.request(method, path, body)).status, 403, `${path} without user:admin`);
        assert.equal((await alice.request(method, path, body)).status, 200, path);
      }
      for (const path of ['/superuser/logs', '/superuser/aggregatelogs']) {
        assert.equal((await anonymous.get(path)).status, 401, path);
        assert.equal((await alice.get(path)).status, 403, path);
      }
      await server.services.audit.settle();
    });

    test('exports are POSTed to the callback URL or mailed, in the background', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const queued = await alice.post('/repository/alice/app/exportlogs', {
        callback_url: `${receiver.url}/export`,
      });
      assert.equal(queued.status, 200, queued.text);
      assert.deepEqual(Object.keys(queued.body), ['export_id']);
      await server.services.audit.settle();
      const [delivered] = receiver.at('/export');
      assert.ok(delivered, 'the callback was called');
      const document = delivered.json();
      assert.equal(document.export_id, queued.body.export_id);
      assert.equal(document.status, 'success');
      assert.equal(document.details.repository, 'alice/app');
      assert.equal(document.terminated, false);
      const listed = (await alice.get('/repository/alice/app/logs')).body.logs as LogEntry[];
      assert.deepEqual(
        (document.logs as LogEntry[]).map((l) => l.kind).sort(),
        listed.map((l) => l.kind).sort(),
      );
      assert.equal(document.logs.find((l: LogEntry) => l.kind === 'push_repo').namespace.name, 'alice');

      const mailed = await alice.post('/organization/acme/exportlogs?starttime=01/01/2020', {
        callback_email: 'auditor@example.com',
      });
      assert.equal(mailed.status, 200, mailed.text);
      await server.services.audit.settle();
      const mail = smtp.messages.find((m) => m.to.includes('auditor@example.com'));
      assert.ok(mail, 'the export was mailed');
      assert.match(mail.raw, new RegExp(`export-${mailed.body.export_id}\\.json`));
      assert.equal((await alice.post('/user/exportlogs', {})).status, 200, 'no destination is accepted');

      const bad: Array<[unknown, RegExp]> = [
        [{ callback_url: 'ftp://example.com/x' }, /callback_url/],
        [{ callback_url: 'not a url' }, /callback_url/],
        [{ callback_url: 'http://10.0.0.1/x' }, /callback_url/],
        [{ callback_url: 'http://169.254.169.254/latest' }, /callback_url/],
        [{ callback_email: 'nobody' }, /callback_email/],
        [{ callback_url: ['x'] }, /callback_url/],
      ];
      for (const [body, field] of bad) {
        const res = await alice.post('/repository/alice/app/exportlogs', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error_type, 'invalid_request');
        assert.match(res.body.detail, field);
      }
      assert.equal(
        (await alice.request('POST', '/repository/alice/app/exportlogs')).status,
        400,
        'missing body',
      );
      assert.equal(receiver.at('/export').length, 1);
    });

    test('every kind of change is logged under its Quay kind: one action of each group through HTTP', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: carol } = await userWithToken(server, 'carol');
      const kindsAt = async (client: QuayClient, path: string) => {
        const res = await client.get(`${path}${path.includes('?') ? '&' : '?'}starttime=01/01/2020`);
        assert.equal(res.status, 200, `${path}: ${res.text}`);
        return new Map((res.body.logs as LogEntry[]).map((l) => [l.kind, l.metadata]));
      };
      const ok = async (res: Promise<{ status: number; text: string }>, status: number, what: string) => {
        const done = await res;
        assert.equal(done.status, status, `${what}: ${done.text}`);
      };

      // Organizations: robots, teams, prototypes, applications and their OAuth tokens.
      await ok(carol.post('/organization/', { name: 'auditorg' }), 201, 'org');
      await ok(carol.put('/organization/auditorg/robots/bot'), 201, 'robot');
      await ok(carol.put('/organization/auditorg/team/devs', { role: 'member' }), 200, 'team');
      await ok(carol.put('/organization/auditorg/team/devs/members/bob'), 200, 'team member');
      await ok(
        carol.post('/organization/auditorg/prototypes', {
          role: 'read',
          delegate: { name: 'devs', kind: 'team' },
        }),
        200,
        'prototype',
      );
      const app = await carol.post('/organization/auditorg/applications', { name: 'ci' });
      assert.equal(app.status, 200, app.text);
      const tokens = `/organization/auditorg/applications/${app.body.client_id}/tokens`;
      const minted = await carol.post(tokens, { name: 'deploy', scope: 'repo:read' });
      assert.equal(minted.status, 200, minted.text);
      await ok(carol.delete(`${tokens}/${minted.body.uuid}`), 204, 'revoke token');
      // Quotas (superuser) and namespace notifications.
      await ok(superuser.post('/organization/auditorg/quota', { limit_bytes: 100_000 }), 201, 'quota');
      const quotaId = (await superuser.get('/organization/auditorg/quota')).body[0].id;
      await ok(
        superuser.post(`/organization/auditorg/quota/${quotaId}/limit`, {
          type: 'Warning',
          threshold_percent: 80,
        }),
        201,
        'quota limit',
      );
      await ok(
        carol.post('/organization/auditorg/notifications', {
          event: 'quota_warning',
          method: 'webhook',
          config: { url: `${receiver.url}/quota` },
          eventConfig: {},
        }),
        201,
        'namespace notification',
      );
      await ok(superuser.post('/superuser/takeownership/auditorg'), 200, 'take ownership');
      // Proxy cache configuration of another organization.
      await ok(carol.post('/organization/', { name: 'auditproxy' }), 201, 'proxy org');
      await ok(
        carol.post('/organization/auditproxy/proxycache', { upstream_registry: '127.0.0.1:5999/library' }),
        201,
        'proxy cache',
      );

      const org = await kindsAt(carol, '/organization/auditorg/logs');
      for (const kind of [
        'org_create',
        'create_robot',
        'org_create_team',
        'org_add_team_member',
        'create_prototype_permission',
        'create_application',
        'create_oauth_api_token',
        'revoke_oauth_api_token',
        'org_create_quota',
        'org_create_quota_limit',
        'create_namespace_notification',
        'take_ownership',
      ])
        assert.ok(org.has(kind), `organization log has ${kind}: ${[...org.keys()].join(', ')}`);
      assert.deepEqual(org.get('create_oauth_api_token'), {
        oauth_token_uuid: minted.body.uuid,
        scope: 'repo:read',
        application_name: 'ci',
        client_id: app.body.client_id,
      });
      assert.deepEqual(org.get('org_create_quota'), { namespace: 'auditorg', limit_bytes: 100_000 });
      assert.deepEqual(
        (await kindsAt(carol, '/organization/auditproxy/logs')).get('create_proxy_cache_config'),
        {
          upstream_registry: '127.0.0.1:5999/library',
        },
      );

      // The user's own account: app tokens, e-mail, sign-in and sign-out.
      await ok(carol.post('/user/apptoken', { title: 'laptop' }), 200, 'app token');
      await ok(carol.put('/user/', { email: 'carol@elsewhere.example' }), 200, 'e-mail');
      const anonymous = new QuayClient(server.url);
      await ok(
        anonymous.post('/signin', { username: 'carol', password: 'carol-password-1' }),
        200,
        'sign in',
      );
      await ok(carol.post('/signout'), 200, 'sign out');
      const user = await kindsAt(carol, '/user/logs');
      for (const kind of [
        'create_app_specific_token',
        'user_change_email',
        'login_success',
        'logout_success',
      ])
        assert.ok(user.has(kind), `user log has ${kind}: ${[...user.keys()].join(', ')}`);
      assert.deepEqual(user.get('user_change_email'), {
        username: 'carol',
        email: 'carol@elsewhere.example',
        old_email: 'carol@example.com',
      });

      // Repositories: visibility, tag immutability, permanent deletion, mirroring (and its state).
      const registry = new RegistryClient(server.url, { username: 'carol', password: 'carol-password-1' });
      await pushImage(registry, 'carol/app', 'v1');
      await pushImage(registry, 'carol/app', 'old');
      await ok(
        carol.post('/repository/carol/app/changevisibility', { visibility: 'public' }),
        200,
        'visibility',
      );
      await ok(carol.put('/repository/carol/app/tag/v1', { immutable: true }), 201, 'immutable');
      await ok(carol.post('/repository/carol/app/tag/old/expire', { is_alive: true }), 200, 'expire');
      await ok(carol.put('/user/robots/syncer'), 201, 'mirror robot');
      await ok(
        carol.post('/repository', {
          namespace: 'carol',
          repository: 'mirrored',
          visibility: 'private',
          description: '',
        }),
        201,
        'mirrored repository',
      );
      await ok(
        carol.post('/repository/carol/mirrored/mirror', {
          external_reference: '127.0.0.1:5999/library/busybox',
          sync_interval: 3600,
          sync_start_date: '2024-01-01T00:00:00Z',
          root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['latest'] },
          robot_username: 'carol+syncer',
          skopeo_timeout_interval: 300,
        }),
        201,
        'mirror',
      );
      await ok(carol.put('/repository/carol/mirrored/mirror', { sync_interval: 60 }), 201, 'mirror change');
      await ok(carol.post('/repository/carol/mirrored/mirror/sync-now'), 204, 'sync now');

      const repo = await kindsAt(carol, '/repository/carol/app/logs');
      for (const kind of ['change_repo_visibility', 'change_tag_immutability', 'permanently_delete_tag'])
        assert.ok(repo.has(kind), `repository log has ${kind}: ${[...repo.keys()].join(', ')}`);
      assert.deepEqual(repo.get('change_tag_immutability'), {
        repo: 'app',
        namespace: 'carol',
        tag: 'v1',
        immutable: true,
      });
      const mirroredRes = await carol.get('/repository/carol/mirrored/logs');
      const mirrored = (mirroredRes.body.logs as LogEntry[]).filter(
        (l) => l.kind === 'repo_mirror_config_changed',
      );
      assert.deepEqual(mirrored.map((l) => [l.metadata.changed, l.metadata.to]).sort(), [
        ['external_reference', '127.0.0.1:5999/library/busybox'],
        ['sync_interval', 60],
        ['sync_status', 'SYNC_NOW'],
      ]);
      assert.ok((mirroredRes.body.logs as LogEntry[]).some((l) => l.kind === 'change_repo_state'));

      // A robot that mirrors may not be deleted (Quay's 400).
      const refused = await carol.delete('/user/robots/syncer');
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.body.error_type, 'invalid_request');
      assert.equal(refused.body.detail, 'Robot is being used by a mirror');
      assert.equal((await carol.get('/user/robots/syncer')).status, 200, 'the robot is still there');

      // Superuser: users and service keys show in the superuser's log.
      await ok(
        superuser.post('/superuser/users/', { username: 'dave', email: 'dave@example.com' }),
        200,
        'user',
      );
      await ok(superuser.put('/superuser/users/dave', { enabled: false }), 200, 'disable');
      await ok(superuser.put('/superuser/users/dave', { enabled: true }), 200, 'enable');
      await ok(superuser.delete('/superuser/users/dave'), 204, 'delete user');
      await ok(
        superuser.post('/superuser/keys', { service: 'audit', name: 'k', expiration: null }),
        200,
        'key',
      );
      const system = await kindsAt(superuser, '/superuser/logs');
      for (const kind of ['user_create', 'user_disable', 'user_enable', 'user_delete', 'service_key_create'])
        assert.ok(system.has(kind), `superuser log has ${kind}`);
      assert.deepEqual(system.get('user_create'), { username: 'dave', email: 'dave@example.com' });
    });
  });
});
