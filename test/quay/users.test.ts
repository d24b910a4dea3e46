// The user-facing identity endpoints of the Quay API: /user/, /users/{name}, sessions (signin,
// signout, CSRF), /user/initialize, app-specific tokens (and `$app` registry logins) and stars.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { containersEnv, requireTools, run } from '../support/tools.js';

/** Signs in through `POST /api/v1/signin`; the client sends the session cookie and the CSRF token. */
async function signIn(
  server: TestServer,
  username: string,
  password: string,
): Promise<{ client: QuayClient; cookie: string; csrf: string; anonymous: QuayClient }> {
  const anonymous = new QuayClient(server.url);
  const res = await anonymous.post('/signin', { username, password });
  assert.equal(res.status, 200, res.text);
  const cookie = /^(_slipway_session=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const csrf = res.headers.get('x-next-csrf-token');
  assert.ok(cookie && csrf, 'signin answers with a session cookie and X-Next-CSRF-Token');
  return {
    client: new QuayClient(server.url, undefined, { cookie, 'x-csrf-token': csrf }),
    cookie,
    csrf,
    anonymous,
  };
}

/** A 400 ApiError whose message names the field. */
function assertBadInput(res: { status: number; body: any; text: string }, field: string): void {
  assert.equal(res.status, 400, res.text);
  assert.equal(res.body.error_type, 'invalid_request', res.text);
  assert.match(`${res.body.detail} ${res.body.error_message}`, new RegExp(field), res.text);
}

forEachDatabase((database) => {
  describe(`Quay users, sessions, app tokens and stars on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
    });
    after(() => server?.close());

    test('GET /user/ shows the account to user:admin, only organizations to user:read', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: full, userId } = await userWithToken(server, 'alice');
      const alice = (await server.services.identity.getUser(userId))!;
      await server.services.identity.createOrganization({ name: 'aliceorg', owner: alice });

      const me = await full.get('/user/');
      assert.equal(me.status, 200, me.text);
      for (const key of [
        'anonymous',
        'username',
        'avatar',
        'can_create_repo',
        'is_me',
        'verified',
        'email',
        'logins',
        'invoice_email',
        'invoice_email_address',
        'preferred_namespace',
        'tag_expiration_s',
        'prompts',
        'company',
        'family_name',
        'given_name',
        'location',
        'is_free_account',
        'has_password_set',
        'quotas',
        'quota_report',
        'organizations',
      ])
        assert.ok(key in me.body, key);
      assert.equal(me.body.tag_expiration_s, 1209600);
      assert.deepEqual(me.body.quotas, [], 'no quota');
      assert.deepEqual(me.body.quota_report, {
        quota_bytes: 0,
        configured_quota: null,
        running_backfill: 'complete',
        backfill_status: 'complete',
      });
      // A quota set by a superuser shows in the user's own view, with its limits.
      const { quotas } = server.services;
      const quota = await quotas.create('alice', 5000, 'user');
      const limit = await quotas.addLimit('alice', String(quota.id), {
        type: 'Reject',
        thresholdPercent: 90,
      });
      const withQuota = (await full.get('/user/')).body;
      assert.deepEqual(withQuota.quotas, [
        { id: quota.id, limit_bytes: 5000, limits: [{ id: limit.id, type: 'Reject', limit_percent: 90 }] },
      ]);
      assert.equal(withQuota.quota_report.configured_quota, 5000);
      assert.equal(withQuota.quota_report.quota_bytes, 0);
      await quotas.delete('alice', String(quota.id));
      assert.equal(me.body.has_password_set, true);
      assert.equal('super_user' in me.body, false, 'super_user only appears to superusers');
      assert.deepEqual(
        me.body.organizations.map((o: any) => [o.name, o.is_org_admin, o.can_create_repo]),
        [['aliceorg', true, true]],
      );

      const { client: readOnly } = await userWithToken(server, 'alice', ['user:read']);
      const limited = await readOnly.get('/user/');
      assert.equal(limited.status, 200);
      assert.equal(limited.body.username, 'alice');
      assert.equal(limited.body.email, undefined, 'user:read does not show the account details');
      assert.ok(!('quotas' in limited.body) && !('quota_report' in limited.body), 'nor the quota');
      assert.equal(limited.body.organizations[0].name, 'aliceorg');
      assert.equal(limited.body.organizations[0].is_org_admin, undefined);

      const admin = await signIn(server, 'admin', adminPassword);
      const adminMe = await admin.client.get('/user/');
      assert.equal(adminMe.body.super_user, true);
    });

    test('GET /users/{username}: public view of users; robots and organizations are not found', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { userId } = await userWithToken(server, 'bob');
      const bob = (await server.services.identity.getUser(userId))!;
      await server.services.identity.createOrganization({ name: 'bobsorg', owner: bob });
      await server.services.robots.create('bob', 'builder');
      const anon = new QuayClient(server.url);
      const view = await anon.get('/users/bob');
      assert.equal(view.status, 200);
      assert.deepEqual(Object.keys(view.body).sort(), ['anonymous', 'avatar', 'username']);
      assert.equal((await anon.get('/users/bob+builder')).status, 404);
      assert.equal((await anon.get('/users/bobsorg')).status, 404);
      assert.equal((await anon.get('/users/nobody')).status, 404);
      const { client: bobClient } = await userWithToken(server, 'bob');
      const own = await bobClient.get('/users/bob');
      assert.equal(own.body.email, 'bob@example.com', 'one sees more of oneself');
      const { client: other } = await userWithToken(server, 'alice');
      assert.equal((await other.get('/users/bob')).body.email, undefined);
    });

    test('signin, session cookie, CSRF on writes, /csrf_token and signout', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      await userWithToken(server, 'carol');
      const anon = new QuayClient(server.url);
      const wrong = await anon.post('/signin', { username: 'carol', password: 'not-the-password' });
      assert.equal(wrong.status, 403);
      assert.deepEqual(Object.keys(wrong.body).sort(), [
        'invalidCredentials',
        'message',
        'needsEmailVerification',
      ]);
      assert.equal(wrong.body.invalidCredentials, true);
      assert.equal(wrong.body.needsEmailVerification, false);
      const unknown = await anon.post('/signin', { username: 'nobody-at-all', password: 'whatever-pw' });
      assert.deepEqual(unknown.body, wrong.body, 'an unknown user looks like a wrong password');
      assertBadInput(await anon.post('/signin', { username: 'carol' }), 'password');
      assertBadInput(await anon.post('/signin', { password: 'x' }), 'username');

      const { client, cookie, csrf } = await signIn(server, 'carol', 'carol-password-1');
      assert.equal((await client.get('/user/')).body.username, 'carol');

      // Writes with the session must repeat its CSRF token.
      const noCsrf = new QuayClient(server.url, undefined, { cookie });
      const refused = await noCsrf.put('/user/', { tag_expiration_s: 86400 });
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body, { error: 'CSRF token was invalid or missing.' });
      const badCsrf = new QuayClient(server.url, undefined, { cookie, 'x-csrf-token': 'nope' });
      assert.equal((await badCsrf.put('/user/', { tag_expiration_s: 86400 })).status, 403);
      assert.equal((await noCsrf.get('/user/')).status, 200, 'reads need no CSRF token');
      const ok = await client.put('/user/', { tag_expiration_s: 86400 });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.tag_expiration_s, 86400);

      // GET /csrf_token at the site root gives the session's token.
      const tokenRes = await fetch(new URL('/csrf_token', server.url), { headers: { cookie } });
      assert.equal(tokenRes.status, 200);
      assert.deepEqual(await tokenRes.json(), { csrf_token: csrf });
      const anonToken = (await (await fetch(new URL('/csrf_token', server.url))).json()) as any;
      assert.equal(typeof anonToken.csrf_token, 'string');

      // Signout needs the CSRF token too, then the cookie is worthless.
      assert.equal((await noCsrf.post('/signout')).status, 403);
      const out = await client.post('/signout');
      assert.equal(out.status, 200);
      assert.deepEqual(out.body, { success: true });
      assert.equal((await noCsrf.get('/user/')).status, 401);
      assert.deepEqual((await anon.post('/signout')).body, { success: true });
    });

    test('PUT /user/ changes e-mail and password (ending other sessions); bad input names the field', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: dave } = await userWithToken(server, 'dave');
      await userWithToken(server, 'erin');
      const anon = new QuayClient(server.url);
      assert.equal((await anon.put('/user/', { email: 'x@example.com' })).status, 401);
      const { client: readOnly } = await userWithToken(server, 'dave', ['user:read']);
      assert.equal((await readOnly.put('/user/', { email: 'x@example.com' })).status, 403);

      assertBadInput(await dave.put('/user/', { password: 'short' }), 'password');
      assertBadInput(await dave.put('/user/', { email: 'not-an-email' }), 'email');
      assertBadInput(await dave.put('/user/', { tag_expiration_s: -1 }), 'tag_expiration_s');
      assertBadInput(await dave.put('/user/', { tag_expiration_s: 3600 }), 'tag_expiration_s');
      assertBadInput(await dave.put('/user/', { email: 'erin@example.com' }), 'E-mail address already used');

      const changed = await dave.put('/user/', { email: 'dave2@example.com' });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.body.email, 'dave2@example.com');

      const first = await signIn(server, 'dave', 'dave-password-1');
      const second = await signIn(server, 'dave', 'dave-password-1');
      const res = await first.client.put('/user/', { password: 'dave-new-password' });
      assert.equal(res.status, 200, res.text);
      const next = res.headers.get('x-next-csrf-token');
      const newCookie = /^(_slipway_session=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
      assert.ok(next && newCookie, 'the caller gets a fresh session');
      assert.equal((await second.client.get('/user/')).status, 401, 'other sessions end');
      assert.equal((await first.client.get('/user/')).status, 401, 'the old session ends too');
      const fresh = new QuayClient(server.url, undefined, { cookie: newCookie, 'x-csrf-token': next });
      assert.equal((await fresh.get('/user/')).body.username, 'dave');
      assert.equal(
        (await anon.post('/signin', { username: 'dave', password: 'dave-password-1' })).status,
        403,
      );
      await signIn(server, 'dave', 'dave-new-password');
    });

    test('app-specific tokens: list, create, get with code, revoke; $app logs in to the registry', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client } = await userWithToken(server, 'frank');
      const anon = new QuayClient(server.url);
      assert.equal((await anon.get('/user/apptoken')).status, 401);
      assert.equal((await anon.post('/user/apptoken', { title: 'x' })).status, 401);
      const { client: readOnly } = await userWithToken(server, 'frank', ['user:read']);
      assert.equal((await readOnly.get('/user/apptoken')).status, 403);
      assert.equal((await readOnly.post('/user/apptoken', { title: 'x' })).status, 403);
      assertBadInput(await client.post('/user/apptoken', {}), 'title');
      assertBadInput(await client.post('/user/apptoken', { title: '' }), 'title');
      assertBadInput(await client.post('/user/apptoken', { title: { a: 1 } }), 'title');

      const created = await client.post('/user/apptoken', { title: 'ci' });
      assert.equal(created.status, 200, created.text);
      const token = created.body.token;
      assert.deepEqual(Object.keys(token).sort(), [
        'created',
        'expiration',
        'last_accessed',
        'title',
        'token_code',
        'uuid',
      ]);
      assert.match(token.token_code, /^[A-Z0-9]{120}$/);
      assert.match(token.created, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} -0000$/);
      assert.equal(token.expiration, null);

      const list = await client.get('/user/apptoken');
      assert.equal(list.status, 200);
      assert.equal(list.body.only_expiring, null);
      assert.deepEqual(
        list.body.tokens.map((x: any) => [x.uuid, x.title, 'token_code' in x]),
        [[token.uuid, 'ci', false]],
      );
      const expiring = await client.get('/user/apptoken?expiring=true');
      assert.equal(expiring.body.only_expiring, true);
      assert.deepEqual(expiring.body.tokens, [], 'tokens without expiration never expire soon');

      const one = await client.get(`/user/apptoken/${token.uuid}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.token.token_code, token.token_code);
      const { client: other } = await userWithToken(server, 'grace');
      assert.equal(
        (await other.get(`/user/apptoken/${token.uuid}`)).status,
        404,
        "others' tokens are not found",
      );
      assert.equal((await other.delete(`/user/apptoken/${token.uuid}`)).status, 404);

      // The code is stored hashed and sealed, never in clear.
      const rows = await server.db
        .selectFrom('access_tokens')
        .selectAll()
        .where('id', '=', token.uuid)
        .execute();
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(token.token_code.slice(60)));

      // `$app` + token logs in to the registry as frank.
      const registry = new RegistryClient(server.url, { username: '$app', password: token.token_code });
      const granted = await registry.token(['repository:frank/app:push,pull']);
      assert.equal(granted.status, 200);
      const claims = JSON.parse(Buffer.from(granted.token!.split('.')[1]!, 'base64url').toString());
      assert.equal(claims.name, 'frank');
      assert.deepEqual(claims.access[0].actions.sort(), ['pull', 'push']);

      assert.equal((await client.delete(`/user/apptoken/${token.uuid}`)).status, 204);
      assert.equal((await client.get(`/user/apptoken/${token.uuid}`)).status, 404);
      assert.equal(
        (await registry.token(['repository:frank/app:pull'])).status,
        401,
        'a revoked token no longer logs in',
      );
    });

    test('skopeo logs in and pushes with $app and an app-specific token', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      if (!requireTools(t, 'skopeo', 'buildah', 'busybox')) return;
      const { client } = await userWithToken(server, 'heidi');
      const code = (await client.post('/user/apptoken', { title: 'skopeo' })).body.token.token_code;
      const images = await buildTestImages(path.join(os.tmpdir(), 'slipway-test-images'));
      const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-apptoken-'));
      try {
        const env = containersEnv(dir);
        const login = await run(
          'skopeo',
          ['login', '--tls-verify=false', '-u', '$app', '-p', code, server.host],
          {
            env,
            timeoutMs: 60_000,
          },
        );
        assert.equal(login.code, 0, login.stderr);
        const push = await run(
          'skopeo',
          [
            'copy',
            '--dest-tls-verify=false',
            '--dest-creds',
            `$app:${code}`,
            `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`,
            `docker://${server.host}/heidi/app:v1`,
          ],
          { env, timeoutMs: 60_000 },
        );
        assert.equal(push.code, 0, push.stderr);
        assert.ok(await server.services.repositories.find('heidi/app'));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test('/user/starred: star readable repositories only, list with next_page, unstar', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { client: ivan, userId } = await userWithToken(server, 'ivan');
      const ivanUser = (await server.services.identity.getUser(userId))!;
      const { userId: judyId } = await userWithToken(server, 'judy');
      const judy = { kind: 'user' as const, id: judyId, name: 'judy', superuser: false };
      const repos = server.services.repositories;
      await repos.create('judy/public', judy, { visibility: 'public', description: 'open' });
      await repos.create('judy/secret', judy);
      await repos.create('judy/shared', judy);
      const shared = await repos.get('judy/shared');
      await server.services.identity.grantRepository(shared.id, ivanUser.id, 'read');

      const anon = new QuayClient(server.url);
      assert.equal((await anon.get('/user/starred')).status, 401);
      assert.equal(
        (await anon.post('/user/starred', { namespace: 'judy', repository: 'public' })).status,
        401,
      );
      assertBadInput(await ivan.post('/user/starred', { namespace: 'judy' }), 'repository');
      assertBadInput(await ivan.post('/user/starred', { repository: 'public' }), 'namespace');

      const star = await ivan.post('/user/starred', { namespace: 'judy', repository: 'public' });
      assert.equal(star.status, 201, star.text);
      assert.deepEqual(star.body, { namespace: 'judy', repository: 'public' });
      assert.equal(
        (await ivan.post('/user/starred', { namespace: 'judy', repository: 'public' })).status,
        201,
      );
      assert.equal(
        (await ivan.post('/user/starred', { namespace: 'judy', repository: 'shared' })).status,
        201,
      );
      // A private repository and a missing one are refused alike: nothing leaks.
      const secret = await ivan.post('/user/starred', { namespace: 'judy', repository: 'secret' });
      const missing = await ivan.post('/user/starred', { namespace: 'judy', repository: 'nothing' });
      assert.equal(secret.status, 403);
      assert.deepEqual(missing.body, secret.body);

      const { client: readOnly } = await userWithToken(server, 'ivan', ['user:read', 'repo:read']);
      assert.equal((await readOnly.get('/user/starred')).status, 403, 'listing needs user:admin');

      const listed = await ivan.get('/user/starred');
      assert.equal(listed.status, 200);
      assert.equal(listed.body.next_page, undefined);
      assert.deepEqual(listed.body.repositories, [
        { namespace: 'judy', name: 'public', description: 'open', is_public: true },
        { namespace: 'judy', name: 'shared', description: '', is_public: false },
      ]);

      // Losing read access hides the star.
      await server.services.identity.removeGrant(shared.id, 'judy', { kind: 'user', name: 'ivan' });
      assert.deepEqual(
        (await ivan.get('/user/starred')).body.repositories.map((r: any) => r.name),
        ['public'],
      );

      assert.equal((await ivan.delete('/user/starred/judy/public')).status, 204);
      assert.equal((await ivan.delete('/user/starred/judy/nothing')).status, 204);
      assert.equal((await anon.delete('/user/starred/judy/public')).status, 401);
      assert.deepEqual((await ivan.get('/user/starred')).body.repositories, []);

      // More than a page: 100 per page, then next_page.
      for (let i = 0; i < 101; i++) {
        const repo = await repos.create(`ivan/r${String(i).padStart(3, '0')}`, {
          ...judy,
          id: userId,
          name: 'ivan',
        });
        await server.services.stars.star({ kind: 'user', id: userId, name: 'ivan', superuser: false }, repo);
      }
      const page1 = await ivan.get('/user/starred');
      assert.equal(page1.body.repositories.length, 100);
      assert.equal(typeof page1.body.next_page, 'string');
      const page2 = await ivan.get(`/user/starred?next_page=${encodeURIComponent(page1.body.next_page)}`);
      assert.equal(page2.body.repositories.length, 1);
      assert.equal(page2.body.next_page, undefined);
      assert.equal((await ivan.get('/user/starred?next_page=garbage')).body.repositories.length, 100);
    });
  });

  describe(`POST /api/v1/user/initialize on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database, config: { createAdmin: false } });
      // As with SLIPWAY_CREATE_ADMIN=false: no user at all.
      if (await server.services.identity.findUserByName('admin'))
        await server.services.identity.deleteUser('admin');
    });
    after(() => server?.close());

    test('creates the first user (a superuser) with a token of every scope, once', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const anon = new QuayClient(server.url);
      assertBadInput(await anon.post('/user/initialize', { username: 'root' }), 'password');
      assertBadInput(
        await anon.post('/user/initialize', { username: 'Bad Name!', password: 'long-enough-1' }),
        'username',
      );
      assertBadInput(
        await anon.post('/user/initialize', { username: 'root', password: 'short' }),
        'password',
      );
      assertBadInput(
        await anon.post('/user/initialize', { username: 'root', password: 'long-enough-1', email: 'nope' }),
        'email',
      );

      const res = await anon.post('/user/initialize', {
        username: 'root',
        password: 'root-password-1',
        email: 'root@example.com',
        access_token: true,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.username, 'root');
      assert.equal(res.body.email, 'root@example.com');
      assert.match(res.body.access_token, /^[A-Z0-9]{40}$/);
      assert.ok(res.headers.get('x-next-csrf-token'), 'the new user is signed in');

      const root = new QuayClient(server.url, res.body.access_token);
      const me = await root.get('/user/');
      assert.equal(me.body.username, 'root');
      assert.equal(me.body.super_user, true);
      const [tokenRow] = await server.db.selectFrom('access_tokens').select('scopes').execute();
      assert.deepEqual(tokenRow!.scopes.split(' ').sort(), [
        'org:admin',
        'repo:admin',
        'repo:create',
        'repo:read',
        'repo:write',
        'super:user',
        'user:admin',
        'user:read',
      ]);

      const again = await anon.post('/user/initialize', { username: 'second', password: 'second-password' });
      assert.equal(again.status, 400);
      assert.equal(again.body.message, 'Cannot initialize user in a non-empty database');
      assert.equal(again.body.error_message, 'Cannot initialize user in a non-empty database');
      assert.equal(await server.services.identity.findUserByName('second'), undefined);
    });
  });
});
