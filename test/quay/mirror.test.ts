// Repository mirroring (/api/v1/repository/{r}/mirror) against a real upstream: Debian's
// docker-registry on 127.0.0.1 (with htpasswd auth), images pushed into it with skopeo.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainEvent } from '../../src/platform/events.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { seedUpstream, upstreamUser, type SeededUpstream } from '../support/docker-registry.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { requireTools } from '../support/tools.js';

const tools = ['docker-registry', 'skopeo', 'buildah', 'busybox'];
const upstreamRepo = 'upstream/busybox';

/** The single-platform image is tagged v1, v2 and latest upstream; childDigests are the index's children. */
type Upstream = Omit<SeededUpstream, 'index'> & { childDigests: string[] };

let workDir: string | undefined;
let upstream: Promise<Upstream> | undefined;

/** The upstream, built and seeded once for the file: v1, v2 and latest (one image) and multi (an index). */
function seededUpstream(): Promise<Upstream> {
  upstream ??= (async () => {
    workDir = await mkdtemp(join(tmpdir(), 'slipway-mirror-'));
    const { index, ...seeded } = await seedUpstream(workDir, upstreamRepo, ['v1', 'v2', 'latest']);
    return { ...seeded, childDigests: index.manifests.map((m) => m.digest) };
  })();
  return upstream;
}

