// A Rancher 2.1+ pipeline as code end to end, with real parts only: a local git repository holding a Dockerfile
// and a .rancher-pipeline.yml, the pipeline created through /v3 with its repositoryUrl, a run action on a
// branch whose file is read at that commit, the scheduler running its clone, runScriptConfig and
// publishImageConfig steps with buildah, then skopeo, the referrers API and buildah checking the pushed image.
// A generic webhook for a later commit then runs that commit's own definition.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createGitRepo } from '../support/git-repo.js';
import { checkPushedImage, confineProcessContainers, pushBaseImage } from '../support/image-checks.js';
import { sendSignedWebhook } from '../support/native-client.js';
import { rancherUser } from '../support/rancher-client.js';
import { startTestServer } from '../support/server.js';
import { containersEnv, requireTools } from '../support/tools.js';

const devLogin = { username: 'dev', password: 'dev-password-1' };
const ended = (body: any) => ['Success', 'Fail', 'Abort'].includes(body.status.state);

test(
  'a pipeline as code created through /v3 builds, pushes with provenance, and follows its file per commit',
  { timeout: 240_000 },
  async (t) => {
    if (!requireTools(t, 'git', 'buildah', 'skopeo', 'busybox')) return;
    const workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-rancher-'));
    const restoreEnv = confineProcessContainers(join(workDir, 'server-containers'));
    // Last in, first out: the scheduler stops and the server closes before buildah's state is removed.
    const cleanups: (() => Promise<unknown>)[] = [
      () => rm(workDir, { recursive: true, force: true, maxRetries: 5 }),
      async () => restoreEnv(),
    ];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    // Local paths are clone URLs read as loopback: the outbound policy must allow it.
    const server = await startTestServer({ config: { outboundAllow: '127.0.0.0/8' } });
    cleanups.push(() => server.close());
    // Script steps pull their image from Slipway's plain-HTTP registry.
    containersEnv(join(workDir, 'server-containers'), { insecureRegistries: [server.host] });
    const { client: dev } = await rancherUser(server, 'dev');

    await pushBaseImage(server.host, devLogin, 'dev/base:v1', workDir);
    // Script steps pull without the run's credentials.
    await server.services.repositories.setVisibility('dev/base', 'public');

    const definition = (greeting: string) =>
      [
        'stages:',
        '  - name: test',
        '    steps:',
        '      - runScriptConfig:',
        `          image: ${server.host}/dev/base:v1`,
        `          shellScript: echo ${greeting} && cat /hello.txt`,
        '  - name: publish',
        '    steps:',
        '      - publishImageConfig:',
        '          dockerfilePath: ./Dockerfile',
        '          buildContext: .',
        '          tag: dev/app:${CICD_GIT_BRANCH}',
        '',
      ].join('\n');
    const repo = await createGitRepo(join(workDir, 'repo'), {
      '.rancher-pipeline.yml': definition('first-file'),
      Dockerfile: `FROM ${server.host}/dev/base:v1\nRUN echo built-by-rancher-pipeline > /built.txt\n`,
    });
    const commit = await repo.git('rev-parse', 'HEAD');

    const created = await dev.post('/projects/local:dev/pipelines', {
      displayName: 'app',
      repositoryUrl: repo.path,
      triggerWebhookPush: true,
    });
    assert.equal(created.status, 201, created.text);
    const pipeline = created.body;
    await server.services.runScheduler.start();
    cleanups.push(() => server.services.runScheduler.stop());

    const started = await dev.action(pipeline.links.self, 'run', { branch: 'main' });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.status.commitInfo, commit);
    const done = await dev.waitFor(started.body.links.self, ended, 200_000);
    const logs = await dev.get(`/projects/local:dev/pipelinelogs?pipelineHistoryId=${started.body.id}`);
    const allLogs = logs.body.data.map((l: { message: string }) => l.message).join('\n');
    assert.equal(done.status.state, 'Success', `${JSON.stringify(done.status, null, 2)}\n${allLogs}`);
    // Rancher's ordinals: the Clone stage it adds, then the file's stages.
    assert.equal(done.status.stageStatus.length, 3);
    const test1 = await dev.get(`/projects/local:dev/pipelinelogs/${started.body.id}-1-0`);
    assert.match(test1.body.message, /first-file/);
    assert.match(test1.body.message, /hello from slipway/);
    const publish = await dev.get(`/projects/local:dev/pipelinelogs/${started.body.id}-2-0`);
    assert.match(publish.body.message, /built-by-rancher-pipeline/);

    // skopeo sees dev/app:main, the referrers API its provenance; it holds what the Dockerfile wrote.
    const pushed = await checkPushedImage(server, devLogin, 'dev/app:main', workDir);
    assert.equal(pushed.contents.trim(), 'built-by-rancher-pipeline');

    // A later commit changes the file; its push webhook runs the file of that commit, not the first one.
    const second = await repo.commit({ '.rancher-pipeline.yml': definition('second-file') }, 'second');
    const token = (await dev.get(pipeline.links.self)).body.status.webhookToken as string;
    const hook = await sendSignedWebhook(server, pipeline.status.webhookId, token, {
      event: 'push',
      branch: 'main',
      commit: second,
    });
    assert.equal(hook.status, 202, hook.text);
    const histories = await dev.waitFor(
      `/projects/local:dev/pipelinehistories?pipelineId=${pipeline.id}`,
      (body) => body.data.some((h: any) => h.runNumber === 2 && ended(h)),
      200_000,
    );
    const hooked = histories.data.find((h: any) => h.runNumber === 2);
    assert.equal(hooked.triggerType, 'webhook');
    assert.equal(hooked.status.commitInfo, second);
    assert.equal(hooked.status.state, 'Success', JSON.stringify(hooked.status));
    const secondLog = await dev.get(`/projects/local:dev/pipelinelogs/${hooked.id}-1-0`);
    assert.match(secondLog.body.message, /second-file/);
  },
);
