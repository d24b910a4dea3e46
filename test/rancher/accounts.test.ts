import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { userWithToken } from '../support/quay-client.js';
import { RancherClient, rancherUser } from '../support/rancher-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

const GOOD_TOKEN = 'gh-token-of-octocat';
const CODE_TOKEN = 'gh-token-from-code';
const CLIENT_ID = 'oauth-client-id';
const CLIENT_SECRET = 'oauth-client-secret';
const GOOD_CODE = 'good-code';

interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A GitHub Enterprise API on 127.0.0.1 (GitHub itself cannot run here): `/api/v3/user`, `/api/v3/user/repos`
 * in two pages linked by a `Link` header, and the OAuth code exchange. Both tokens belong to `Octo-Cat`; any
 * other answers 401 as GitHub does.
 */
async function startFakeGitHub() {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', base);
      seen.push({ method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, body });
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const input = JSON.parse(body) as Record<string, string>;
        if (input.client_id !== CLIENT_ID || input.client_secret !== CLIENT_SECRET)
          return json(200, { error: 'incorrect_client_credentials' });
        if (input.code !== GOOD_CODE)
          return json(200, {
            error: 'bad_verification_code',
            error_description: 'The code passed is incorrect or expired.',
          });
        return json(200, { access_token: CODE_TOKEN, token_type: 'bearer', scope: 'repo' });
      }
      const auth = req.headers.authorization;
      if (auth !== `token ${GOOD_TOKEN}` && auth !== `token ${CODE_TOKEN}`)
        return json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      if (req.method === 'GET' && url.pathname === '/api/v3/user')
        return json(200, {
          login: 'Octo-Cat',
          name: 'The Octocat',
          avatar_url: `${base}/avatars/octo-cat`,
          html_url: `${base}/Octo-Cat`,
        });
      if (req.method === 'GET' && url.pathname === '/api/v3/user/repos') {
        const repo = (name: string, language: string | null, push: boolean) => ({
          name,
          full_name: `Octo-Cat/${name}`,
          clone_url: `${base}/Octo-Cat/${name}.git`,
          language,
          permissions: { admin: push, push, pull: true },
        });
        const page = url.searchParams.get('page') ?? '1';
        const pageUrl = (n: number) => `${base}/api/v3/user/repos?per_page=100&page=${n}`;
        if (page === '1')
          return json(200, [repo('hello-world', 'Go', true), repo('spoon-knife', null, false)], {
            link: `<${pageUrl(2)}>; rel="next", <${pageUrl(2)}>; rel="last"`,
          });
        return json(200, [repo('linguist', 'Ruby', true)], {
          link: `<${pageUrl(1)}>; rel="prev", <${pageUrl(1)}>; rel="first"`,
        });
      }
      return json(404, { message: 'Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    host: new URL(base).host,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type FakeGitHub = Awaited<ReturnType<typeof startFakeGitHub>>;

const basicAdmin = `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`;

forEachDatabase((database) => {
  describe(`rancher remote accounts (${database})`, () => {
    let skip = false;
    let server: TestServer;
    let github: FakeGitHub;
    let admin: RancherClient;
    let alice: RancherClient;
    let bob: RancherClient;
    let aliceId: string;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      github = await startFakeGitHub();
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      admin = new RancherClient(server.url, basicAdmin);
      const a = await rancherUser(server, 'alice');
      alice = a.client;
      aliceId = a.userId;
      bob = (await rancherUser(server, 'bob')).client;
    });
    after(async () => {
      await server?.close();
      await github?.close();
    });
    const ready = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return !skip;
    };
    const githubConfig = () => ({
      scheme: 'http',
      host: github.host,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });

    it('answers 401 to anonymous callers and lists an unconfigured cluster pipeline', async (t) => {
      if (!ready(t)) return;
      const anonymous = new RancherClient(server.url);
      for (const path of ['/remoteaccounts', '/gitrepocaches', '/clusterpipelines']) {
        const res = await anonymous.get(path);
        assert.equal(res.status, 401, path);
        assert.equal(res.body.code, 'Unauthorized');
      }
      const list = await alice.get('/clusters/local/clusterpipelines');
      assert.equal(list.status, 200, list.text);
      assert.equal(list.body.type, 'collection');
      assert.equal(list.body.resourceType, 'clusterPipeline');
      assert.equal(list.body.createTypes, undefined, 'only superusers may create');
      assert.equal(list.body.data.length, 1);
      assert.equal(list.body.data[0].id, 'local');
      assert.equal(list.body.data[0].clusterName, 'local');
      assert.equal(list.body.data[0].githubConfig, undefined);
    });

    it('refuses a login before github is configured', async (t) => {
      if (!ready(t)) return;
      const res = await alice.action('/remoteaccounts', 'login', { type: 'github', accessToken: GOOD_TOKEN });
      assert.equal(res.status, 422, res.text);
      assert.match(res.body.message, /github is not configured/);
      assert.equal(github.seen.length, 0);
    });

    it('lets only superusers configure github; the client secret is sealed and never shown', async (t) => {
      if (!ready(t)) return;
      const denied = await alice.post('/clusters/local/clusterpipelines', {
        spec: { clusterName: 'local', githubConfig: githubConfig() },
      });
      assert.equal(denied.status, 403, denied.text);
      assert.equal(denied.body.type, 'error');
      assert.equal(denied.body.code, 'PermissionDenied');
      assert.equal((await server.db.selectFrom('source_providers').selectAll().execute()).length, 0);

      const wrongCluster = await admin.post('/clusters/local/clusterpipelines', {
        spec: { clusterName: 'c-abc', githubConfig: githubConfig() },
      });
      assert.equal(wrongCluster.status, 422, wrongCluster.text);
      assert.equal(wrongCluster.body.code, 'InvalidOption');
      assert.equal(wrongCluster.body.fieldName, 'clusterName');

      const created = await admin.post('/clusters/local/clusterpipelines', {
        spec: { clusterName: 'local', githubConfig: githubConfig() },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.type, 'clusterPipeline');
      assert.equal(created.body.githubConfig.host, github.host);
      assert.equal(created.body.githubConfig.clientId, CLIENT_ID);
      assert.equal(created.body.githubConfig.clientSecretSet, true);
      assert.equal(created.body.status.githubApiUrl, `${github.base}/api/v3`);
      assert.equal(created.body.creatorId, 'admin');
      assert.ok(created.body.links.update, 'a superuser may update');
      assert.ok(!created.text.includes(CLIENT_SECRET), 'the client secret is write-only');
      const [row] = await server.db.selectFrom('source_providers').selectAll().execute();
      assert.ok(row?.client_secret_sealed && !row.client_secret_sealed.includes(CLIENT_SECRET));

      const again = await admin.post('/clusterpipelines', { githubConfig: githubConfig() });
      assert.equal(again.status, 409, again.text);
      assert.equal(again.body.code, 'NotUnique');

      const read = await alice.get('/clusterpipelines/local');
      assert.equal(read.status, 200, read.text);
      assert.equal(read.body.githubConfig.host, github.host);
      assert.equal(read.body.links.update, undefined);
      assert.ok(!read.text.includes(CLIENT_SECRET));

      const update = await alice.put('/clusters/local/clusterpipelines/local', {
        spec: { githubConfig: { host: 'github.com' } },
      });
      assert.equal(update.status, 403, update.text);
      const missing = await alice.get('/clusterpipelines/other');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.code, 'NotFound');
      const deploy = await admin.action('/clusterpipelines/local', 'deploy');
      assert.equal(deploy.status, 404);
      assert.equal(deploy.body.code, 'ActionNotAvailable');
    });

    it('lets a superuser change the settings, keeping the secret when none is sent', async (t) => {
      if (!ready(t)) return;
      const badHost = await admin.put('/clusterpipelines/local', {
        spec: { githubConfig: { host: 'http://github.example/path' } },
      });
      assert.equal(badHost.status, 422, badHost.text);
      assert.equal(badHost.body.fieldName, 'host');
      const badScheme = await admin.put('/clusterpipelines/local', {
        spec: { githubConfig: { scheme: 'ftp' } },
      });
      assert.equal(badScheme.status, 422, badScheme.text);
      assert.equal(badScheme.body.fieldName, 'scheme');

      const changed = await admin.put('/clusters/local/clusterpipelines/local', {
        spec: { githubConfig: { ...githubConfig(), clientSecret: '', clientId: 'renamed-client' } },
      });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.body.githubConfig.clientId, 'renamed-client');
      assert.equal(changed.body.githubConfig.clientSecretSet, true);
      const restored = await admin.put('/clusters/local/clusterpipelines/local', {
        spec: { githubConfig: { clientID: CLIENT_ID } },
      });
      assert.equal(restored.body.githubConfig.clientId, CLIENT_ID);
      const provider = await server.services.sourceProviders.connect('github');
      assert.deepEqual(provider.oauthApp, { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    });

    it('logs in with an access token: the account is stored, the token never answered', async (t) => {
      if (!ready(t)) return;
      const res = await alice.action('/remoteaccounts', 'login', { type: 'github', accessToken: GOOD_TOKEN });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.type, 'remoteAccount');
      assert.equal(res.body.id, 'github-octo-cat');
      assert.equal(res.body.creatorId, 'alice');
      assert.equal(res.body.remoteType, 'github');
      assert.equal(res.body.login, 'Octo-Cat');
      assert.equal(res.body.accountName, 'Octo-Cat');
      assert.equal(res.body.displayName, 'The Octocat');
      assert.equal(res.body.htmlUrl, `${github.base}/Octo-Cat`);
      assert.equal(res.body.userId, aliceId);
      assert.equal(res.body.accessToken, undefined);
      assert.equal(res.body.spec, undefined);
      assert.ok(!res.text.includes(GOOD_TOKEN), 'the access token is write-only');
      assert.ok(
        res.body.actions.refreshrepos.endsWith('/v3/remoteaccounts/github-octo-cat?action=refreshrepos'),
      );

      const call = github.seen.find((r) => r.path === '/api/v3/user');
      assert.equal(call?.headers.authorization, `token ${GOOD_TOKEN}`);
      const rows = await server.db.selectFrom('remote_accounts').selectAll().execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.user_id, aliceId);
      assert.ok(!rows[0]!.access_token_sealed.includes(GOOD_TOKEN), 'the token is sealed at rest');

      const list = await alice.get('/remoteaccounts');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.data.map((a: { id: string }) => a.id),
        ['github-octo-cat'],
      );
      assert.ok(list.body.actions.login);
      assert.ok(!list.text.includes(GOOD_TOKEN));
      assert.equal((await alice.get(`/remoteaccounts?creatorId=alice`)).body.data.length, 1);
      assert.equal((await alice.get(`/remoteaccounts?creatorId=${aliceId}`)).body.data.length, 1);
      assert.equal((await alice.get('/remoteaccounts?creatorId=bob')).body.data.length, 0);
    });

    it('refuses a token github rejects, with a clear error and nothing stored', async (t) => {
      if (!ready(t)) return;
      const res = await bob.action('/remoteaccounts', 'login', {
        type: 'github',
        accessToken: 'wrong-token',
      });
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.type, 'error');
      assert.equal(res.body.code, 'InvalidBodyContent');
      assert.equal(res.body.fieldName, 'accessToken');
      assert.match(res.body.message, /rejected the access token: Bad credentials/);
      assert.ok(!res.text.includes('wrong-token'));
      const missing = await bob.action('/remoteaccounts', 'login', { type: 'github' });
      assert.equal(missing.status, 422);
      assert.equal(missing.body.code, 'MissingRequired');
      const badType = await bob.action('/remoteaccounts', 'login', { type: 'svn', accessToken: GOOD_TOKEN });
      assert.equal(badType.status, 422);
      assert.equal(badType.body.fieldName, 'type');
      assert.equal((await bob.get('/remoteaccounts')).body.data.length, 0);
      assert.equal((await server.db.selectFrom('remote_accounts').selectAll().execute()).length, 1);
    });

    it('logs in with an OAuth code exchanged with the configured application', async (t) => {
      if (!ready(t)) return;
      const bad = await bob.action('/remoteaccounts', 'login', { type: 'github', code: 'stale-code' });
      assert.equal(bad.status, 422, bad.text);
      assert.equal(bad.body.fieldName, 'code');
      assert.match(bad.body.message, /incorrect or expired/);

      const created = await bob.post('/remoteaccounts', {
        type: 'remoteAccount',
        spec: { type: 'github', code: GOOD_CODE, redirectUrl: 'https://ui.example/verify' },
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.id, 'github-octo-cat');
      assert.equal(created.body.creatorId, 'bob');
      assert.ok(!created.text.includes(CODE_TOKEN));
      const exchange = github.seen.filter((r) => r.path === '/login/oauth/access_token').at(-1);
      assert.deepEqual(JSON.parse(exchange!.body), {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        code: GOOD_CODE,
        redirect_uri: 'https://ui.example/verify',
      });
      assert.equal(github.seen.at(-1)?.headers.authorization, `token ${CODE_TOKEN}`);
    });

    it('refreshes the repositories of every page into the git repo cache', async (t) => {
      if (!ready(t)) return;
      const res = await alice.action('/remoteaccounts/github-octo-cat', 'refreshrepos');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.type, 'gitRepoCache');
      assert.equal(res.body.id, 'github-octo-cat');
      assert.equal(res.body.remoteAccountName, 'github-octo-cat');
      assert.equal(res.body.remoteType, 'github');
      assert.deepEqual(res.body.repositories, [
        {
          name: 'Octo-Cat/hello-world',
          cloneUrl: `${github.base}/Octo-Cat/hello-world.git`,
          permissions: { pull: true, push: true, admin: true },
          language: 'Go',
        },
        {
          name: 'Octo-Cat/spoon-knife',
          cloneUrl: `${github.base}/Octo-Cat/spoon-knife.git`,
          permissions: { pull: true, push: false, admin: false },
          language: '',
        },
        {
          name: 'Octo-Cat/linguist',
          cloneUrl: `${github.base}/Octo-Cat/linguist.git`,
          permissions: { pull: true, push: true, admin: true },
          language: 'Ruby',
        },
      ]);
      const pages = github.seen.filter((r) => r.path.startsWith('/api/v3/user/repos'));
      assert.deepEqual(
        pages.map((r) => r.path),
        ['/api/v3/user/repos?per_page=100&page=1', '/api/v3/user/repos?per_page=100&page=2'],
      );
      assert.ok(pages.every((r) => r.headers.authorization === `token ${GOOD_TOKEN}`));

      const caches = await alice.get('/gitrepocaches?creatorId=alice');
      assert.equal(caches.status, 200);
      assert.equal(caches.body.resourceType, 'gitRepoCache');
      assert.equal(caches.body.data.length, 1);
      assert.equal(caches.body.data[0].repositories.length, 3);
      const one = await alice.get('/gitrepocaches/github-octo-cat');
      assert.equal(one.status, 200);
      assert.equal(one.body.repositories.length, 3);

      const unknown = await alice.action('/remoteaccounts/github-octo-cat', 'logout');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'ActionNotAvailable');
    });

    it("keeps each user's accounts and caches private: another user gets 404", async (t) => {
      if (!ready(t)) return;
      // Bob has an account of the same name: his own, which never shows Alice's cache.
      assert.equal((await bob.get('/gitrepocaches')).body.data.length, 0);
      const cache = await bob.get('/gitrepocaches/github-octo-cat');
      assert.equal(cache.status, 404, cache.text);
      assert.equal((await bob.get('/gitrepocaches?creatorId=alice')).body.data.length, 0);
      assert.equal((await bob.get('/remoteaccounts?creatorId=alice')).body.data.length, 0);

      const carol = (await rancherUser(server, 'carol')).client;
      for (const res of [
        await carol.get('/remoteaccounts/github-octo-cat'),
        await carol.delete('/remoteaccounts/github-octo-cat'),
        await carol.action('/remoteaccounts/github-octo-cat', 'refreshrepos'),
        await carol.get('/remoteaccounts/no-such-account'),
      ]) {
        assert.equal(res.status, 404, res.text);
        assert.equal(res.body.code, 'NotFound');
      }
      assert.equal((await carol.get('/remoteaccounts')).body.data.length, 0);

      // Remote accounts are part of the user's own account: a token needs user:read / user:admin for them.
      const narrow = await userWithToken(server, 'alice', ['repo:read']);
      const capped = new RancherClient(server.url, `Bearer ${narrow.token}`);
      const list = await capped.get('/remoteaccounts');
      assert.equal(list.status, 403, list.text);
      assert.equal(list.body.code, 'PermissionDenied');
      const reader = new RancherClient(
        server.url,
        `Bearer ${(await userWithToken(server, 'alice', ['user:read'])).token}`,
      );
      assert.equal((await reader.get('/remoteaccounts')).body.data.length, 1);
      const refresh = await reader.action('/remoteaccounts/github-octo-cat', 'refreshrepos');
      assert.equal(refresh.status, 403, refresh.text);
      assert.equal((await alice.get('/remoteaccounts/github-octo-cat')).status, 200, 'still there');
    });

    it("copies an account's token into a namespace as a git credential for checkouts", async (t) => {
      if (!ready(t)) return;
      const { sourceAccounts, sourceCredentials } = server.services;
      const name = await sourceAccounts.credentialFor('alice', 'github-octo-cat', 'alice');
      assert.equal(name, 'rancher-alice-github-octo-cat');
      assert.deepEqual(await sourceCredentials.open('alice', name), {
        kind: 'token',
        username: 'Octo-Cat',
        secret: GOOD_TOKEN,
      });
      // By the login at the host too, as the tech preview's `remoteAccountName` examples write it.
      assert.equal(
        await sourceAccounts.credentialFor('bob', 'Octo-Cat', 'bob'),
        'rancher-bob-github-octo-cat',
      );
      assert.equal((await sourceCredentials.open('bob', 'rancher-bob-github-octo-cat'))?.secret, CODE_TOKEN);
      await assert.rejects(sourceAccounts.credentialFor('carol', 'github-octo-cat', 'carol'), {
        name: 'NotFound',
      });
    });

    it('deletes an account with its cache', async (t) => {
      if (!ready(t)) return;
      const put = await alice.put('/remoteaccounts/github-octo-cat', { spec: { displayName: 'x' } });
      assert.equal(put.status, 405, put.text);
      assert.equal(put.body.code, 'MethodNotAllowed');
      const res = await alice.delete('/remoteaccounts/github-octo-cat');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.id, 'github-octo-cat');
      assert.equal((await alice.get('/remoteaccounts/github-octo-cat')).status, 404);
      assert.equal((await alice.get('/gitrepocaches/github-octo-cat')).status, 404);
      assert.equal((await server.db.selectFrom('git_repo_caches').selectAll().execute()).length, 0);
      assert.equal((await bob.get('/remoteaccounts/github-octo-cat')).status, 200, "bob's is his own");
    });
  });
});

describe('rancher remote accounts without an outbound allow list', () => {
  let server: TestServer;
  let github: FakeGitHub;
  before(async () => {
    github = await startFakeGitHub();
    server = await startTestServer();
  });
  after(async () => {
    await server?.close();
    await github?.close();
  });

  it('refuses to point github at an internal address, and never calls it', async () => {
    const admin = new RancherClient(server.url, basicAdmin);
    const res = await admin.post('/clusters/local/clusterpipelines', {
      spec: { githubConfig: { scheme: 'http', host: github.host } },
    });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.fieldName, 'host');
    assert.match(res.body.message, /may not be reached.*outbound allow list \(SLIPWAY_OUTBOUND_ALLOW\)/);
    assert.equal((await server.db.selectFrom('source_providers').selectAll().execute()).length, 0);
    await assert.rejects(server.services.outbound.getJson(`${github.base}/api/v3/user`), {
      code: 'URL_NOT_ALLOWED',
    });
    assert.equal(github.seen.length, 0);
  });
});
