// A Quay build trigger end to end, with real parts only: a Slipway server on SQLite allowed to reach
// 127.0.0.0/8, a git repository served by git http-backend holding a Dockerfile FROM the busybox-static test
// image (pushed to Slipway), a custom-git trigger activated through /api/v1, its webhook URL called with a
// custom-git payload, the build run by the scheduler (checkout, buildah build, push), and skopeo checking the
// tags. Then a manual start on a branch (resolved with git ls-remote) builds that branch.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGitHttpServer } from '../support/git-http.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { userWithToken, type QuayClient } from '../support/quay-client.js';
import { adminPassword, startTestServer } from '../support/server.js';
import { containersEnv, requireTools, runOk } from '../support/tools.js';

const toolTimeoutMs = 60_000;
const adminCreds = `admin:${adminPassword}`;
const gitEnv = {
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
};
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
    const savedEnv = { ...process.env };
    t.after(() => {
      for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
      Object.assign(process.env, savedEnv);
    });
    Object.assign(process.env, containersEnv(join(workDir, 'server-containers')));

    const server = await startTestServer({ config: { outboundAllow: '127.0.0.0/8' } });
    t.after(() => server.close());
    const { client: admin } = await userWithToken(server, 'admin');

    const images = await buildTestImages(join(workDir, 'images'));
    await runOk(
      'skopeo',
      [
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        adminCreds,
        `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`,
        `docker://${server.host}/admin/base:v1`,
      ],
      { env: images.env, timeoutMs: toolTimeoutMs },
    );

    // The source: main builds one text, feature another; served over git's smart HTTP protocol.
    const work = join(workDir, 'work');
    await mkdir(work);
    const git = (...args: string[]) => runOk('git', args, { cwd: work, env: { ...process.env, ...gitEnv } });
    await git('init', '--quiet', '-b', 'main');
    const dockerfile = (text: string) => `FROM ${server.host}/admin/base:v1\nRUN echo ${text} > /built.txt\n`;
    await writeFile(join(work, 'Dockerfile'), dockerfile('built-from-main'));
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'main build');
    const mainCommit = (await git('rev-parse', 'HEAD')).stdout.trim();
    await git('checkout', '--quiet', '-b', 'feature');
    await writeFile(join(work, 'Dockerfile'), dockerfile('built-from-feature'));
    await git('commit', '--quiet', '-am', 'feature build');
    const featureCommit = (await git('rev-parse', 'HEAD')).stdout.trim();
    await git('checkout', '--quiet', 'main');
    await runOk('git', ['clone', '--quiet', '--bare', work, join(workDir, 'git', 'app.git')]);
    const gitServer = await startGitHttpServer(join(workDir, 'git'));
    t.after(() => gitServer.close());
    const sourceUrl = `${gitServer.url}/app.git`;

    const repo = await admin.post('/repository', {
      namespace: 'admin',
      repository: 'app',
      visibility: 'private',
      description: '',
    });
    assert.equal(repo.status, 201, repo.text);
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
    const inspect = async (tag: string) =>
      JSON.parse(
        (
          await runOk(
            'skopeo',
            [
              'inspect',
              '--tls-verify=false',
              '--creds',
              adminCreds,
              `docker://${server.host}/admin/app:${tag}`,
            ],
            { env: skopeoEnv, timeoutMs: toolTimeoutMs },
          )
        ).stdout,
      ) as { Digest: string };
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
    const env = containersEnv(join(workDir, 'pull'));
    const container = (
      await runOk(
        'buildah',
        ['from', '--quiet', '--tls-verify=false', '--creds', adminCreds, `${server.host}/admin/app:feature`],
        { env, timeoutMs: toolTimeoutMs },
      )
    ).stdout.trim();
    const ran = await runOk(
      'buildah',
      ['run', '--isolation', 'chroot', container, '--', '/bin/busybox', 'cat', '/built.txt'],
      { env, timeoutMs: toolTimeoutMs },
    );
    assert.equal(ran.stdout.trim(), 'built-from-feature');
    const listed = (await admin.get(`${base}/${triggerId}/builds`)).body.builds.map((b: any) => b.id);
    assert.deepEqual(listed, [started.body.id, queued.id]);
  },
);
