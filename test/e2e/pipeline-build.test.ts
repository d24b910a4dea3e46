// A pipeline end to end, with real parts only: a Slipway server on SQLite, a local git repository holding a
// Dockerfile and a .slipway.yml, a GitHub-signed push webhook starting the run, the scheduler running its
// checkout, build (buildah, chroot isolation, vfs) and push steps, and skopeo and buildah checking the result.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal } from '../../src/runs/states.js';
import { createGitRepo } from '../support/git-repo.js';
import { checkPushedImage, confineProcessContainers, pushBaseImage } from '../support/image-checks.js';
import { adminPassword, startTestServer } from '../support/server.js';
import { requireTools } from '../support/tools.js';

const admin = { username: 'admin', password: adminPassword };

test(
  'a signed GitHub push builds the commit and pushes the image with provenance',
  { timeout: 180_000 },
  async (t) => {
    if (!requireTools(t, 'git', 'buildah', 'skopeo', 'busybox')) return;
    const workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-pipeline-'));
    t.after(() => rm(workDir, { recursive: true, force: true }));

    // The server's image steps and its checkout use this process's environment: confine buildah to workDir.
    t.after(confineProcessContainers(join(workDir, 'server-containers')));

    // The source repository is a local path: the outbound policy must let clones reach this machine.
    const server = await startTestServer({ config: { outboundAllow: '127.0.0.1/32' } });
    t.after(() => server.close());
    const { services } = server;

    // The base image, pushed to admin/base:v1.
    await pushBaseImage(server.host, admin, 'admin/base:v1', workDir);

    // The source repository: a first commit, then the one the webhook announces.
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
    const dockerfile = (text: string) => `FROM ${server.host}/admin/base:v1\nRUN echo ${text} > /built.txt\n`;
    const repo = await createGitRepo(join(workDir, 'repo'), {
      '.slipway.yml': pipelineSource,
      Dockerfile: dockerfile('not-this-one'),
    });
    const commit = await repo.commit({ Dockerfile: dockerfile('built-by-slipway') }, 'build it');

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
      repository: { clone_url: `file://${repo.path}`, full_name: 'dev/app' },
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

    // skopeo sees admin/app:v1, the referrers API its provenance; it holds what the commit's Dockerfile wrote.
    const pushed = await checkPushedImage(server, admin, 'admin/app:v1', workDir);
    assert.equal(pushed.contents.trim(), 'built-by-slipway');
  },
);
