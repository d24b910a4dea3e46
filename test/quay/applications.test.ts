// OAuth applications of organizations, the tokens minted through them (the way scripts get a token),
// the implicit grant `/oauth/authorize`, and `$oauthtoken` registry logins capped by the token's scopes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { containersEnv, requireTools, run } from '../support/tools.js';

/** A 400 ApiError whose message names the field. */
function assertBadInput(res: { status: number; body: any; text: string }, field: string): void {
  assert.equal(res.status, 400, res.text);
  assert.equal(res.body.error_type, 'invalid_request', res.text);
  assert.match(`${res.body.detail} ${res.body.error_message}`, new RegExp(field), res.text);
}

async function signIn(server: TestServer, username: string, password: string) {
  const res = await new QuayClient(server.url).post('/signin', { username, password });
  assert.equal(res.status, 200, res.text);
  const cookie = /^(_slipway_session=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const csrf = res.headers.get('x-next-csrf-token');
  assert.ok(cookie && csrf);
  return { cookie, csrf };
}

const appKeys = [
  'application_uri',
  'avatar_email',
  'client_id',
  'client_secret',
  'description',
  'name',
  'redirect_uri',
];

forEachDatabase((database) => {
  describe(`Quay OAuth applications and tokens on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    // Who calls: the organization's owner, a member, a creator, an outsider, the superuser,
    // the owner through a token without org:admin, and nobody.
    let owner: QuayClient;
    let member: QuayClient;
    let creator: QuayClient;
    let outsider: QuayClient;
    let superuser: QuayClient;
    let ownerNoOrgScope: QuayClient;
    let anon: QuayClient;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      const { identity } = server.services;
      const o = await userWithToken(server, 'owner');
      owner = o.client;
      await identity.createOrganization({ name: 'apporg', owner: (await identity.getUser(o.userId))! });
      member = (await userWithToken(server, 'member')).client;
      await identity.setMember('apporg', 'member', 'member');
      creator = (await userWithToken(server, 'creator')).client;
      await identity.setMember('apporg', 'creator', 'creator');
      const x = await userWithToken(server, 'outsider');
      outsider = x.client;
      await identity.createOrganization({ name: 'otherorg', owner: (await identity.getUser(x.userId))! });
      superuser = (await userWithToken(server, 'admin')).client;
      ownerNoOrgScope = (await userWithToken(server, 'owner', ['repo:admin', 'repo:create', 'user:admin']))
        .client;
      anon = new QuayClient(server.url);
    });
    after(() => server?.close());

    test('create, list, get, update, reset secret and delete; who may', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const body = {
        name: 'deployer',
        description: 'deploys things',
        application_uri: 'https://deployer.example',
        redirect_uri: 'https://deployer.example/callback',
        avatar_email: 'deployer@example.com',
      };
      const base = '/organization/apporg/applications';
      for (const [who, client, status] of [
        ['anonymous', anon, 401],
        ['member', member, 403],
        ['creator', creator, 403],
        ['outsider', outsider, 403],
        ['token without org:admin', ownerNoOrgScope, 403],
      ] as const) {
        assert.equal((await client.post(base, body)).status, status, `POST as ${who}`);
        assert.equal((await client.get(base)).status, status, `GET as ${who}`);
      }

      const created = await owner.post(base, body);
      assert.equal(created.status, 200, created.text);
      assert.deepEqual(Object.keys(created.body).sort(), appKeys);
      const app = created.body;
      assert.match(app.client_id, /^[A-Z0-9]{20}$/);
      assert.match(app.client_secret, /^[A-Z0-9]{40}$/);
      assert.equal(app.redirect_uri, body.redirect_uri);

      // The secret is stored sealed, not in clear.
      const row = await server.db
        .selectFrom('oauth_applications')
        .selectAll()
        .where('client_id', '=', app.client_id)
        .executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes(app.client_secret));

      const list = await owner.get(base);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { applications: [app] });
      assert.deepEqual(
        (await superuser.get(base)).body,
        { applications: [app] },
        'superusers administer all',
      );
      assert.deepEqual((await owner.get('/organization/otherorg/applications')).status, 403);
      assert.equal((await outsider.get('/organization/otherorg/applications')).body.applications.length, 0);
      // A missing organization looks forbidden to outsiders; only superusers learn it is missing.
      assert.equal((await owner.get('/organization/no-such-org/applications')).status, 403);
      assert.equal((await superuser.get('/organization/no-such-org/applications')).status, 404);

      const one = `${base}/${app.client_id}`;
      assert.deepEqual((await owner.get(one)).body, app);
      assert.equal((await member.get(one)).status, 403);
      assert.equal((await anon.get(one)).status, 401);
      assert.equal((await owner.get(`${base}/NOSUCHCLIENT`)).status, 404);
      assert.equal(
        (await outsider.get(`/organization/otherorg/applications/${app.client_id}`)).status,
        404,
        "another organization's application is not found there",
      );

      const updated = await owner.put(one, {
        name: 'deployer2',
        redirect_uri: 'https://deployer.example/cb2',
        application_uri: 'https://deployer.example/',
      });
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.name, 'deployer2');
      assert.equal(updated.body.description, '', 'PUT replaces: a missing description is cleared');
      assert.equal(updated.body.avatar_email, null);
      assert.equal(updated.body.client_secret, app.client_secret);
      assert.equal((await member.put(one, { name: 'x', redirect_uri: '', application_uri: '' })).status, 403);

      const reset = await owner.post(`${one}/resetclientsecret`);
      assert.equal(reset.status, 200);
      assert.notEqual(reset.body.client_secret, app.client_secret);
      assert.equal((await owner.get(one)).body.client_secret, reset.body.client_secret);
      assert.equal((await member.post(`${one}/resetclientsecret`)).status, 403);

      assert.equal((await member.delete(one)).status, 403);
      assert.equal((await owner.delete(one)).status, 204);
      assert.equal((await owner.get(one)).status, 404);
      assert.equal((await owner.delete(one)).status, 404);
    });

    test('bad input on application writes names the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const base = '/organization/apporg/applications';
      assertBadInput(await owner.post(base, {}), 'name');
      assertBadInput(await owner.post(base, { name: '   ' }), 'name');
      assertBadInput(await owner.post(base, { name: 'x', redirect_uri: 'not a url' }), 'redirect_uri');
      assertBadInput(
        await owner.post(base, { name: 'x', redirect_uri: 'javascript:alert(1)' }),
        'redirect_uri',
      );
      assertBadInput(await owner.post(base, { name: 'x', application_uri: '/relative' }), 'application_uri');
      const app = (await owner.post(base, { name: 'bad-input' })).body;
      const one = `${base}/${app.client_id}`;
      assertBadInput(await owner.put(one, { name: 'x', redirect_uri: '' }), 'application_uri');
      assertBadInput(await owner.put(one, { name: 'x', application_uri: '' }), 'redirect_uri');
      assertBadInput(await owner.post(`${one}/tokens`, {}), 'scope');
      assertBadInput(await owner.post(`${one}/tokens`, { scope: 'repo:read repo:bogus' }), 'scope');
      assertBadInput(await owner.post(`${one}/tokens`, { scope: 'repo:read', expiration: 0 }), 'expiration');
      assertBadInput(await owner.post(`${one}/tokens`, { scope: 'repo:read', name: '  ' }), 'name');
      assertBadInput(
        await owner.post(`${one}/tokens`, { scope: 'repo:read', name: 'n'.repeat(256) }),
        'name',
      );
    });

    test('GET /app/{client_id} is public information', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const app = (
        await owner.post('/organization/apporg/applications', {
          name: 'public-info',
          description: 'shown to all',
          application_uri: 'https://info.example',
        })
      ).body;
      const info = await anon.get(`/app/${app.client_id}`);
      assert.equal(info.status, 200, info.text);
      assert.deepEqual(Object.keys(info.body).sort(), [
        'avatar',
        'description',
        'name',
        'organization',
        'uri',
      ]);
      assert.equal(info.body.uri, 'https://info.example');
      assert.equal(info.body.avatar.kind, 'app');
      assert.equal(info.body.organization.name, 'apporg');
      assert.equal(info.body.organization.is_admin, false);
      assert.equal(info.body.organization.email, '');
      assert.equal(JSON.stringify(info.body).includes(app.client_secret), false);
      assert.equal((await owner.get(`/app/${app.client_id}`)).body.organization.is_admin, true);
      assert.equal((await member.get(`/app/${app.client_id}`)).body.organization.is_member, true);
      assert.equal((await anon.get('/app/NOSUCHCLIENT')).status, 404);
    });

    test('tokens minted through an application: scopes capped, who may mint, list, revoke', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const app = (await owner.post('/organization/apporg/applications', { name: 'scripts' })).body;
      const tokens = `/organization/apporg/applications/${app.client_id}/tokens`;

      const before = Date.now();
      const minted = await owner.post(tokens, { name: 'ci', scope: 'repo:read,user:read', expiration: 3600 });
      assert.equal(minted.status, 200, minted.text);
      assert.deepEqual(Object.keys(minted.body).sort(), [
        'created',
        'created_by',
        'expires_at',
        'last_accessed',
        'name',
        'scope',
        'token',
        'uuid',
      ]);
      assert.equal(minted.body.scope, 'repo:read user:read');
      assert.equal(minted.body.created_by, 'owner');
      assert.equal(minted.body.name, 'ci');
      assert.equal(minted.body.last_accessed, null);
      assert.match(minted.body.token, /^[A-Za-z0-9]{40}$/);
      const expires = Date.parse(minted.body.expires_at);
      assert.ok(minted.body.expires_at.endsWith('Z'));
      assert.ok(expires >= before + 3600_000 - 5000 && expires <= Date.now() + 3600_000 + 5000);

      // The token acts as its creator, capped by its scopes.
      const script = new QuayClient(server.url, minted.body.token);
      assert.equal((await script.get('/user/')).body.username, 'owner');
      assert.equal((await script.put('/user/', { tag_expiration_s: 86400 })).status, 403, 'no user:admin');
      assert.equal((await script.get('/organization/apporg/applications')).status, 403, 'no org:admin');

      const unnamed = await owner.post(tokens, { scope: 'user:read' });
      assert.equal(unnamed.status, 200);
      assert.equal(unnamed.body.name, null);
      const tenYears = Date.parse(unnamed.body.expires_at) - Date.now();
      assert.ok(tenYears > 9.9 * 365 * 24 * 3600_000, 'default lifetime is ten years');

      for (const [who, client, status] of [
        ['anonymous', anon, 401],
        ['member', member, 403],
        ['creator', creator, 403],
        ['outsider', outsider, 403],
        ['token without org:admin', ownerNoOrgScope, 403],
      ] as const) {
        assert.equal((await client.post(tokens, { scope: 'repo:read' })).status, status, `mint as ${who}`);
        assert.equal((await client.get(tokens)).status, status, `list as ${who}`);
      }
      // A token caller cannot mint more than it holds; super:user needs a superuser.
      const orgOnly = (await userWithToken(server, 'owner', ['org:admin'])).client;
      assert.equal((await orgOnly.post(tokens, { scope: 'org:admin' })).status, 200);
      assert.equal((await orgOnly.post(tokens, { scope: 'repo:write' })).status, 403);
      const repoAdmin = (await userWithToken(server, 'owner', ['org:admin', 'repo:admin'])).client;
      assert.equal(
        (await repoAdmin.post(tokens, { scope: 'repo:read' })).status,
        200,
        'repo:admin implies read',
      );
      assert.equal((await owner.post(tokens, { scope: 'super:user' })).status, 403);
      assert.equal((await superuser.post(tokens, { scope: 'super:user' })).status, 200);
      assert.equal(
        (await owner.post('/organization/apporg/applications/NOSUCHCLIENT/tokens', { scope: 'repo:read' }))
          .status,
        404,
      );

      const list = await owner.get(tokens);
      assert.equal(list.status, 200);
      const listed = list.body.tokens.find((x: any) => x.uuid === minted.body.uuid);
      assert.equal(listed.name, 'ci');
      assert.equal(listed.token, undefined, 'the secret is only shown once');
      assert.notEqual(listed.last_accessed, null, 'using the token records its last access');
      assert.equal(list.body.next_page, undefined);
      assert.equal((await superuser.get(tokens)).status, 200);

      assert.equal((await member.delete(`${tokens}/${minted.body.uuid}`)).status, 403);
      assert.equal((await owner.delete(`${tokens}/${minted.body.uuid}`)).status, 204);
      assert.equal((await owner.delete(`${tokens}/${minted.body.uuid}`)).status, 404);
      assert.equal((await script.get('/user/')).status, 401, 'a revoked token is anonymous');

      // Deleting the application revokes what was issued through it.
      const other = new QuayClient(server.url, unnamed.body.token);
      assert.equal((await other.get('/user/')).status, 200);
      assert.equal((await owner.delete(`/organization/apporg/applications/${app.client_id}`)).status, 204);
      assert.equal((await other.get('/user/')).status, 401);
    });

    test('OAuth implicit grant at /oauth/authorize for a signed-in user', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const app = (
        await owner.post('/organization/apporg/applications', {
          name: 'webapp',
          redirect_uri: 'https://webapp.example/oauth',
        })
      ).body;
      const { cookie, csrf } = await signIn(server, 'member', 'member-password-1');
      const authorize = (params: Record<string, string>, headers: Record<string, string> = {}) =>
        fetch(new URL(`/oauth/authorize?${new URLSearchParams(params)}`, server.url), {
          headers,
          redirect: 'manual',
        });
      const params = {
        response_type: 'token',
        client_id: app.client_id,
        redirect_uri: 'https://webapp.example/oauth/done',
        scope: 'repo:read user:read',
        state: 'xyz',
      };

      const unsigned = await authorize(params);
      assert.equal(unsigned.status, 401);
      assert.equal(((await unsigned.json()) as any).error, 'login_required');

      const granted = await authorize(params, { cookie, 'x-csrf-token': csrf });
      assert.equal(granted.status, 302);
      const location = new URL(granted.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, 'https://webapp.example/oauth/done');
      const fragment = new URLSearchParams(location.hash.slice(1));
      assert.equal(fragment.get('token_type'), 'Bearer');
      assert.equal(fragment.get('state'), 'xyz');
      assert.equal(fragment.get('expires_in'), String(315576000));
      const token = fragment.get('access_token')!;
      assert.match(token, /^[A-Za-z0-9]{40}$/);
      const client = new QuayClient(server.url, token);
      assert.equal((await client.get('/user/')).body.username, 'member');
      assert.equal((await client.put('/user/', { tag_expiration_s: 86400 })).status, 403, 'capped by scope');

      // Bad requests are answered here, never redirected to an unverified URI.
      const badClient = await authorize(
        { ...params, client_id: 'NOSUCHCLIENT' },
        { cookie, 'x-csrf-token': csrf },
      );
      assert.equal(badClient.status, 400);
      assert.equal(((await badClient.json()) as any).error, 'invalid_client');
      for (const redirect of [
        'https://evil.example/oauth',
        'https://webapp.example.evil/oauth',
        'https://webapp.example/oauthx',
        'http://webapp.example/oauth',
      ]) {
        const res = await authorize({ ...params, redirect_uri: redirect }, { cookie, 'x-csrf-token': csrf });
        assert.equal(res.status, 400, redirect);
        assert.equal(res.headers.get('location'), null);
      }
      const missing = await authorize({ response_type: 'token', client_id: app.client_id }, { cookie });
      assert.equal(missing.status, 400);

      // Errors about the grant itself go back to the (verified) client in the fragment.
      const badScope = await authorize(
        { ...params, scope: 'repo:everything' },
        { cookie, 'x-csrf-token': csrf },
      );
      assert.equal(badScope.status, 302);
      assert.match(badScope.headers.get('location')!, /#error=invalid_scope&state=xyz$/);
      const badType = await authorize({ ...params, response_type: 'code' }, { cookie, 'x-csrf-token': csrf });
      assert.match(badType.headers.get('location')!, /#error=unsupported_response_type/);

      // A browser following a link (no CSRF header) must consent on a page that posts back with the token.
      const consent = await authorize(params, { cookie });
      assert.equal(consent.status, 200);
      const page = await consent.text();
      assert.match(page, /webapp/);
      assert.match(page, /action="\/oauth\/authorizeapp"/);
      assert.ok(page.includes(`value="${csrf}"`));
      const form = new URLSearchParams({ ...params, _csrf_token: csrf });
      const approve = (body: URLSearchParams) =>
        fetch(new URL('/oauth/authorizeapp', server.url), {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          redirect: 'manual',
        });
      const approved = await approve(form);
      assert.equal(approved.status, 302);
      assert.match(
        approved.headers.get('location')!,
        /^https:\/\/webapp\.example\/oauth\/done#access_token=/,
      );
      const forged = await approve(new URLSearchParams({ ...params, _csrf_token: 'forged' }));
      assert.equal(forged.status, 403);
    });

    test('$oauthtoken logins: a token without repo:write cannot push; repo:write + repo:create can', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      if (!requireTools(t, 'skopeo', 'buildah', 'busybox')) return;
      const app = (await owner.post('/organization/apporg/applications', { name: 'pusher' })).body;
      const tokens = `/organization/apporg/applications/${app.client_id}/tokens`;
      const readToken = (await owner.post(tokens, { scope: 'repo:read' })).body.token;
      const pushToken = (await owner.post(tokens, { scope: 'repo:write repo:create' })).body.token;
      const images = await buildTestImages(path.join(os.tmpdir(), 'slipway-test-images'));
      const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-oauthtoken-'));
      try {
        const env = containersEnv(dir);
        const copy = (token: string, repository: string) =>
          run(
            'skopeo',
            [
              'copy',
              '--dest-tls-verify=false',
              '--dest-creds',
              `$oauthtoken:${token}`,
              `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`,
              `docker://${server.host}/${repository}:v1`,
            ],
            { env, timeoutMs: 60_000 },
          );
        const refused = await copy(readToken, 'apporg/pushed');
        assert.notEqual(refused.code, 0, 'repo:read cannot push');
        assert.match(refused.stderr, /denied|unauthorized|authentication required/i);
        assert.equal(await server.services.repositories.find('apporg/pushed'), undefined);

        const pushed = await copy(pushToken, 'apporg/pushed');
        assert.equal(pushed.code, 0, pushed.stderr);
        assert.ok(await server.services.repositories.find('apporg/pushed'));

        // Once the repository exists, repo:read pulls but still cannot push.
        const inspect = await run(
          'skopeo',
          [
            'inspect',
            '--raw',
            '--tls-verify=false',
            '--creds',
            `$oauthtoken:${readToken}`,
            `docker://${server.host}/apporg/pushed:v1`,
          ],
          { env, timeoutMs: 60_000 },
        );
        assert.equal(inspect.code, 0, inspect.stderr);
        assert.notEqual((await copy(readToken, 'apporg/pushed')).code, 0);
        // The password of the user still works too, for comparison.
        assert.equal(
          (
            await run(
              'skopeo',
              ['login', '--tls-verify=false', '-u', 'admin', '-p', adminPassword, server.host],
              { env, timeoutMs: 60_000 },
            )
          ).code,
          0,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
