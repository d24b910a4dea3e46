// A Quay build trigger end to end, with real parts only: a Slipway server on SQLite allowed to reach
// 127.0.0.0/8, a git repository served by git http-backend holding a Dockerfile FROM the busybox-static test
// image (pushed to Slipway), a custom-git trigger activated through /api/v1, its webhook URL called with a
// custom-git payload, the build run by the scheduler (checkout, buildah build, push), and skopeo checking the
// tags. Then a manual start on a branch (resolved with git ls-remote) builds that branch.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGitHttpServer } from '../support/git-http.js';
import { createGitRepo } from '../support/git-repo.js';
import {
  confineProcessContainers,
  pushBaseImage,
  runInImage,
  skopeoInspect,
} from '../support/image-checks.js';
import { createPrivateRepository, userWithToken, type QuayClient } from '../support/quay-client.js';
import { adminPassword, startTestServer } from '../support/server.js';
import { containersEnv, requireTools, runOk } from '../support/tools.js';

const toolTimeoutMs = 60_000;
const adminLogin = { username: 'admin', password: adminPassword };
const adminCreds = `admin:${adminPassword}`;
const base = '/repository/admin/app/trigger';

/** Waits for the trigger's newest build to end; returns its view. */
async function buildOf(client: QuayClient, triggerId: string, buildId: string): Promise<any> {
  const deadline = Date.now() + 150_000;
  for (;;) {
    const res = await client.get(`${base}/${triggerId}/builds?limit=10`);
    assert.equal(res.status, 200, res.text);
    const build = res.body.builds.find((b: any) => b.id === buildId);
    assert.ok(build, `build ${buildId} is listed: ${res.text}`);
    if (['complete', 'error', 'cancelled'].includes(build.phase) || Date.now() > deadline) return build;
    await sleep(250);
  }
}

test(
  'a custom-git push and a manual branch start build and push the image under the trigger tags',
  { timeout: 240_000 },
  async (t) => {
    if (!requireTools(t, 'git', 'buildah', 'skopeo', 'busybox')) return;
    const workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-trigger-'));
    t.after(() => rm(workDir, { recursive: true, force: true }));
    t.after(confineProcessContainers(join(workDir, 'server-containers')));

    const server = await startTestServer({ config: { outboundAllow: '127.0.0.0/8' } });
    t.after(() => server.close());
    const { client: admin } = await userWithToken(server, 'admin');

    await pushBaseImage(server.host, adminLogin, 'admin/base:v1', workDir);

    // The source: main builds one text, feature another; served over git's smart HTTP protocol.
    const dockerfile = (text: string) => `FROM ${server.host}/admin/base:v1\nRUN echo ${text} > /built.txt\n`;
    const work = await createGitRepo(join(workDir, 'work'));
    const mainCommit = await work.commit({ Dockerfile: dockerfile('built-from-main') }, 'main build');
    await work.git('checkout', '--quiet', '-b', 'feature');
    const featureCommit = await work.commit(
      { Dockerfile: dockerfile('built-from-feature') },
      'feature build',
    );
    await work.git('checkout', '--quiet', 'main');
    await runOk('git', ['clone', '--quiet', '--bare', work.path, join(workDir, 'git', 'app.git')]);
    const gitServer = await startGitHttpServer(join(workDir, 'git'));
    t.after(() => gitServer.close());
    const sourceUrl = `${gitServer.url}/app.git`;

    await createPrivateRepository(admin, 'admin', 'app');
    const created = await admin.post(`${base}/`, { service: 'custom-git' });
    assert.equal(created.status, 201, created.text);
    const triggerId: string = created.body.id;
    const activated = await admin.post(`${base}/${triggerId}/activate`, {
      config: { build_source: sourceUrl, tag_templates: ['sha-${commit_info.short_sha}'] },
    });
    assert.equal(activated.status, 200, activated.text);
    const hook = new URL(
      activated.body.config.credentials.find((c: any) => c.name === 'Webhook Endpoint URL').value,
    );
    const token = decodeURIComponent(hook.password);
    hook.username = '';
    hook.password = '';
    await server.services.runScheduler.start();
    t.after(() => server.services.runScheduler.stop());

    const push = { commit: mainCommit, ref: 'refs/heads/main', default_branch: 'main' };
    const send = (password: string) =>
      fetch(hook, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`$token:${password}`).toString('base64')}`,
        },
        body: JSON.stringify(push),
      });
    // A wrong token starts nothing.
    assert.equal((await send('0'.repeat(64))).status, 403);
    assert.deepEqual((await admin.get(`${base}/${triggerId}/builds`)).body, { builds: [] });

    const received = await send(token);
    assert.equal(received.status, 200);
    assert.equal(await received.text(), 'Okay');
    const [queued] = (await admin.get(`${base}/${triggerId}/builds`)).body.builds;
    assert.ok(queued, 'the push queued a build');
    const built = await buildOf(admin, triggerId, queued.id);
    assert.equal(built.phase, 'complete', JSON.stringify(built));
    assert.equal(built.trigger.id, triggerId);
    assert.equal(built.trigger_metadata.commit, mainCommit);

    const skopeoEnv = containersEnv(join(workDir, 'skopeo'));
    const tags = JSON.parse(
      (
        await runOk(
          'skopeo',
          ['list-tags', '--tls-verify=false', '--creds', adminCreds, `docker://${server.host}/admin/app`],
          { env: skopeoEnv, timeoutMs: toolTimeoutMs },
        )
      ).stdout,
    ) as { Tags: string[] };
    const shortSha = mainCommit.slice(0, 7);
    for (const tag of ['latest', 'main', `sha-${shortSha}`])
      assert.ok(tags.Tags.includes(tag), `${tag} in ${tags.Tags}`);
    const inspect = (tag: string) =>
      skopeoInspect(server.host, adminLogin, `admin/app:${tag}`, join(workDir, 'skopeo'));
    const latest = await inspect('latest');
    assert.equal((await inspect(`sha-${shortSha}`)).Digest, latest.Digest);

    // A manual start on a branch: ls-remote resolves it, the build checks that commit out.
    const started = await admin.post(`${base}/${triggerId}/start`, {
      commit_sha: featureCommit.slice(0, 12),
      branch_name: 'feature',
    });
    assert.equal(started.status, 201, started.text);
    assert.equal(started.body.trigger_metadata.commit, featureCommit);
    const featureBuild = await buildOf(admin, triggerId, started.body.id);
    assert.equal(featureBuild.phase, 'complete', JSON.stringify(featureBuild));
    const feature = await inspect('feature');
    assert.notEqual(feature.Digest, latest.Digest);
    assert.equal(
      (await inspect('latest')).Digest,
      latest.Digest,
      'a branch other than the default keeps latest',
    );

    // The branch's image holds what its Dockerfile wrote.
    const featureText = await runInImage(
      server.host,
      adminLogin,
      'admin/app:feature',
      join(workDir, 'pull'),
      ['/bin/busybox', 'cat', '/built.txt'],
    );
    assert.equal(featureText.trim(), 'built-from-feature');
    const listed = (await admin.get(`${base}/${triggerId}/builds`)).body.builds.map((b: any) => b.id);
    assert.deepEqual(listed, [started.body.id, queued.id]);
  },
);