after(async () => {
  if (upstream) await (await upstream.catch(() => undefined))?.registry.remove();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

forEachDatabase((database) => {
  describe(`Quay API repository mirroring on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    let owner: QuayClient;
    let narrow: QuayClient;
    let reader: QuayClient;
    let outsider: QuayClient;
    let superuser: QuayClient;
    let anonymous: QuayClient;
    let robotToken: string;
    const events: DomainEvent[] = [];
    const path = (repo = 'mirrors/busybox') => `/repository/${repo}/mirror`;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      const { identity, robots, repositories } = server.services;
      owner = (await userWithToken(server, 'mirrorowner')).client;
      narrow = (await userWithToken(server, 'mirrorowner', ['repo:read'])).client;
      const readerUser = await userWithToken(server, 'mirrorreader');
      reader = readerUser.client;
      outsider = (await userWithToken(server, 'outsider')).client;
      superuser = (await userWithToken(server, 'admin')).client;
      anonymous = new QuayClient(server.url);
      const ownerUser = await identity.getUserByName('mirrorowner');
      await identity.createOrganization({ name: 'mirrors', owner: ownerUser });
      robotToken = (await robots.create('mirrors', 'syncer')).token;
      await robots.create('mirrors', 'other');
      await identity.createOrganization({ name: 'elsewhere', owner: ownerUser });
      await robots.create('elsewhere', 'bot');
      const ownerSubject = {
        kind: 'user' as const,
        id: ownerUser.id,
        name: ownerUser.name,
        superuser: false,
      };
      for (const name of [
        'mirrors/busybox',
        'mirrors/plain',
        'mirrors/stalled',
        'mirrors/broken',
        'mirrors/copy',
      ])
        await repositories.create(name, ownerSubject);
      const busybox = await repositories.get('mirrors/busybox');
      await identity.grantRepository(busybox.id, readerUser.userId, 'read');
      server.services.events.on('mirror.sync_started', (e) => events.push(e));
      server.services.events.on('mirror.sync_succeeded', (e) => events.push(e));
      server.services.events.on('mirror.sync_failed', (e) => events.push(e));
    });
    after(() => server?.close());

    const ready = (t: TestContext) => {
      if (skip) {
        t.skip('PostgreSQL not reachable');
        return false;
      }
      return requireTools(t, ...tools);
    };

    const config = (host: string, overrides: Record<string, unknown> = {}) => ({
      external_reference: `${host}/${upstreamRepo}`,
      external_registry_username: upstreamUser.username,
      external_registry_password: upstreamUser.password,
      external_registry_config: { verify_tls: false },
      sync_interval: 3600,
      sync_start_date: '2024-01-01T00:00:00Z',
      root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['v*', 'multi'] },
      robot_username: 'mirrors+syncer',
      skopeo_timeout_interval: 300,
      ...overrides,
    });
    const localTags = async (repo = 'mirrors/busybox') =>
      (await server.services.manifests.tags(repo, {})).tags;
    const localDigest = async (repo: string, tag: string) =>
      (await server.services.manifests.get(repo, tag, false)).digest;

    test('only repository admins reach the mirror endpoints; others get 401, 403 or (admins) 404', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const host = '127.0.0.1:1';
      for (const [client, status, who] of [
        [anonymous, 401, 'anonymous'],
        [outsider, 403, 'a user without rights'],
        [reader, 403, 'a reader'],
        [narrow, 403, 'a token without repo:admin'],
      ] as const) {
        assert.equal((await client.get(path())).status, status, `GET by ${who}`);
        assert.equal((await client.post(path(), config(host))).status, status, `POST by ${who}`);
        assert.equal((await client.put(path(), { is_enabled: false })).status, status, `PUT by ${who}`);
        assert.equal((await client.post(`${path()}/sync-now`)).status, status, `sync-now by ${who}`);
        assert.equal((await client.post(`${path()}/sync-cancel`)).status, status, `sync-cancel by ${who}`);
      }
      // Missing repositories look forbidden to outsiders, missing to namespace admins.
      assert.equal((await outsider.get(path('mirrors/nothing'))).status, 403);
      assert.equal((await owner.get(path('mirrors/nothing'))).status, 404);
      // Admins (and superusers) get 404 while there is no configuration.
      for (const client of [owner, superuser]) {
        const res = await client.get(path('mirrors/plain'));
        assert.equal(res.status, 404);
        assert.equal(res.body.error_type, 'not_found');
        assert.equal((await client.post(`${path('mirrors/plain')}/sync-now`)).status, 404);
        assert.equal((await client.post(`${path('mirrors/plain')}/sync-cancel`)).status, 404);
        assert.equal((await client.put(path('mirrors/plain'), { is_enabled: true })).status, 404);
      }
    });

    test('bad input on create and update is a 400 naming the field; nothing is stored', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const host = '127.0.0.1:1';
      const cases: Array<[body: unknown, field: RegExp]> = [
        [{ ...config(host), robot_username: undefined }, /robot_username/],
        [{ ...config(host), external_reference: undefined }, /external_reference/],
        [{ ...config(host), root_rule: undefined }, /root_rule/],
        [config(host, { skopeo_timeout_interval: 100 }), /skopeo_timeout_interval/],
        [config(host, { sync_interval: -1 }), /sync_interval/],
        [config(host, { sync_interval: 'often' }), /sync_interval/],
        [config(host, { sync_start_date: 'tomorrow' }), /Incorrect DateTime format for sync_start_date/],
        [config(host, { sync_start_date: '2024-02-30T00:00:00Z' }), /sync_start_date/],
        [config(host, { root_rule: { rule_kind: 'regex', rule_value: ['v*'] } }), /rule_kind/],
        [config(host, { root_rule: { rule_kind: 'tag_glob_csv', rule_value: [] } }), /rule_value/],
        [config(host, { robot_username: 'mirrors+nobody' }), /Could not find robot/],
        [config(host, { robot_username: 'elsewhere+bot' }), /Invalid robot/],
        [config(host, { external_reference: `http://${host}/a/b` }), /must not include a URL scheme/],
        [config(host, { external_reference: host }), /must include a repository path/],
        [config(host, { external_reference: '10.1.2.3/a/b' }), /registry location is not allowed/],
        [config(host, { architecture_filter: ['amd64'] }), /architecture_filter|FEATURE_SPARSE_INDEX/],
        [config(host, { architecture_filter: ['vax'] }), /Invalid architectures: vax/],
        [config(host, { external_registry_username: null }), /external_registry_password/],
      ];
      for (const [body, field] of cases) {
        const res = await owner.post(path('mirrors/plain'), body);
        assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.text}`);
        assert.equal(res.body.error_type, 'invalid_request');
        assert.match(res.body.detail, field);
        assert.equal(res.body.detail, res.body.error_message);
      }
      const noBody = await owner.request('POST', path('mirrors/plain'));
      assert.equal(noBody.status, 400);
      assert.equal((await owner.get(path('mirrors/plain'))).status, 404, 'nothing was stored');
      assert.equal((await server.services.repositories.get('mirrors/plain')).state, 'NORMAL');
    });

    test('a mirror copies the matching tags (and only those) from a docker-registry with Basic auth', async (t) => {
      if (!ready(t)) return;
      const up = await seededUpstream();
      const created = await owner.post(path(), config(up.registry.host));
      assert.equal(created.status, 201, created.text);
      assert.equal(created.text, '""');
      assert.equal((await server.services.repositories.get('mirrors/busybox')).state, 'MIRROR');

      const again = await owner.post(path(), config(up.registry.host));
      assert.equal(again.status, 409);
      assert.match(again.body.detail, /already exits for repository mirrors\/busybox/);

      const view = await owner.get(path());
      assert.equal(view.status, 200);
      assert.deepEqual(view.body, {
        is_enabled: true,
        mirror_type: 'PULL',
        external_reference: `${up.registry.host}/${upstreamRepo}`,
        external_registry_username: upstreamUser.username,
        external_registry_config: { verify_tls: false },
        sync_interval: 3600,
        sync_start_date: '2024-01-01T00:00:00Z',
        sync_expiration_date: null,
        sync_retries_remaining: 3,
        sync_status: 'NEVER_RUN',
        root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['v*', 'multi'] },
        robot_username: 'mirrors+syncer',
        skopeo_timeout_interval: 300,
        architecture_filter: [],
      });
      assert.ok(!view.text.includes(upstreamUser.password), 'the password is never shown');
      const stored = await server.db.selectFrom('repository_mirrors').selectAll().executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(stored).includes(upstreamUser.password), 'the password is stored sealed');

      events.length = 0;
      // The start date is in the past: the sync is due, and the worker's round runs it.
      assert.equal(await server.services.mirror.syncDue(), 1);
      const synced = await owner.get(path());
      assert.equal(synced.body.sync_status, 'SUCCESS');
      assert.equal(synced.body.sync_retries_remaining, 3);
      assert.equal(synced.body.sync_expiration_date, null);
      assert.ok(Date.parse(synced.body.sync_start_date) > Date.now(), 'the next sync is an interval ahead');
      assert.deepEqual(await localTags(), ['multi', 'v1', 'v2']);
      assert.equal(await localDigest('mirrors/busybox', 'v1'), up.imageDigest);
      assert.equal(await localDigest('mirrors/busybox', 'multi'), up.indexDigest);
      for (const child of up.childDigests) assert.equal(await localDigest('mirrors/busybox', child), child);
      assert.deepEqual(
        events.map((e) => e.type),
        ['mirror.sync_started', 'mirror.sync_succeeded'],
      );
      assert.equal(
        (events[0] as { message: string }).message,
        `'${up.registry.host}/${upstreamRepo}' with tag pattern 'v*,multi'`,
      );
      assert.equal(await server.services.mirror.syncDue(), 0, 'nothing is due until the next interval');

      // The mirror robot got write; the image pulls back out of Slipway with the reader's token.
      const grants = await server.services.identity.listGrants(
        (await server.services.repositories.get('mirrors/busybox')).id,
      );
      assert.equal(grants.find((g) => g.name === 'mirrors+syncer')?.role, 'write');
      const pulled = await new RegistryClient(server.url, {
        username: 'mirrorreader',
        password: 'mirrorreader-password-1',
      }).request('GET', '/v2/mirrors/busybox/manifests/v2', {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), up.imageDigest);
    });

    test('a MIRROR repository takes pushes from its mirror robot only', async (t) => {
      if (!ready(t)) return;
      const scope = ['repository:mirrors/busybox:pull,push'];
      const actions = async (credentials: { username: string; password: string }) => {
        const { token } = await new RegistryClient(server.url, credentials).token(scope);
        const claims = JSON.parse(Buffer.from(token!.split('.')[1]!, 'base64url').toString()) as {
          access: Array<{ actions: string[] }>;
        };
        return claims.access[0]!.actions.sort();
      };
      assert.deepEqual(await actions({ username: 'mirrorowner', password: 'mirrorowner-password-1' }), [
        'pull',
      ]);
      assert.deepEqual(await actions({ username: 'mirrors+syncer', password: robotToken }), ['pull', 'push']);
    });

    test('a sync follows rule changes: tags that no longer match are removed', async (t) => {
      if (!ready(t)) return;
      const changed = await owner.put(path(), {
        root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['v1', 'latest'] },
      });
      assert.equal(changed.status, 201, changed.text);
      assert.equal(changed.text, '""');
      assert.equal(await server.services.mirror.syncNow('mirrors/busybox'), 'SUCCESS');
      assert.deepEqual(await localTags(), ['latest', 'v1']);
    });

    test('sync-now asks for a sync (204) that the worker runs; not while one runs', async (t) => {
      if (!ready(t)) return;
      const res = await owner.post(`${path()}/sync-now`);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.equal((await owner.get(path())).body.sync_status, 'SYNC_NOW');
      assert.equal(await server.services.mirror.syncDue(), 1);
      assert.equal((await owner.get(path())).body.sync_status, 'SUCCESS');
      // A superuser may ask too.
      assert.equal((await superuser.post(`${path()}/sync-now`)).status, 204);
      assert.equal(await server.services.mirror.syncDue(), 1);
    });

    test('sync-cancel stops a requested or running sync; only those can be cancelled', async (t) => {
      if (!ready(t)) return;
      assert.equal(
        (await owner.post(`${path()}/sync-cancel`)).status,
        404,
        'nothing to cancel after a success',
      );
      assert.equal((await owner.post(`${path()}/sync-now`)).status, 204);
      assert.equal((await owner.post(`${path()}/sync-cancel`)).status, 204);
      const cancelled = (await owner.get(path())).body;
      assert.equal(cancelled.sync_status, 'CANCEL');
      assert.equal(cancelled.sync_retries_remaining, 0);
      assert.equal(await server.services.mirror.syncDue(), 0, 'a cancelled mirror waits for sync-now');

      // A sync stuck on an upstream that never answers is stopped by sync-cancel.
      let hung!: () => void;
      const requested = new Promise<void>((resolve) => (hung = resolve));
      const stalled: Server = createServer(() => hung());
      await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
      const port = (stalled.address() as { port: number }).port;
      try {
        const created = await owner.post(path('mirrors/stalled'), config(`127.0.0.1:${port}`));
        assert.equal(created.status, 201, created.text);
        const running = server.services.mirror.syncNow('mirrors/stalled');
        await requested;
        assert.equal((await owner.get(path('mirrors/stalled'))).body.sync_status, 'SYNCING');
        assert.equal(
          (await owner.post(`${path('mirrors/stalled')}/sync-now`)).status,
          404,
          'not while syncing',
        );
        assert.equal((await owner.post(`${path('mirrors/stalled')}/sync-cancel`)).status, 204);
        assert.equal(await running, 'CANCEL');
      } finally {
        stalled.closeAllConnections();
        await new Promise((resolve) => stalled.close(resolve));
      }
    });

    test('a failing upstream fails the sync and spends a retry; partial updates are validated', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await owner.post(path('mirrors/broken'), config('127.0.0.1:1'));
      assert.equal(created.status, 201, created.text);
      events.length = 0;
      assert.equal(await server.services.mirror.syncNow('mirrors/broken'), 'FAIL');
      const failed = (await owner.get(path('mirrors/broken'))).body;
      assert.equal(failed.sync_status, 'FAIL');
      assert.equal(failed.sync_retries_remaining, 2);
      assert.equal(failed.sync_start_date, '2024-01-01T00:00:00Z', 'a failure is retried at once');
      assert.deepEqual(
        events.map((e) => e.type),
        ['mirror.sync_started', 'mirror.sync_failed'],
      );

      const put = (body: unknown) => owner.put(path('mirrors/broken'), body);
      for (const [body, message] of [
        [{ external_reference: '' }, /Empty string is an invalid repository location/],
        [{ external_registry_password: 'x' }, /without also specifying a username/],
        [{ external_registry_username: null, external_registry_password: 'x' }, /Unable to delete username/],
        [{ sync_start_date: '2024-01-01' }, /Incorrect DateTime format/],
        [{ robot_username: 'elsewhere+bot' }, /Invalid robot/],
        [{ skopeo_timeout_interval: 10 }, /skopeo_timeout_interval/],
        [{ is_enabled: 'maybe' }, /is_enabled/],
      ] as const) {
        const res = await put(body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.match(res.body.detail, message);
      }
      const ok = await put({
        is_enabled: false,
        sync_interval: 60,
        sync_start_date: '2030-01-02T03:04:05Z',
        external_registry_username: 'someone',
        external_registry_config: { unsigned_images: true, proxy: { https_proxy: null } },
        robot_username: 'mirrors+other',
      });
      assert.equal(ok.status, 201, ok.text);
      const view = (await owner.get(path('mirrors/broken'))).body;
      assert.equal(view.is_enabled, false);
      assert.equal(view.sync_interval, 60);
      assert.equal(view.sync_start_date, '2030-01-02T03:04:05Z');
      assert.equal(view.external_registry_username, 'someone');
      assert.deepEqual(view.external_registry_config, {
        verify_tls: false,
        unsigned_images: true,
        proxy: { https_proxy: null },
      });
      assert.equal(view.robot_username, 'mirrors+other');
      assert.equal(view.root_rule.rule_value.join(','), 'v*,multi', 'what was not given is unchanged');
    });

    test('a mirror of another Slipway follows Bearer token auth with robot credentials', async (t) => {
      if (!ready(t)) return;
      // Slipway itself is the upstream here: its /v2/ answers with a Bearer challenge.
      const created = await owner.post(
        path('mirrors/copy'),
        config(server.host, {
          external_reference: `${server.host}/mirrors/busybox`,
          external_registry_username: 'mirrors+syncer',
          external_registry_password: robotToken,
          root_rule: { rule_kind: 'tag_glob_csv', rule_value: ['*'] },
        }),
      );
      assert.equal(created.status, 201, created.text);
      assert.equal(await server.services.mirror.syncNow('mirrors/copy'), 'SUCCESS');
      assert.deepEqual(await localTags('mirrors/copy'), await localTags('mirrors/busybox'));
      assert.equal(await localDigest('mirrors/copy', 'v1'), await localDigest('mirrors/busybox', 'v1'));
    });
  });
});
