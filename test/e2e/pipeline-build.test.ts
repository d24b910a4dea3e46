// A pipeline end to end, with real parts only: a Slipway server on SQLite, a local git repository holding a
// Dockerfile and a .slipway.yml, a GitHub-signed push webhook starting the run, the scheduler running its
// checkout, build (buildah, chroot isolation, vfs) and push steps, and skopeo and buildah checking the result.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROVENANCE_ARTIFACT_TYPE } from '../../src/runs/provenance.js';
import { isTerminal } from '../../src/runs/states.js';
import { buildTestImages, TEST_IMAGE_TAG } from '../support/images.js';
import { RegistryClient } from '../support/registry-client.js';
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

test(
  'a signed GitHub push builds the commit and pushes the image with provenance',
  { timeout: 180_000 },
  async (t) => {
    if (!requireTools(t, 'git', 'buildah', 'skopeo', 'busybox')) return;
    const workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-pipeline-'));
    t.after(() => rm(workDir, { recursive: true, force: true }));

    // The server's image steps and its checkout use this process's environment: confine buildah to workDir.
    const savedEnv = { ...process.env };
    t.after(() => {
      for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
      Object.assign(process.env, savedEnv);
    });
    Object.assign(process.env, containersEnv(join(workDir, 'server-containers')));

    // The source repository is a local path: the outbound policy must let clones reach this machine.
    const server = await startTestServer({ config: { outboundAllow: '127.0.0.1/32' } });
    t.after(() => server.close());
    const { services } = server;

    // The base image, pushed to admin/base:v1.
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

    // The source repository: a first commit, then the one the webhook announces.
    const repo = join(workDir, 'repo');
    await mkdir(repo);
    const git = (...args: string[]) => runOk('git', args, { cwd: repo, env: { ...process.env, ...gitEnv } });
    await git('init', '--quiet', '-b', 'main');
    const pipelineSource = [
      'name: app',
      'clone: false',
      'jobs:',
      '  image:',
      '    steps:',
      '      - checkout: { depth: 1 }',
      '      - build:',
      "          tags: ['app:v1']",
      '      - push:',
      '          repository: admin/app',
      '          tags: [v1]',
      '',
    ].join('\n');
    await writeFile(join(repo, '.slipway.yml'), pipelineSource);
    await writeFile(
      join(repo, 'Dockerfile'),
      `FROM ${server.host}/admin/base:v1\nRUN echo not-this-one > /built.txt\n`,
    );
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'first');
    await writeFile(
      join(repo, 'Dockerfile'),
      `FROM ${server.host}/admin/base:v1\nRUN echo built-by-slipway > /built.txt\n`,
    );
    await git('commit', '--quiet', '-am', 'build it');
    const commit = (await git('rev-parse', 'HEAD')).stdout.trim();

    const pipeline = await services.runs.createPipeline({
      namespace: 'admin',
      source: pipelineSource,
      actor: 'admin',
    });
    const hook = await services.triggers.createWebhook(pipeline.id, 'github', { secret: 'hook-secret' });
    await services.runScheduler.start();
    t.after(() => services.runScheduler.stop());

    // GitHub's push webhook, signed as GitHub signs it.
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: commit,
      deleted: false,
      repository: { clone_url: `file://${repo}`, full_name: 'dev/app' },
      head_commit: { id: commit, message: 'build it', added: [], removed: [], modified: ['Dockerfile'] },
      commits: [{ id: commit, added: [], removed: [], modified: ['Dockerfile'] }],
    });
    const signature = `sha256=${createHmac('sha256', 'hook-secret').update(body).digest('hex')}`;
    const response = await fetch(`${server.url}/api/slipway/v1/hooks/${hook.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'delivery-1',
        'x-hub-signature-256': signature,
      },
      body,
    });
    const answer = (await response.json()) as { run_id: string };
    assert.equal(response.status, 202, JSON.stringify(answer));

    let run = await services.runs.getRun(answer.run_id);
    const deadline = Date.now() + 150_000;
    while (!isTerminal(run.state) && Date.now() < deadline) {
      await sleep(250);
      run = await services.runs.getRun(answer.run_id);
    }
    const steps = run.jobs.flatMap((job) => job.steps);
    const logs: string[] = [];
    for (const step of steps) {
      const page = await services.stepLogs.read(step.id);
      logs.push(page.lines.map((line) => line.data.toString('utf8')).join('\n'));
    }
    const allLogs = logs.join('\n');
    assert.equal(run.state, 'success', `${JSON.stringify(run.jobs, null, 2)}\n${allLogs}`);
    assert.deepEqual(
      steps.map((step) => step.kind),
      ['checkout', 'build-image', 'push-image'],
    );
    assert.match(logs[0]!, new RegExp(`HEAD is now ${commit}`));
    assert.match(logs[1]!, /RUN echo built-by-slipway/);

    // skopeo sees admin/app:v1, the referrers API its provenance.
    const inspected = JSON.parse(
      (
        await runOk(
          'skopeo',
          ['inspect', '--tls-verify=false', '--creds', adminCreds, `docker://${server.host}/admin/app:v1`],
          { env: containersEnv(join(workDir, 'skopeo')), timeoutMs: toolTimeoutMs },
        )
      ).stdout,
    ) as { Digest: string };
    const client = new RegistryClient(server.url, { username: 'admin', password: adminPassword });
    const referrers = await client.request('GET', `/v2/admin/app/referrers/${inspected.Digest}`);
    assert.equal(referrers.status, 200);
    const provenance = referrers
      .json<{ manifests: { artifactType?: string }[] }>()
      .manifests.filter((m) => m.artifactType === PROVENANCE_ARTIFACT_TYPE);
    assert.equal(provenance.length, 1, JSON.stringify(referrers.json()));

    // The image runs and holds what the triggering commit's Dockerfile wrote.
    const env = containersEnv(join(workDir, 'pull'));
    const container = (
      await runOk(
        'buildah',
        ['from', '--quiet', '--tls-verify=false', '--creds', adminCreds, `${server.host}/admin/app:v1`],
        { env, timeoutMs: toolTimeoutMs },
      )
    ).stdout.trim();
    const ran = await runOk(
      'buildah',
      ['run', '--isolation', 'chroot', container, '--', '/bin/busybox', 'cat', '/built.txt'],
      { env, timeoutMs: toolTimeoutMs },
    );
    assert.equal(ran.stdout.trim(), 'built-by-slipway');
  },
);
