// Rancher pipelines of a private repository, on both databases: the repository is served by `git http-backend`
// behind Basic auth (test/support/git-http.ts), and the remote account lives in a fake GitHub API on 127.0.0.1.
// A tech-preview spec's `remoteAccountName` and a 2.1+ pipeline's `sourceCodeCredentialName` are what branch
// resolution, the read of `.rancher-pipeline.yml` and the runs' checkouts authenticate with; without them
// creation or the run fails and says why.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { startGitHttpServer, type GitHttpServer } from '../support/git-http.js';
import { createGitRepo } from '../support/git-repo.js';
import { nativeApi, sendSignedWebhook } from '../support/native-client.js';
import { RancherClient, rancherUser } from '../support/rancher-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { requireTools, runOk } from '../support/tools.js';

const TOKEN = 'ghp-private-repo-token-7d1e';
const PIPELINE_FILE = 'stages:\n  - name: private-clone\n    steps:\n      - sourceCodeConfig: {}\n';

/** GitHub's `GET /api/v3/user` for TOKEN (GitHub cannot run here); any other token is 401. */
async function startFakeGitHub(): Promise<{ host: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const json = (status: number, value: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.headers.authorization !== `token ${TOKEN}`) return json(401, { message: 'Bad credentials' });
    if (req.url === '/api/v3/user')
      return json(200, { login: 'Octo-Cat', name: 'Octo Cat', avatar_url: '', html_url: '' });
    return json(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const ended = (body: any) => ['Success', 'Fail', 'Abort', 'Error'].includes(body.status?.state);

forEachDatabase((database) => {
  describe(`Rancher pipelines of a private repository on ${database}`, { concurrency: false }, () => {
    let skip = false;
    let workDir: string;
    let git: GitHttpServer;
    let github: Awaited<ReturnType<typeof startFakeGitHub>>;
    let server: TestServer;
    let dev: RancherClient;
    let devToken: string;
    let repoUrl: string;
    let commit: string;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      workDir = await mkdtemp(join(tmpdir(), 'slipway-rancher-private-'));
      const work = await createGitRepo(join(workDir, 'work'), {
        'README.md': 'private app\n',
        '.rancher-pipeline.yml': PIPELINE_FILE,
      });
      commit = await work.git('rev-parse', 'HEAD');
      await runOk('git', ['clone', '--quiet', '--bare', work.path, join(workDir, 'repos', 'app.git')]);
      // GitHub takes a token with any user name: the remote account's login, or x-access-token.
      git = await startGitHttpServer(join(workDir, 'repos'), { auth: { password: TOKEN } });
      repoUrl = `${git.url}/app.git`;
      github = await startFakeGitHub();
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      await server.services.runScheduler.start();
      const user = await rancherUser(server, 'dev');
      dev = user.client;
      devToken = user.token;
      const admin = new RancherClient(
        server.url,
        `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`,
      );
      const configured = await admin.post('/clusters/local/clusterpipelines', {
        spec: { clusterName: 'local', githubConfig: { scheme: 'http', host: github.host } },
      });
      assert.equal(configured.status, 201, configured.text);
      const login = await dev.action('/remoteaccounts', 'login', { type: 'github', accessToken: TOKEN });
      assert.equal(login.status, 200, login.text);
      assert.equal(login.body.id, 'github-octo-cat');
    });
    after(async () => {
      if (skip) return;
      await server?.services.runScheduler.stop();
      await server?.close();
      await git?.close();
      await github?.close();
      await rm(workDir, { recursive: true, force: true });
    });

    const skipIf = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return skip || !requireTools(t, 'git');
    };

    const spec = (name: string, source: Record<string, unknown>) => ({
      displayName: name,
      stages: [
        {
          name: 'clone',
          steps: [
            { type: 'sourcecode', sourceCodeStepConfig: { repository: repoUrl, branch: 'main', ...source } },
          ],
        },
      ],
      triggers: { webhookTrigger: { active: true } },
    });

    /** The whole text of every log of a run. */
    const logsOf = async (historyId: string): Promise<string> => {
      const logs = await dev.get(`/projects/local:dev/pipelinelogs?pipelineHistoryId=${historyId}`);
      assert.equal(logs.status, 200, logs.text);
      return (logs.body.data as { message: string }[]).map((l) => l.message).join('');
    };

    test('a spec naming a remote account resolves, clones and checks out with its token', async (t) => {
      if (skipIf(t)) return;
      const created = await dev.post(
        '/projects/local:dev/pipelines',
        spec('with-account', { remoteAccountName: 'github-octo-cat' }),
      );
      assert.equal(created.status, 201, created.text);
      assert.ok(!created.text.includes(TOKEN));
      // The account's token became a git credential of the project, under the name credentialFor gives it.
      const stored = await server.services.sourceCredentials.open('dev', 'rancher-dev-github-octo-cat');
      assert.deepEqual(stored, { kind: 'token', username: 'Octo-Cat', secret: TOKEN });

      const before = git.requests.length;
      const started = await dev.action(created.body.links.self, 'run', {});
      assert.equal(started.status, 200, started.text);
      assert.equal(started.body.status.commitInfo, commit, 'ls-remote with the token found main');
      const done = await dev.waitFor(started.body.links.self, ended);
      assert.equal(done.status.state, 'Success', JSON.stringify(done.status));
      const log = await logsOf(done.id);
      assert.match(log, new RegExp(`HEAD is now ${commit}`));
      assert.ok(!log.includes(TOKEN));
      const basic = `Basic ${Buffer.from(`Octo-Cat:${TOKEN}`).toString('base64')}`;
      const seen = git.requests.slice(before);
      assert.ok(
        seen.some((r) => r.authorization === basic),
        JSON.stringify(seen),
      );
      assert.ok(seen.every((r) => !r.url.includes(TOKEN)));

      // An update by its owner keeps the account; a re-run repeats the credential it was planned with.
      const updated = await dev.put(created.body.links.self, {
        ...spec('with-account', { remoteAccountName: 'github-octo-cat' }),
      });
      assert.equal(updated.status, 200, updated.text);
      const rerun = await dev.action(done.links.self, 'rerun');
      assert.equal(rerun.status, 200, rerun.text);
      assert.equal((await dev.waitFor(rerun.body.links.self, ended)).status.state, 'Success');

      // A push naming another repository (a public copy on another server) is cloned without the token.
      const other = await startGitHttpServer(join(workDir, 'repos'));
      try {
        const { webhookId, webhookToken } = updated.body.status;
        const hook = await sendSignedWebhook(server, webhookId, webhookToken, {
          event: 'push',
          branch: 'main',
          commit,
          repo_url: `${other.url}/app.git`,
        });
        assert.ok(hook.status < 300, hook.text);
        const histories = `/projects/local:dev/pipelinehistories?pipelineId=${created.body.id}`;
        const list = await dev.waitFor(
          histories,
          (body: any) => body.data.length === 3 && body.data.every(ended),
        );
        assert.equal(list.data[0].repositoryUrl, `${other.url}/app.git`);
        assert.equal(list.data[0].status.state, 'Success', JSON.stringify(list.data[0].status));
        assert.ok(other.requests.length > 0);
        assert.ok(
          other.requests.every((r) => r.authorization === undefined),
          JSON.stringify(other.requests),
        );
      } finally {
        await other.close();
      }
    });

    test('without a credential, a run is refused or fails, saying the repository wants authentication', async (t) => {
      if (skipIf(t)) return;
      const created = await dev.post('/projects/local:dev/pipelines', spec('without-account', {}));
      assert.equal(created.status, 201, created.text);
      // A run that must resolve its branch cannot: git ls-remote is refused.
      const manual = await dev.action(created.body.links.self, 'run', {});
      assert.equal(manual.status, 422, manual.text);
      assert.match(manual.body.message, /git ls-remote failed: .*Authentication failed/);

      // A push names its commit: the run starts, and its checkout fails with git's reason.
      const { webhookId, webhookToken } = created.body.status;
      const hook = await sendSignedWebhook(server, webhookId, webhookToken, {
        event: 'push',
        branch: 'main',
        commit,
      });
      assert.ok(hook.status < 300, hook.text);
      const histories = `/projects/local:dev/pipelinehistories?pipelineId=${created.body.id}`;
      const list = await dev.waitFor(histories, (body: any) => body.data.length === 1 && ended(body.data[0]));
      const run = list.data[0];
      assert.equal(run.status.state, 'Fail', JSON.stringify(run.status));
      assert.match(
        run.status.stageStatus[0].stepStatus[0].message,
        /git fetch: .*: fatal: Authentication failed for/,
      );

      const unknown = await dev.post(
        '/projects/local:dev/pipelines',
        spec('unknown-account', { remoteAccountName: 'github-nobody' }),
      );
      assert.equal(unknown.status, 422, unknown.text);
      assert.equal(unknown.body.fieldName, 'stages[0].steps[0].sourceCodeStepConfig.remoteAccountName');
      assert.match(unknown.body.message, /dev has no remote account "github-nobody"/);
    });

    test('a pipeline as code reads its file and clones with a stored token credential', async (t) => {
      if (skipIf(t)) return;
      const refused = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'code-open',
        repositoryUrl: repoUrl,
      });
      assert.equal(refused.status, 422, refused.text);
      assert.equal(refused.body.fieldName, 'repositoryUrl');
      assert.match(refused.body.message, /Authentication failed/);
      const missing = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'code-missing',
        repositoryUrl: repoUrl,
        sourceCodeCredentialName: 'nope',
      });
      assert.equal(missing.status, 422, missing.text);
      assert.equal(missing.body.fieldName, 'sourceCodeCredentialName');
      assert.match(missing.body.message, /no git credential named "nope" in project local:dev/);

      const put = await nativeApi(server, devToken)('PUT', '/namespaces/dev/git-credentials/deploy-token', {
        kind: 'token',
        secret: TOKEN,
      });
      assert.equal(put.status, 200, put.text);
      const created = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'code-private',
        repositoryUrl: repoUrl,
        sourceCodeCredentialName: 'deploy-token',
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.sourceCodeCredentialName, 'deploy-token');
      const yaml = await dev.get(`${created.body.links.self}/yaml`);
      assert.equal(yaml.text, PIPELINE_FILE, 'the file was read from the private repository');

      const started = await dev.action(created.body.links.self, 'run', { branch: 'main' });
      assert.equal(started.status, 200, started.text);
      const done = await dev.waitFor(started.body.links.self, ended);
      assert.equal(done.status.state, 'Success', JSON.stringify(done.status));
      assert.match(await logsOf(done.id), new RegExp(`HEAD is now ${commit}`));

      // A PUT without the field keeps the credential.
      const updated = await dev.put(created.body.links.self, {
        displayName: 'code-private',
        repositoryUrl: repoUrl,
      });
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.sourceCodeCredentialName, 'deploy-token');
    });
  });
});
