// Quay build triggers through /api/v1 and the webhook receiver, on every test database: a real git server
// (git http-backend on 127.0.0.1) is the source; builds are requested but not run (no scheduler here; the
// end-to-end test runs them).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { startGitHttpServer } from '../support/git-http.js';
import { createPrivateRepository, QuayClient, userWithToken } from '../support/quay-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runOk } from '../support/tools.js';

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
};

/** `http://$token:T@host/path` → the URL without credentials and the token. */
function splitHookUrl(url: string): { url: string; token: string } {
  const parsed = new URL(url);
  assert.equal(decodeURIComponent(parsed.username), '$token');
  const token = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), token };
}

async function postHook(
  url: string,
  body: unknown,
  opts: { token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(opts.token !== undefined
        ? { authorization: `Basic ${Buffer.from(`$token:${opts.token}`).toString('base64')}` }
        : {}),
      ...opts.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

forEachDatabase((database) => {
  describe(`Quay build triggers on ${database}`, () => {
    let server: TestServer;
    let git: Awaited<ReturnType<typeof startGitHttpServer>>;
    let workDir: string;
    let alice: QuayClient;
    let writer: QuayClient;
    let outsider: QuayClient;
    let sourceUrl: string;
    const commits: Record<string, string> = {};
    let skip = false;
    const base = '/repository/alice/app/trigger';

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      workDir = await mkdtemp(join(tmpdir(), 'slipway-triggers-'));
      // The source: main (two commits, the default branch), feature, and tag v1.
      const work = join(workDir, 'work');
      await mkdir(work);
      const g = (...args: string[]) => runOk('git', args, { cwd: work, env: gitEnv });
      await g('init', '--quiet', '-b', 'main');
      await writeFile(join(work, 'Dockerfile'), 'FROM scratch\n');
      await g('add', '.');
      await g('commit', '--quiet', '-m', 'first');
      await g('tag', 'v1');
      await writeFile(join(work, 'README'), 'second\n');
      await g('add', '.');
      await g('commit', '--quiet', '-m', 'second');
      commits.main = (await g('rev-parse', 'HEAD')).stdout.trim();
      await g('checkout', '--quiet', '-b', 'feature');
      await writeFile(join(work, 'README'), 'feature\n');
      await g('commit', '--quiet', '-am', 'feature work');
      commits.feature = (await g('rev-parse', 'HEAD')).stdout.trim();
      commits.v1 = (await g('rev-parse', 'v1^{commit}')).stdout.trim();
      await g('checkout', '--quiet', 'main');
      await runOk('git', ['clone', '--quiet', '--bare', work, join(workDir, 'git', 'app.git')], {
        env: gitEnv,
      });
      git = await startGitHttpServer(join(workDir, 'git'));
      sourceUrl = `${git.url}/app.git`;

      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      ({ client: alice } = await userWithToken(server, 'alice'));
      ({ client: writer } = await userWithToken(server, 'writer'));
      ({ client: outsider } = await userWithToken(server, 'outsider'));
      await createPrivateRepository(alice, 'alice', 'app');
      assert.equal(
        (await alice.put('/repository/alice/app/permissions/user/writer', { role: 'write' })).status,
        200,
      );
    });

    after(async () => {
      await server?.close();
      await git?.close();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    /** An active custom-git trigger of alice/app and its webhook URL and token. */
    async function activeTrigger(config: Record<string, unknown> = {}, service = 'custom-git') {
      const created = await alice.post(`${base}/`, { service });
      assert.equal(created.status, 201, created.text);
      const activated = await alice.post(`${base}/${created.body.id}/activate`, {
        config: { build_source: sourceUrl, ...config },
      });
      assert.equal(activated.status, 200, activated.text);
      const hook = activated.body.config.credentials.find((c: any) => c.name === 'Webhook Endpoint URL');
      return { id: created.body.id as string, view: activated.body, ...splitHookUrl(hook.value) };
    }

    const buildsOf = async (id: string) => {
      const res = await alice.get(`${base}/${id}/builds?limit=50`);
      assert.equal(res.status, 200, res.text);
      return res.body.builds as any[];
    };

    test('a trigger is created inactive, activated once, and shows its token only then', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const created = await alice.post(`${base}/`, { service: 'custom-git' });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.is_active, false);
      assert.equal(created.body.service, 'custom-git');
      const id = created.body.id;

      // Not active yet: no enabling, no starting.
      const enable = await alice.put(`${base}/${id}`, { enabled: true });
      assert.equal(enable.status, 400);
      assert.equal(enable.body.detail, 'Trigger is not active.');
      const start = await alice.post(`${base}/${id}/start`, { commit_sha: commits.main });
      assert.equal(start.status, 400);
      assert.equal(start.body.detail, 'Trigger is not active.');

      // A local path or file:// source is refused: a trigger may not read the server's disk.
      for (const build_source of [join(workDir, 'git', 'app.git'), `file://${workDir}/git/app.git`]) {
        const refused = await alice.post(`${base}/${id}/activate`, { config: { build_source } });
        assert.equal(refused.status, 400, refused.text);
        assert.match(refused.body.detail, /build_source/);
      }
      const unknownKey = await alice.post(`${base}/${id}/activate`, {
        config: { build_source: sourceUrl, nonsense: 1 },
      });
      assert.equal(unknownKey.status, 400);
      const badRegex = await alice.post(`${base}/${id}/activate`, {
        config: { build_source: sourceUrl, branchtag_regex: '(' },
      });
      assert.equal(badRegex.status, 400);

      const announced: string[] = [];
      const off = server.services.events.on('build_trigger.activated', (e) => announced.push(e.triggerId));
      const activated = await alice.post(`${base}/${id}/activate`, {
        config: { build_source: sourceUrl, dockerfile_path: 'Dockerfile' },
      });
      off();
      assert.deepEqual(announced, [id]);
      assert.equal(activated.status, 200, activated.text);
      assert.equal(activated.body.is_active, true);
      assert.equal(activated.body.enabled, true);
      assert.equal(activated.body.build_source, sourceUrl);
      assert.equal(activated.body.config.dockerfile_path, '/Dockerfile');
      const names = activated.body.config.credentials.map((c: any) => c.name);
      assert.ok(names.includes('SSH Public Key'), JSON.stringify(names));
      assert.match(
        activated.body.config.credentials.find((c: any) => c.name === 'SSH Public Key').value,
        /^ssh-ed25519 /,
      );
      const hook = activated.body.config.credentials.find(
        (c: any) => c.name === 'Webhook Endpoint URL',
      ).value;
      assert.match(
        hook,
        new RegExp(`^http://\\$token:[0-9a-f]{64}@127\\.0\\.0\\.1:\\d+/webhooks/push/trigger/${id}$`),
      );
      const { token } = splitHookUrl(hook);

      // Stored hashed: neither the row nor a later view holds the token.
      const row = await server.db
        .selectFrom('build_triggers')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes(token));
      const again = await alice.get(`${base}/${id}`);
      assert.equal(again.status, 200);
      assert.ok(!again.text.includes(token));
      assert.match(again.text, /\$token:\*{8}@/);

      const twice = await alice.post(`${base}/${id}/activate`, { config: { build_source: sourceUrl } });
      assert.equal(twice.status, 400);

      const list = await alice.get(`${base}/`);
      assert.equal(list.status, 200);
      assert.ok(list.body.triggers.some((tr: any) => tr.id === id && tr.is_active));
    });

    test('a custom-git push builds the commit with template, branch and latest tags', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const trigger = await activeTrigger({
        tag_templates: ['${commit_info.short_sha}', 'v-${parsed_ref.branch}', 'x-${nothere}'],
        branchtag_regex: 'heads/(main|feature)',
      });
      const push = {
        commit: commits.main,
        ref: 'refs/heads/main',
        default_branch: 'main',
        commit_info: { message: 'second', url: 'http://git.example/c', author: { username: 'dev' } },
      };

      // Refused senders start nothing.
      assert.equal((await postHook(trigger.url, push)).status, 403);
      assert.equal((await postHook(trigger.url, push, { token: 'f'.repeat(64) })).status, 403);
      // Unreadable payloads are 400.
      assert.equal((await postHook(trigger.url, '{nope', { token: trigger.token })).status, 400);
      const noCommit = await postHook(
        trigger.url,
        { ref: 'refs/heads/main', default_branch: 'main' },
        { token: trigger.token },
      );
      assert.equal(noCommit.status, 400);
      assert.match(noCommit.text, /commit/);
      const badRef = await postHook(trigger.url, { ...push, ref: 'main' }, { token: trigger.token });
      assert.equal(badRef.status, 400);
      // Skipped: still "Okay", nothing started.
      for (const skipped of [
        { ...push, commit_info: { message: 'wip [skip build]' } },
        { ...push, commit_info: { message: 'wip [build skip]' } },
        { ...push, ref: 'refs/heads/other' },
        { ...push, ref: 'refs/tags/v1' },
      ]) {
        const res = await postHook(trigger.url, skipped, { token: trigger.token });
        assert.deepEqual(res, { status: 200, text: 'Okay' });
      }
      assert.deepEqual(await buildsOf(trigger.id), []);

      const res = await postHook(trigger.url, push, { token: trigger.token });
      assert.deepEqual(res, { status: 200, text: 'Okay' });
      // The repository form of the URL works too; another repository's path does not find the trigger.
      const repoForm = trigger.url.replace('/webhooks/push/trigger/', '/webhooks/push/alice/app/trigger/');
      assert.equal((await postHook(repoForm, push, { token: trigger.token })).status, 200);
      const otherRepo = trigger.url.replace('/webhooks/push/trigger/', '/webhooks/push/alice/other/trigger/');
      assert.equal((await postHook(otherRepo, push, { token: trigger.token })).status, 404);

      const builds = await buildsOf(trigger.id);
      assert.equal(builds.length, 2);
      const build = builds[0];
      assert.deepEqual(
        [...build.tags].sort(),
        [commits.main!.slice(0, 7), 'latest', 'main', 'v-main'].sort(),
      );
      assert.equal(build.trigger.id, trigger.id);
      assert.equal(build.trigger.service, 'custom-git');
      assert.equal(build.trigger.build_source, sourceUrl);
      assert.equal(build.trigger_metadata.commit, commits.main);
      assert.equal(build.trigger_metadata.ref, 'refs/heads/main');
      assert.equal(build.trigger_metadata.default_branch, 'main');
      assert.equal(build.trigger_metadata.git_url, sourceUrl);
      assert.equal(build.trigger_metadata.commit_info.message, 'second');
      assert.equal(build.display_name, commits.main!.slice(0, 7));

      // A short commit is resolved against the source's refs.
      const short = await postHook(
        trigger.url,
        { ...push, commit: commits.feature!.slice(0, 10), ref: 'refs/heads/feature' },
        { token: trigger.token },
      );
      assert.equal(short.status, 200, short.text);
      const [latest] = await buildsOf(trigger.id);
      assert.equal(latest.trigger_metadata.commit, commits.feature);
      assert.ok(!latest.tags.includes('latest'));
      assert.ok(latest.tags.includes('feature'));
    });

    test('manual starts resolve branches with git ls-remote and need commit_sha for custom-git', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const custom = await activeTrigger();
      const missing = await alice.post(`${base}/${custom.id}/start`, { branch_name: 'main' });
      assert.equal(missing.status, 400);
      assert.match(missing.body.detail, /commit_sha/);
      const extra = await alice.post(`${base}/${custom.id}/start`, { commit_sha: commits.main, other: 1 });
      assert.equal(extra.status, 400);
      const started = await alice.post(`${base}/${custom.id}/start`, {
        commit_sha: commits.feature,
        branch_name: 'feature',
      });
      assert.equal(started.status, 201, started.text);
      assert.equal(
        started.headers.get('location'),
        `/api/v1/repository/alice/app/build/${started.body.id}/status`,
      );
      assert.equal(started.body.trigger_metadata.commit, commits.feature);
      assert.equal(started.body.manual_user, 'alice');
      assert.ok(started.body.tags.includes('feature'));

      // A GitHub trigger on a self-hosted URL: the branch (or the default one) is resolved by ls-remote.
      const hosted = await activeTrigger({}, 'github');
      const onBranch = await alice.post(`${base}/${hosted.id}/start`, { branch_name: 'feature' });
      assert.equal(onBranch.status, 201, onBranch.text);
      assert.equal(onBranch.body.trigger_metadata.commit, commits.feature);
      const onTag = await alice.post(`${base}/${hosted.id}/start`, { refs: { kind: 'tag', name: 'v1' } });
      assert.equal(onTag.status, 201, onTag.text);
      assert.equal(onTag.body.trigger_metadata.commit, commits.v1);
      assert.ok(onTag.body.tags.includes('v1'));
      const onDefault = await alice.post(`${base}/${hosted.id}/start`, {});
      assert.equal(onDefault.status, 201, onDefault.text);
      assert.equal(onDefault.body.trigger_metadata.commit, commits.main);
      assert.ok(onDefault.body.tags.includes('latest'));
      const noBranch = await alice.post(`${base}/${hosted.id}/start`, { branch_name: 'nothere' });
      assert.equal(noBranch.status, 400);
    });

    test('disabled triggers start nothing; failures in a row disable them', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const trigger = await activeTrigger();
      const push = { commit: commits.main, ref: 'refs/heads/main', default_branch: 'main' };
      const disabled = await alice.put(`${base}/${trigger.id}`, { enabled: false });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.body.enabled, false);
      assert.equal(disabled.body.disabled_reason, 'user_toggled');
      const start = await alice.post(`${base}/${trigger.id}/start`, { commit_sha: commits.main });
      assert.equal(start.status, 400);
      assert.equal(start.body.detail, 'Trigger is not enabled.');
      const refused = await postHook(trigger.url, push, { token: trigger.token });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /currently disabled/);
      assert.deepEqual(await buildsOf(trigger.id), []);

      const enabled = await alice.put(`${base}/${trigger.id}`, { enabled: true });
      assert.equal(enabled.body.enabled, true);
      assert.equal(enabled.body.disabled_reason, null);
      const { buildTriggers } = server.services;
      for (let i = 0; i < 4; i++) await buildTriggers.recordBuildOutcome(trigger.id, 'internal_error');
      assert.equal((await alice.get(`${base}/${trigger.id}`)).body.enabled, true);
      await buildTriggers.recordBuildOutcome(trigger.id, 'internal_error');
      const after5 = await alice.get(`${base}/${trigger.id}`);
      assert.equal(after5.body.enabled, false);
      assert.equal(after5.body.disabled_reason, 'successive_build_internal_errors');

      // A success in between resets the count of failures.
      await alice.put(`${base}/${trigger.id}`, { enabled: true });
      for (let i = 0; i < 99; i++) await buildTriggers.recordBuildOutcome(trigger.id, 'failure');
      await buildTriggers.recordBuildOutcome(trigger.id, 'success');
      await buildTriggers.recordBuildOutcome(trigger.id, 'failure');
      assert.equal((await alice.get(`${base}/${trigger.id}`)).body.enabled, true);
    });

    test('GitHub pushes authenticate with the token or the hook secret signature', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const trigger = await activeTrigger({ webhook_secret: 'hook-secret' }, 'github');
      assert.ok(!JSON.stringify(trigger.view).includes('hook-secret'));
      const body = JSON.stringify({
        ref: 'refs/heads/main',
        after: commits.main,
        deleted: false,
        repository: { clone_url: sourceUrl, default_branch: 'main' },
        head_commit: {
          id: commits.main,
          message: 'second',
          timestamp: '2026-01-01T00:00:00Z',
          author: { username: 'dev' },
        },
        commits: [],
      });
      const sign = (secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const github = { 'x-github-event': 'push' };
      const bad = await postHook(trigger.url, body, {
        headers: { ...github, 'x-hub-signature-256': sign('wrong') },
      });
      assert.equal(bad.status, 401);
      assert.deepEqual(await buildsOf(trigger.id), []);
      const ping = await postHook(trigger.url, '{"zen":"hi"}', {
        headers: {
          'x-github-event': 'ping',
          'x-hub-signature-256': `sha256=${createHmac('sha256', 'hook-secret').update('{"zen":"hi"}').digest('hex')}`,
        },
      });
      assert.deepEqual(ping, { status: 200, text: 'Okay' });
      const good = await postHook(trigger.url, body, {
        headers: { ...github, 'x-hub-signature-256': sign('hook-secret') },
      });
      assert.deepEqual(good, { status: 200, text: 'Okay' });
      const byToken = await postHook(trigger.url, body, { token: trigger.token, headers: github });
      assert.deepEqual(byToken, { status: 200, text: 'Okay' });
      const builds = await buildsOf(trigger.id);
      assert.equal(builds.length, 2);
      assert.equal(builds[0].trigger_metadata.commit_info.author.username, 'dev');
      assert.ok(builds[0].tags.includes('latest'));
    });

    test('triggers are for repository admins; outsiders cannot tell them from missing ones', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const trigger = await activeTrigger();
      for (const path of [`${base}/`, `${base}/${trigger.id}`, `${base}/${trigger.id}/builds`]) {
        assert.equal((await writer.get(path)).status, 403, `writer ${path}`);
        const mine = await outsider.get(path);
        const missing = await outsider.get(path.replace('/alice/app/', '/alice/nothere/'));
        assert.equal(mine.status, 403);
        assert.equal(missing.status, mine.status);
        assert.equal(missing.text, mine.text);
        assert.equal((await new QuayClient(server.url).get(path)).status, 401);
      }
      assert.equal(
        (await writer.post(`${base}/${trigger.id}/start`, { commit_sha: commits.main })).status,
        403,
      );
      assert.equal((await alice.get('/repository/alice/nothere/trigger/')).status, 404);
      // Another repository's trigger id is not found in this one.
      await createPrivateRepository(alice, 'alice', 'other');
      assert.equal((await alice.get(`/repository/alice/other/trigger/${trigger.id}`)).status, 404);

      // Quay's custom-git setup page: admins get a new inactive trigger.
      const setup = await fetch(`${server.url}/customtrigger/setup/alice/app`, {
        headers: { authorization: `Bearer ${alice.token}` },
        redirect: 'manual',
      });
      assert.equal(setup.status, 302);
      const newId = /newtrigger=([0-9a-f-]+)/.exec(setup.headers.get('location') ?? '')?.[1];
      assert.ok(newId);
      assert.equal((await alice.get(`${base}/${newId}`)).body.is_active, false);
      const refused = await fetch(`${server.url}/customtrigger/setup/alice/app`, {
        headers: { authorization: `Bearer ${outsider.token}` },
        redirect: 'manual',
      });
      assert.equal(refused.status, 403);

      const deleted = await alice.delete(`${base}/${trigger.id}`);
      assert.equal(deleted.status, 204);
      assert.equal((await alice.get(`${base}/${trigger.id}`)).status, 404);
      assert.equal(
        (
          await postHook(
            trigger.url,
            { commit: commits.main, ref: 'refs/heads/main', default_branch: 'main' },
            { token: trigger.token },
          )
        ).status,
        404,
      );
    });
  });
});
