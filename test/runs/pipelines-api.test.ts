import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachDatabase } from '../support/databases.js';
import { startGitHttpServer } from '../support/git-http.js';
import { createGitRepo } from '../support/git-repo.js';
import { userWithToken } from '../support/quay-client.js';
import { fetchStepLog, nativeApi, type NativeApi } from '../support/native-client.js';
import { until } from '../support/runs.js';
import { startTestServer, type TestServer } from '../support/server.js';

const pipelineYaml = `
name: hello
clone: false
jobs:
  greet:
    steps:
      - script: echo "hello from \${SLIPWAY_BRANCH:-nowhere}"
`;

forEachDatabase((database) => {
  describe(`native pipelines API (${database})`, () => {
    let server: TestServer;
    let owner: NativeApi;
    let reader: NativeApi;
    let stranger: NativeApi;
    let bobToken: string;

    before(async () => {
      // Local git repositories count as loopback for the outbound policy.
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      await server.services.runScheduler.start();
      const alice = await userWithToken(server, 'alice');
      const bob = await userWithToken(server, 'bob');
      const carol = await userWithToken(server, 'carol');
      const org = await alice.client.post('/organization/', { name: 'acme', email: 'acme@example.com' });
      assert.equal(org.status, 201, org.text);
      // bob is a plain member (team role member): he reads acme's pipelines but may not run them.
      const team = await alice.client.put('/organization/acme/team/readers', { role: 'member' });
      assert.equal(team.status, 200, team.text);
      const add = await alice.client.put('/organization/acme/team/readers/members/bob');
      assert.equal(add.status, 200, add.text);
      owner = nativeApi(server, alice.token);
      reader = nativeApi(server, bob.token);
      bobToken = bob.token;
      stranger = nativeApi(server, carol.token);
    });
    after(async () => {
      await server.services.runScheduler.stop();
      await server.close();
    });

    test('create, read, run, and list a pipeline; readers read, strangers see nothing', async () => {
      const created = await owner('POST', '/namespaces/acme/pipelines', { source: pipelineYaml });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.name, 'hello');
      assert.equal(created.headers.get('location'), '/api/slipway/v1/namespaces/acme/pipelines/hello');

      assert.equal((await reader('GET', '/namespaces/acme/pipelines/hello')).status, 200);
      const hidden = await stranger('GET', '/namespaces/acme/pipelines/hello');
      const missing = await stranger('GET', '/namespaces/acme/pipelines/nope');
      assert.equal(hidden.status, 404);
      assert.deepEqual(
        { ...hidden.body, error: { ...hidden.body.error, message: '' } },
        { ...missing.body, error: { ...missing.body.error, message: '' } },
      );
      assert.equal((await nativeApi(server)('GET', '/namespaces/acme/pipelines')).status, 401);
      assert.equal((await reader('POST', '/namespaces/acme/pipelines/hello/runs', {})).status, 403);
      assert.equal((await stranger('POST', '/namespaces/acme/pipelines/hello/runs', {})).status, 404);

      const started = await owner('POST', '/namespaces/acme/pipelines/hello/runs', { branch: 'main' });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.number, 1);
      assert.equal(started.body.trigger.actor, 'alice');
      const done = await until('the run to end', async () => {
        const run = await reader('GET', '/namespaces/acme/pipelines/hello/runs/1');
        return ['success', 'failed', 'error'].includes(run.body.state) ? run.body : undefined;
      });
      assert.equal(done.state, 'success', JSON.stringify(done));
      const stepId = done.jobs[0].steps[0].id;
      assert.equal((await fetchStepLog(server, bobToken, stepId)).text, 'hello from main\n');

      const list = await reader('GET', '/namespaces/acme/pipelines/hello/runs');
      assert.deepEqual(
        list.body.runs.map((r: any) => r.number),
        [1],
      );
      const rerun = await owner('POST', '/namespaces/acme/pipelines/hello/runs/1/rerun');
      assert.equal(rerun.status, 201);
      assert.equal(rerun.body.rerunOf, done.id);
    });

    test('a manual run of a branch checks out the commit the branch points at now', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'slipway-native-run-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const repo = await createGitRepo(join(dir, 'repo'), { 'version.txt': 'one\n' });
      await repo.git('checkout', '--quiet', '-b', 'next');
      const next = await repo.commit({ 'version.txt': 'two\n' });
      await repo.git('checkout', '--quiet', 'main');
      const source = 'name: show\njobs:\n  show:\n    steps:\n      - script: cat version.txt\n';
      assert.equal((await owner('POST', '/namespaces/acme/pipelines', { source })).status, 201);
      const started = await owner('POST', '/namespaces/acme/pipelines/show/runs', {
        repo_url: repo.path,
        branch: 'next',
      });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.trigger.context.commit, next);
      const done = await until('the run to end', async () => {
        const run = await owner('GET', `/namespaces/acme/pipelines/show/runs/${started.body.number}`);
        return ['success', 'failed', 'error'].includes(run.body.state) ? run.body : undefined;
      });
      assert.equal(done.state, 'success', JSON.stringify(done));
      const show = done.jobs.find((j: any) => j.name === 'show');
      assert.equal((await fetchStepLog(server, bobToken, show.steps[0].id)).text, 'two\n');

      const missing = await owner('POST', '/namespaces/acme/pipelines/show/runs', {
        repo_url: repo.path,
        branch: 'nope',
      });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error.field, 'branch');
    });

    test("a pipeline's own private repository: manual runs and schedules check out its branch with its credential", async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'slipway-native-source-'));
      const repo = await createGitRepo(join(dir, 'work'), { 'version.txt': 'one\n' });
      await repo.git('checkout', '--quiet', '-b', 'release');
      const release = await repo.commit({ 'version.txt': 'released\n' });
      await repo.git('clone', '--quiet', '--bare', repo.path, join(dir, 'git', 'app.git'));
      const host = await startGitHttpServer(join(dir, 'git'), { auth: { password: 'repo-token-1' } });
      t.after(async () => {
        await host.close();
        await rm(dir, { recursive: true, force: true });
      });
      const put = await owner('PUT', '/namespaces/acme/git-credentials/app-token', {
        kind: 'token',
        secret: 'repo-token-1',
      });
      assert.ok([200, 201].includes(put.status), JSON.stringify(put.body));
      const source = 'name: sourced\njobs:\n  show:\n    steps:\n      - script: cat version.txt\n';
      const url = `${host.url}/app.git`;
      const created = await owner('POST', '/namespaces/acme/pipelines', {
        source,
        repository: { url, branch: 'release', credentials: 'app-token' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.repository, { url, branch: 'release', credentials: 'app-token' });

      const showOf = async (number: number) => {
        const done = await until(`run ${number} to end`, async () => {
          const run = await owner('GET', `/namespaces/acme/pipelines/sourced/runs/${number}`);
          return ['success', 'failed', 'error'].includes(run.body.state) ? run.body : undefined;
        });
        assert.equal(done.state, 'success', JSON.stringify(done.jobs));
        const show = done.jobs.find((j: any) => j.name === 'show');
        return { done, log: (await fetchStepLog(server, bobToken, show.steps[0].id)).text };
      };
      const manual = await owner('POST', '/namespaces/acme/pipelines/sourced/runs', {});
      assert.equal(manual.status, 201, JSON.stringify(manual.body));
      assert.equal(manual.body.trigger.context.commit, release);
      assert.equal(manual.body.trigger.context.branch, 'release');
      assert.equal((await showOf(manual.body.number)).log, 'released\n');

      // A schedule names no repository: it runs the pipeline's.
      const cron = await owner('POST', '/namespaces/acme/pipelines/sourced/triggers', {
        type: 'cron',
        schedule: '* * * * *',
      });
      assert.equal(cron.status, 201, JSON.stringify(cron.body));
      const fired = await server.services.cronTriggers.fireDue(Date.now() + 120_000);
      assert.equal(fired.length, 1);
      const scheduled = await showOf(2);
      assert.equal(scheduled.done.trigger.kind, 'cron');
      assert.equal(scheduled.done.trigger.context.commit, release);
      assert.equal(scheduled.log, 'released\n');
      assert.ok(
        host.requests.every((r) => r.authorization !== undefined || !r.url.includes('git-upload-pack')),
        'every fetch carried the credential',
      );

      // Without the credential the repository cannot be read: a clear 400, no run.
      await owner('PUT', '/namespaces/acme/pipelines/sourced', { repository: { url, branch: 'release' } });
      const refused = await owner('POST', '/namespaces/acme/pipelines/sourced/runs', {});
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.body.error.message, /Authentication failed|could not read|401/i);
    });

    test('bad definitions are refused naming the line; duplicates conflict; nothing is stored', async () => {
      const bad = await owner('POST', '/namespaces/acme/pipelines', {
        name: 'broken',
        source: 'jobs:\n  a:\n    steps:\n      - nonsense: 1\n',
      });
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.match(bad.body.error.message, /line \d+/);
      const notYaml = await owner('POST', '/namespaces/acme/pipelines', { name: 'broken', source: 'a: [' });
      assert.equal(notYaml.status, 400);
      assert.equal((await owner('GET', '/namespaces/acme/pipelines/broken')).status, 404);
      await owner('POST', '/namespaces/acme/pipelines', { name: 'twice', source: pipelineYaml });
      const again = await owner('POST', '/namespaces/acme/pipelines', {
        name: 'twice',
        source: pipelineYaml,
      });
      assert.equal(again.status, 409);
      const badPolicy = await owner('POST', '/namespaces/acme/pipelines', {
        name: 'fresh',
        source: pipelineYaml,
        policy: 'sometimes',
      });
      assert.equal(badPolicy.status, 400);
      assert.equal((await owner('GET', '/namespaces/acme/pipelines/fresh')).status, 404);
    });

    test('a generic webhook trigger made through the API starts a run when signed, and nothing when not', async () => {
      await owner('POST', '/namespaces/acme/pipelines', { name: 'hooked', source: pipelineYaml });
      const trigger = await owner('POST', '/namespaces/acme/pipelines/hooked/triggers', {
        type: 'webhook',
        provider: 'generic',
      });
      assert.equal(trigger.status, 201, JSON.stringify(trigger.body));
      assert.equal(typeof trigger.body.secret, 'string');
      const body = JSON.stringify({ event: 'push', branch: 'dev', commit: 'a'.repeat(40) });
      const send = (signature: string) =>
        fetch(`${server.url}${trigger.body.url}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-slipway-signature': signature },
          body,
        });
      assert.equal((await send('sha256=' + '0'.repeat(64))).status, 401);
      const signed = await send(
        'sha256=' + createHmac('sha256', trigger.body.secret).update(body).digest('hex'),
      );
      assert.equal(signed.status, 202);
      const runs = await owner('GET', '/namespaces/acme/pipelines/hooked/runs');
      assert.equal(runs.body.runs.length, 1);
      assert.equal(runs.body.runs[0].trigger.context.branch, 'dev');

      const listed = await owner('GET', '/namespaces/acme/pipelines/hooked/triggers');
      assert.equal(listed.status, 200);
      assert.equal(
        JSON.stringify(listed.body).includes(trigger.body.secret),
        false,
        'secrets are not listed',
      );
      assert.equal((await reader('GET', '/namespaces/acme/pipelines/hooked/triggers')).status, 403);
      const removed = await owner(
        'DELETE',
        `/namespaces/acme/pipelines/hooked/triggers/webhook/${trigger.body.id}`,
      );
      assert.equal(removed.status, 204);
      assert.equal(
        (await send('sha256=' + createHmac('sha256', trigger.body.secret).update(body).digest('hex'))).status,
        404,
      );
    });

    test('cancel through the API ends a running step', async () => {
      await owner('POST', '/namespaces/acme/pipelines', {
        name: 'slow',
        source: 'name: slow\nclone: false\njobs:\n  wait:\n    steps:\n      - script: sleep 300\n',
      });
      const started = await owner('POST', '/namespaces/acme/pipelines/slow/runs', {});
      await until('the step to run', async () => {
        const run = await owner('GET', `/namespaces/acme/pipelines/slow/runs/${started.body.number}`);
        return run.body.jobs[0].steps[0].state === 'running' ? true : undefined;
      });
      const cancel = await owner(
        'POST',
        `/namespaces/acme/pipelines/slow/runs/${started.body.number}/cancel`,
      );
      assert.equal(cancel.status, 200);
      const ended = await until('the run to end', async () => {
        const run = await owner('GET', `/namespaces/acme/pipelines/slow/runs/${started.body.number}`);
        return run.body.state === 'cancelled' ? run.body : undefined;
      });
      assert.match(ended.reason, /cancelled by alice/);
      assert.equal((await owner('DELETE', '/namespaces/acme/pipelines/slow')).status, 204);
    });
  });
});
