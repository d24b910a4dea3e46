// Rancher pipeline histories (runs) and logs with real parts: a local git repository, the scheduler running
// runScriptConfig steps in the busybox test image with buildah (chroot isolation, vfs), the logs read and
// followed over /v3, and a stopped run whose step's whole process tree is killed. SQLite only: the database
// paths are those of tests/rancher/pipelines.test.ts, and buildah makes each run slow enough.
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { processAlive } from '../contracts/executor.contract.js';
import { createGitRepo, type GitRepo } from '../support/git-repo.js';
import { confineProcessContainers, pushBaseImage } from '../support/image-checks.js';
import { RancherClient, rancherUser } from '../support/rancher-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { findOnPath } from '../support/tools.js';

const tools = ['git', 'buildah', 'skopeo', 'busybox'];
const missing = tools.filter((t) => findOnPath(t) === undefined);
if (missing.length > 0 && process.env.CI === 'true') throw new Error(`missing tools: ${missing.join(', ')}`);

const ended = (body: any) => ['Success', 'Fail', 'Abort'].includes(body.status.state);

describe(
  'Rancher pipeline histories and logs',
  { concurrency: false, skip: missing.length > 0 && `missing tools: ${missing.join(', ')}` },
  () => {
    let server: TestServer;
    let workDir: string;
    let repo: GitRepo;
    let dev: RancherClient;
    let devToken: string;
    let image: string;
    let restoreEnv: (() => void) | undefined;

    before(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'slipway-rancher-runs-'));
      // The server's image steps use this process's environment: confine buildah to workDir.
      restoreEnv = confineProcessContainers(join(workDir, 'server-containers'));
      server = await startTestServer({ config: { outboundAllow: '127.0.0.0/8' } });
      const user = await rancherUser(server, 'dev');
      dev = user.client;
      devToken = user.token;
      const devLogin = { username: 'dev', password: 'dev-password-1' };
      image = await pushBaseImage(server.host, devLogin, 'dev/base:v1', workDir);
      // dev/base stays private: script steps pull it with a token of the run, issued to dev.
      repo = await createGitRepo(join(workDir, 'repo'), { 'README.md': 'app\n' });
      await server.services.runScheduler.start();
    });
    after(async () => {
      await server?.services.runScheduler.stop();
      await server?.close();
      restoreEnv?.();
      await rm(workDir, { recursive: true, force: true });
    });

    const createPipeline = async (name: string, steps: unknown[]) => {
      const created = await dev.post('/projects/local:dev/pipelines', {
        displayName: name,
        stages: [
          {
            name: 'clone',
            steps: [{ type: 'sourcecode', sourceCodeStepConfig: { repository: repo.path, branch: 'main' } }],
          },
          { name: 'test', steps },
        ],
      });
      assert.equal(created.status, 201, created.text);
      return created.body as { id: string; links: { self: string } };
    };
    const script = (shellScript: string, env: string[] = []) => ({
      type: 'runscript',
      runScriptStepConfig: { image, shellScript, env },
    });

    test(
      'a run of runscript steps succeeds, with states per stage and step and logs per ordinal',
      { timeout: 120_000 },
      async () => {
        const p = await createPipeline('ok', [
          script('echo out-one'),
          script('echo out-two $GREETING', ['GREETING=hi']),
        ]);
        const started = await dev.action(p.links.self, 'run', { branch: 'main' });
        assert.equal(started.status, 200, started.text);
        const history = started.body;
        assert.equal(history.type, 'pipelineHistory');
        assert.equal(history.runNumber, 1);
        assert.equal(history.displayName, 'ok-1');
        assert.equal(history.triggerType, 'manual');
        assert.equal(history.triggerUserName, 'dev');
        assert.equal(history.status.commitInfo, await repo.git('rev-parse', 'HEAD'));
        assert.ok(['Waiting', 'Pending', 'Building'].includes(history.status.state), history.status.state);
        assert.ok(history.actions.stop);

        const done = await dev.waitFor(history.links.self, ended, 100_000);
        assert.equal(done.status.state, 'Success', JSON.stringify(done.status, null, 2));
        assert.ok(done.status.startTime && done.status.endTime);
        assert.deepEqual(
          done.status.stageStatus.map((s: { state: string; stepStatus: { state: string }[] }) => [
            s.state,
            s.stepStatus.map((x) => x.state),
          ]),
          [
            ['Success', ['Success']],
            ['Success', ['Success', 'Success']],
          ],
        );
        assert.ok(done.status.stageStatus[1].stepStatus[1].endTime);
        assert.equal(done.status.envVars.CICD_EXECUTION_SEQUENCE, '1');
        assert.deepEqual(Object.keys(done.actions), ['rerun']);

        const logs = await dev.get(
          `/projects/local:dev/pipelinelogs?pipelineHistoryId=${history.id}&stageOrdinal=1&stepOrdinal=1`,
        );
        assert.equal(logs.status, 200, logs.text);
        assert.equal(logs.body.data.length, 1);
        assert.equal(logs.body.data[0].pipelineHistoryName, 'ok-1');
        assert.match(logs.body.data[0].message, /out-two hi/);
        assert.doesNotMatch(logs.body.data[0].message, /out-one/);
        const first = await dev.get(`/projects/local:dev/pipelinelogs/${history.id}-1-0`);
        assert.equal(first.status, 200);
        assert.match(first.body.message, /out-one/);
        assert.match(first.body.links.stream, /\/api\/slipway\/v1\/logs\/.+\/stream$/);
        // The link is the native event stream, open to the same credentials; an ended log ends it.
        const sse = await fetch(first.body.links.stream, {
          headers: { authorization: `Bearer ${devToken}` },
        });
        assert.equal(sse.status, 200);
        const events = await sse.text();
        assert.match(events, /out-one/);
        assert.match(events, /event: end/);
        const clone = await dev.get(`/projects/local:dev/pipelinelogs/${history.id}-0-0`);
        assert.match(clone.body.message, /HEAD is now/);
        assert.equal((await dev.get(`/projects/local:dev/pipelinelogs/${history.id}-1-5`)).status, 404);
        const all = await dev.get(`/projects/local:dev/pipelinelogs?pipelineHistoryId=${history.id}`);
        assert.equal(all.body.data.length, 3);

        const pipeline = await dev.get(p.links.self);
        assert.equal(pipeline.body.status.lastRunId, history.id);
        assert.equal(pipeline.body.status.lastRunState, 'Success');
        assert.equal(pipeline.body.status.nextRunNumber, 2);
        const listed = await dev.get(`/projects/local:dev/pipelinehistories?pipelineId=${p.id}`);
        assert.deepEqual(
          listed.body.data.map((h: { id: string }) => h.id),
          [history.id],
        );

        const rerun = await dev.action(history.links.self, 'rerun');
        assert.equal(rerun.status, 200, rerun.text);
        assert.equal(rerun.body.runNumber, 2);
        const again = await dev.waitFor(rerun.body.links.self, ended, 100_000);
        assert.equal(again.status.state, 'Success');
      },
    );

    test('a failing step fails its stage and the history', { timeout: 120_000 }, async () => {
      const p = await createPipeline('bad', [script('echo before; exit 3')]);
      const started = await dev.action(p.links.self, 'run', {});
      const done = await dev.waitFor(started.body.links.self, ended, 100_000);
      assert.equal(done.status.state, 'Fail');
      assert.equal(done.status.stageStatus[1].state, 'Fail');
      assert.equal(done.status.stageStatus[1].stepStatus[0].state, 'Fail');
      const log = await dev.get(`/projects/local:dev/pipelinelogs/${started.body.id}-1-0`);
      assert.match(log.body.message, /before/);
    });

    test(
      'a log is followed live over a WebSocket, and stop kills the step with its process tree',
      { timeout: 120_000 },
      async () => {
        const p = await createPipeline('slow', [
          script('echo started; busybox sleep 300 & echo $! > pidfile; wait'),
        ]);
        const started = await dev.action(p.links.self, 'run', {});
        const history = started.body;
        const socketUrl = `${server.url.replace('http', 'ws')}/v3/projects/local:dev/pipelinelogs/${history.id}-1-0`;

        const refused = new WebSocket(socketUrl);
        const status = await new Promise<number>((resolve) =>
          refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)),
        );
        assert.equal(status, 401, 'no socket without credentials');

        const socket = new WebSocket(socketUrl, { headers: { authorization: `Bearer ${devToken}` } });
        const messages: { type: string; text?: string }[] = [];
        const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
        socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
        const deadline = Date.now() + 90_000;
        while (!messages.some((m) => m.type === 'line' && m.text === 'started')) {
          assert.ok(Date.now() < deadline, `no live line: ${JSON.stringify(messages)}`);
          await sleep(100);
        }
        // The line came while the step still runs.
        const running = await dev.get(history.links.self);
        assert.equal(running.body.status.stageStatus[1].stepStatus[0].state, 'Building');

        const pid = await waitForPid(join(server.dataDir, 'workspaces', history.id));
        assert.ok(processAlive(pid), 'the sleep runs before the stop');
        const stopped = await dev.action(history.links.self, 'stop');
        assert.equal(stopped.status, 200, stopped.text);
        const done = await dev.waitFor(history.links.self, ended, 60_000);
        assert.equal(done.status.state, 'Abort');
        assert.equal(done.status.stageStatus[1].stepStatus[0].state, 'Abort');
        assert.equal(await closed, 1000, 'the socket ends when the log does');
        assert.equal(messages.at(-1)?.type, 'end');
        const gone = Date.now() + 10_000;
        while (processAlive(pid) && Date.now() < gone) await sleep(100);
        assert.ok(!processAlive(pid), `the step's sleep (pid ${pid}) is gone`);
        const again = await dev.action(history.links.self, 'stop');
        assert.equal(again.status, 422);
        assert.equal(again.body.code, 'InvalidState');
      },
    );
  },
);

/** The pid the step wrote to `pidfile` somewhere in the run's workspace. */
async function waitForPid(dir: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    const file = files.find((f) => f.endsWith('pidfile'));
    const pid = file ? Number((await readFile(join(dir, file), 'utf8').catch(() => '')).trim()) : NaN;
    if (Number.isInteger(pid) && pid > 0) return pid;
    if (Date.now() > deadline) throw new Error(`no pidfile in ${dir}`);
    await sleep(100);
  }
}
