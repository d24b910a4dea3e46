// Organization proxy cache (/api/v1/organization/{org}/proxycache) against a real upstream:
// Debian's docker-registry on 127.0.0.1 with htpasswd auth; pulls through Slipway with skopeo.
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import {
  layoutDigest,
  layoutJson,
  pushToRegistry,
  seedUpstream,
  upstreamUser,
  type SeededUpstream,
} from '../support/docker-registry.js';
import { TEST_IMAGE_TAG, TEST_INDEX_TAG } from '../support/images.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { containersEnv, requireTools, run } from '../support/tools.js';

const tools = ['docker-registry', 'skopeo', 'buildah', 'busybox'];
const accept = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** arm64Config: the config blob of the index's arm64 image, in no image but that one. */
type Upstream = Omit<SeededUpstream, 'index'> & { arm64Config: string };

let workDir: string | undefined;
let upstream: Promise<Upstream> | undefined;

/** Built and seeded once for the file: `upstream/busybox` v1 (an image) and multi (an index). */
function seededUpstream(): Promise<Upstream> {
  upstream ??= (async () => {
    workDir = await mkdtemp(join(tmpdir(), 'slipway-proxy-'));
    const { index, ...seeded } = await seedUpstream(workDir, 'upstream/busybox', ['v1']);
    const arm64 = index.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const arm64Manifest = await layoutJson<{ config: { digest: string } }>(
      seeded.images.indexLayout,
      arm64.digest,
    );
    return { ...seeded, arm64Config: arm64Manifest.config.digest };
  })();
  return upstream;
}

after(async () => {
  if (upstream) await (await upstream.catch(() => undefined))?.registry.remove();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

forEachDatabase((database) => {
  describe(`Quay API proxy cache on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    let owner: QuayClient;
    let narrow: QuayClient;
    let member: QuayClient;
    let outsider: QuayClient;
    let superuser: QuayClient;
    let anonymous: QuayClient;
    let dirs = 0;
    const path = (org = 'proxied') => `/organization/${org}/proxycache`;
    const memberCreds = { username: 'proxymember', password: 'proxymember-password-1' };
    const ownerCreds = { username: 'proxyowner', password: 'proxyowner-password-1' };

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      const { identity } = server.services;
      owner = (await userWithToken(server, 'proxyowner')).client;
      narrow = (await userWithToken(server, 'proxyowner', ['repo:read', 'repo:admin'])).client;
      member = (await userWithToken(server, 'proxymember')).client;
      outsider = (await userWithToken(server, 'outsider')).client;
      superuser = (await userWithToken(server, 'admin')).client;
      anonymous = new QuayClient(server.url);
      const ownerUser = await identity.getUserByName('proxyowner');
      for (const org of ['proxied', 'proxyshort', 'plainorg']) {
        await identity.createOrganization({ name: org, owner: ownerUser });
        await identity.upsertTeam(org, 'readers', { role: 'member' });
        await identity.addTeamMember(org, 'readers', 'proxymember');
      }
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
      upstream_registry: `${host}/upstream`,
      upstream_registry_username: upstreamUser.username,
      upstream_registry_password: upstreamUser.password,
      insecure: true,
      ...overrides,
    });
    /** skopeo copy out of Slipway into a fresh OCI layout; returns the exit code, stderr and the copy's digest. */
    const pull = async (repository: string, creds: { username: string; password: string }, all = false) => {
      const dir = join(workDir!, `pull-${database}-${++dirs}`);
      const env = containersEnv(join(workDir!, `env-${database}-${dirs}`));
      const result = await run(
        'skopeo',
        [
          'copy',
          ...(all ? ['--all'] : []),
          '--src-tls-verify=false',
          '--src-creds',
          `${creds.username}:${creds.password}`,
          `docker://${server.host}/${repository}`,
          `oci:${dir}:out`,
        ],
        { env, timeoutMs: 60_000 },
      );
      return { ...result, digest: result.code === 0 ? await layoutDigest(dir, 'out') : undefined };
    };
    const manifestDigest = async (repository: string, tag: string, creds = ownerCreds) => {
      const res = await new RegistryClient(server.url, creds).request(
        'GET',
        `/v2/${repository}/manifests/${tag}`,
        {
          headers: { accept },
        },
      );
      return res.status === 200 ? res.headers.get('docker-content-digest') : res.status;
    };

    test('members read the configuration, admins change it; others get 401 or 403', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const empty = { upstream_registry: '', expiration_s: '', insecure: '' };
      for (const client of [member, owner, superuser]) {
        const res = await client.get(path('plainorg'));
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, empty);
      }
      const body = config('127.0.0.1:1');
      for (const [client, status, who] of [
        [anonymous, 401, 'anonymous'],
        [outsider, 403, 'a user of no team'],
        [narrow, 403, 'a token without org:admin'],
      ] as const) {
        assert.equal((await client.get(path('plainorg'))).status, status, `GET by ${who}`);
        assert.equal((await client.post(path('plainorg'), body)).status, status, `POST by ${who}`);
        assert.equal((await client.delete(path('plainorg'))).status, status, `DELETE by ${who}`);
        assert.equal((await client.post('/organization/plainorg/validateproxycache', body)).status, status);
      }
      assert.equal((await member.post(path('plainorg'), body)).status, 403, 'a member may not configure');
      assert.equal((await member.delete(path('plainorg'))).status, 403);
      assert.equal((await member.post('/organization/plainorg/validateproxycache', body)).status, 403);
      assert.equal((await outsider.get(path('nosuchorg'))).status, 403);
      assert.equal((await owner.delete(path('plainorg'))).status, 404, 'nothing to delete');
    });

    test('bad input is a 400 naming the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const cases: Array<[body: unknown, message: RegExp]> = [
        [{ insecure: true }, /upstream_registry/],
        [config('127.0.0.1:1', { upstream_registry: 'https://quay.io' }), /must not include a URL scheme/],
        [config('127.0.0.1:1', { upstream_registry: 'bad host/x' }), /whitespace/],
        [config('127.0.0.1:1', { upstream_registry: '10.1.2.3/x' }), /registry location is not allowed/],
        [config('127.0.0.1:1', { expiration_s: -5 }), /expiration_s/],
        [config('127.0.0.1:1', { insecure: 'sometimes' }), /insecure/],
      ];
      for (const [body, message] of cases) {
        for (const endpoint of [path('plainorg'), '/organization/plainorg/validateproxycache']) {
          const res = await owner.post(endpoint, body);
          assert.equal(res.status, 400, `${endpoint} ${JSON.stringify(body)}: ${res.text}`);
          assert.equal(res.body.error_type, 'invalid_request');
          assert.match(res.body.detail, message);
        }
      }
      assert.equal((await owner.request('POST', path('plainorg'))).status, 400, 'a missing body');
      assert.equal((await owner.get(path('plainorg'))).body.upstream_registry, '', 'nothing was stored');
    });

    test('validateproxycache tries the upstream: Valid, Anonymous, or a 400', async (t) => {
      if (!ready(t)) return;
      const { registry } = await seededUpstream();
      const validate = (body: unknown) => owner.post('/organization/proxied/validateproxycache', body);
      const valid = await validate(config(registry.host));
      assert.equal(valid.status, 202, valid.text);
      assert.equal(valid.body, 'Valid');
      const anonymousConfig = await validate({ upstream_registry: registry.host, insecure: true });
      assert.equal(anonymousConfig.status, 202, anonymousConfig.text);
      assert.equal(anonymousConfig.body, 'Anonymous');
      const wrong = await validate(config(registry.host, { upstream_registry_password: 'wrong' }));
      assert.equal(wrong.status, 400);
      assert.match(wrong.body.detail, /Failed login to remote registry/);
      const nobody = await validate(config('127.0.0.1:1'));
      assert.equal(nobody.status, 400);
      const tls = await validate(config(registry.host, { insecure: false }));
      assert.equal(tls.status, 400, 'HTTPS to a plain HTTP registry fails');
    });

    test('an organization pulls through on first pull and serves from its store after', async (t) => {
      if (!ready(t)) return;
      const up = await seededUpstream();
      const created = await owner.post(path(), config(up.registry.host));
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body, 'Created');
      const again = await owner.post(path(), config(up.registry.host));
      assert.equal(again.status, 400);
      assert.match(again.body.detail, /Proxy Cache Configuration already exists/);
      const exists = await owner.post('/organization/proxied/validateproxycache', config(up.registry.host));
      assert.equal(exists.status, 400);
      const view = await member.get(path());
      assert.deepEqual(view.body, {
        upstream_registry: `${up.registry.host}/upstream`,
        expiration_s: 86400,
        insecure: true,
      });
      const stored = await server.db.selectFrom('proxy_cache_configs').selectAll().executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(stored).includes(upstreamUser.password), 'upstream credentials are sealed');

      // Outsiders and anonymous clients cannot pull through.
      assert.equal(
        await manifestDigest('proxied/busybox', 'v1', {
          username: 'outsider',
          password: 'outsider-password-1',
        }),
        401,
      );
      const anonymousPull = await new RegistryClient(server.url).request(
        'GET',
        '/v2/proxied/busybox/manifests/v1',
      );
      assert.equal(anonymousPull.status, 401);
      assert.equal(
        await server.services.repositories.find('proxied/busybox'),
        undefined,
        'nothing created for them',
      );

      // A member pulls: the repository appears, private, with read for them.
      const first = await pull('proxied/busybox:v1', memberCreds);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.digest, up.imageDigest);
      const repo = await server.services.repositories.get('proxied/busybox');
      assert.equal(repo.visibility, 'private');
      const grants = await server.services.identity.listGrants(repo.id);
      assert.deepEqual(
        grants.map((g) => [g.name, g.role]),
        [['proxymember', 'read']],
      );
      assert.equal(
        (await server.services.manifests.get('proxied/busybox', 'v1', false)).digest,
        up.imageDigest,
      );

      // A blob not yet fetched (only in the arm64 image) is fetched when asked for.
      const blob = await new RegistryClient(server.url, memberCreds).request(
        'GET',
        `/v2/proxied/busybox/blobs/${up.arm64Config}`,
      );
      assert.equal(blob.status, 200);
      // An index pulls through with every platform.
      const index = await pull('proxied/busybox:multi', memberCreds, true);
      assert.equal(index.code, 0, index.stderr);
      assert.equal(index.digest, up.indexDigest);

      // With the upstream gone, what was pulled is served from the store; what was not, is not.
      await up.registry.stop();
      try {
        const second = await pull('proxied/busybox:v1', memberCreds);
        assert.equal(second.code, 0, second.stderr);
        assert.equal(second.digest, up.imageDigest);
        assert.equal((await pull('proxied/busybox:multi', memberCreds, true)).code, 0);
        assert.notEqual((await pull('proxied/busybox:v2', memberCreds)).code, 0);
        assert.notEqual((await pull('proxied/other:v1', memberCreds)).code, 0);
      } finally {
        await up.registry.start();
      }
      assert.equal(await server.services.repositories.find('proxied/other'), undefined);
    });

    test('a cached tag is checked again after expiration_s, and served stale when the upstream is down', async (t) => {
      if (!ready(t)) return;
      const up = await seededUpstream();
      const tag = `rolling-${database}`;
      await pushToRegistry(
        up.registry,
        up.images.env,
        `oci:${up.images.ociLayout}:${TEST_IMAGE_TAG}`,
        `upstream/busybox:${tag}`,
        {
          auth: true,
        },
      );
      const created = await owner.post(path('proxyshort'), config(up.registry.host, { expiration_s: 1 }));
      assert.equal(created.status, 201, created.text);
      assert.equal(await manifestDigest('proxyshort/busybox', tag), up.imageDigest);

      await pushToRegistry(
        up.registry,
        up.images.env,
        `oci:${up.images.indexLayout}:${TEST_INDEX_TAG}`,
        `upstream/busybox:${tag}`,
        { all: true, auth: true },
      );
      assert.equal(
        await manifestDigest('proxyshort/busybox', tag),
        up.imageDigest,
        'fresh: served from the cache',
      );
      await sleep(1100);
      assert.equal(await manifestDigest('proxyshort/busybox', tag), up.indexDigest, 'expired: fetched again');

      await up.registry.stop();
      try {
        await sleep(1100);
        assert.equal(await manifestDigest('proxyshort/busybox', tag), up.indexDigest, 'stale but served');
      } finally {
        await up.registry.start();
      }
    });

    test('DELETE removes the configuration (201 "Deleted"); what was cached stays', async (t) => {
      if (!ready(t)) return;
      const res = await owner.delete(path());
      assert.equal(res.status, 201);
      assert.equal(res.body, 'Deleted');
      assert.deepEqual((await member.get(path())).body, {
        upstream_registry: '',
        expiration_s: '',
        insecure: '',
      });
      assert.equal((await owner.delete(path())).status, 404);
      const { imageDigest } = await seededUpstream();
      assert.equal(await manifestDigest('proxied/busybox', 'v1', memberCreds), imageDigest);
      // No more pull-through: a tag not cached is unknown.
      assert.equal(await manifestDigest('proxied/busybox', 'multi-missing', memberCreds), 404);
    });
  });
});
