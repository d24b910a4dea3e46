// Secrets and stored credentials of a namespace: the native routes (who may use them, values never answered),
// and jobs reading secrets (Slipway `secrets`, Rancher `envFrom`) with their values masked in the stored logs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskingSink } from '../../src/runs/credentials/log-masking.js';
import type { LogChunk } from '../../src/runs/executor.js';
import { forEachDatabase } from '../support/databases.js';
import { buildTestImages } from '../support/images.js';
import { userWithToken } from '../support/quay-client.js';
import { createGitRepo } from '../support/git-repo.js';
import { confineProcessContainers, overrideProcessEnv } from '../support/image-checks.js';
import { fetchStepLog, nativeApi, type NativeApi } from '../support/native-client.js';
import { waitForRunEnd } from '../support/runs.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startDockerRegistry, upstreamUser } from '../support/docker-registry.js';
import { findOnPath, requireTools, runOk } from '../support/tools.js';

const SECRET_VALUE = 's3cr3t-value-42';

/** A git repository at `path` holding a README and `files` in one commit. */
async function gitRepository(path: string, files: Record<string, string> = {}) {
  const repo = await createGitRepo(path);
  return { path, commit: await repo.commit({ README: 'hello\n', ...files }, 'first') };
}

/** Starts a manual run of the pipeline on `source` (branch main) and waits for it to end. */
async function runManually(server: TestServer, pipelineId: string, source: { path: string; commit: string }) {
  const run = await server.services.runs.startRun(pipelineId, {
    kind: 'manual',
    context: { event: 'manual', commit: source.commit, repoUrl: source.path, branch: 'main' },
  });
  return waitForRunEnd(server, run.id, 45_000);
}

async function stepLog(server: TestServer, token: string, stepId: string): Promise<string> {
  const log = await fetchStepLog(server, token, stepId);
  assert.equal(log.status, 200);
  return log.text;
}

test('masking: secrets split across chunks are masked, short ones are not, output order is kept', () => {
  const out: LogChunk[] = [];
  const masking = maskingSink((chunk) => out.push(chunk), ['hunter22', 'abc', 'hunter2']);
  const at = 1;
  for (const piece of ['pass=hun', 'ter22; abc; hu', 'nter2x', ' tail hunt']) {
    masking.sink({ stream: 'stdout', data: Buffer.from(piece), at });
  }
  masking.sink({ stream: 'stderr', data: Buffer.from('err hunter22\n'), at });
  masking.flush();
  const text = (stream: string) =>
    Buffer.concat(out.filter((c) => c.stream === stream).map((c) => c.data)).toString();
  assert.equal(text('stdout'), 'pass=***; abc; ***x tail hunt');
  assert.equal(text('stderr'), 'err ***\n');
});

forEachDatabase((database) => {
  describe(`run secrets and credentials (${database})`, () => {
    let server: TestServer;
    let alice: NativeApi;
    let aliceToken: string;
    let bob: NativeApi;
    let carol: NativeApi;
    let repo: { path: string; commit: string };

    before(async () => {
      // Rancher pipelines clone first: from a local repository, so the outbound policy allows this machine.
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.1/32' } });
      repo = await gitRepository(join(server.dataDir, 'source'));
      await server.services.runScheduler.start();
      const a = await userWithToken(server, 'alice');
      const b = await userWithToken(server, 'bob');
      const c = await userWithToken(server, 'carol');
      aliceToken = a.token;
      alice = nativeApi(server, a.token);
      bob = nativeApi(server, b.token);
      carol = nativeApi(server, c.token);
      // acme: alice is its admin, bob a plain member (reads it, does not administer it); carol is a stranger.
      const org = await a.client.post('/organization/', { name: 'acme', email: 'acme@example.com' });
      assert.equal(org.status, 201, org.text);
      assert.equal((await a.client.put('/organization/acme/team/readers', { role: 'member' })).status, 200);
      assert.equal((await a.client.put('/organization/acme/team/readers/members/bob')).status, 200);
    });
    after(async () => {
      await server.services.runScheduler.stop();
      await server.close();
    });

    test('admins put, list and delete secrets and credentials; values are never answered', async () => {
      const put = await alice('PUT', '/namespaces/acme/secrets/db', {
        data: { password: SECRET_VALUE, user: 'app-user' },
      });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(put.body.keys, ['password', 'user']);
      const list = await alice('GET', '/namespaces/acme/secrets');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.secrets.map((s: { name: string; keys: string[] }) => [s.name, s.keys]),
        [['db', ['password', 'user']]],
      );

      const git = await alice('PUT', '/namespaces/acme/git-credentials/gitea', {
        kind: 'token',
        secret: 'git-token-123456',
      });
      assert.equal(git.status, 200, git.text);
      assert.equal(git.body.kind, 'token');
      const key = await alice('POST', '/namespaces/acme/git-credentials/deploy/ssh-key');
      assert.equal(key.status, 201, key.text);
      assert.match(key.body.public_key, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+ slipway:acme\/deploy$/);
      const registry = await alice('PUT', '/namespaces/acme/registry-credentials/upstream', {
        host: 'registry.example.com:5000',
        username: 'pusher',
        password: 'registry-password-9',
      });
      assert.equal(registry.status, 200, registry.text);
      const gitList = await alice('GET', '/namespaces/acme/git-credentials');
      assert.deepEqual(
        gitList.body.credentials.map((c: { name: string; kind: string }) => [c.name, c.kind]),
        [
          ['deploy', 'ssh-key'],
          ['gitea', 'token'],
        ],
      );
      const registryList = await alice('GET', '/namespaces/acme/registry-credentials');
      assert.deepEqual(
        registryList.body.credentials.map((c: { name: string; host: string; username: string }) => [
          c.name,
          c.host,
          c.username,
        ]),
        [['upstream', 'registry.example.com:5000', 'pusher']],
      );
      for (const answer of [put, list, git, key, registry, gitList, registryList]) {
        for (const value of [
          SECRET_VALUE,
          'app-user',
          'git-token-123456',
          'registry-password-9',
          'PRIVATE KEY',
        ]) {
          assert.ok(!answer.text.includes(value), `an answer holds ${value}: ${answer.text}`);
        }
      }
      // Sealed at rest: the database holds no value in clear.
      const stored = JSON.stringify([
        await server.db.selectFrom('run_secrets').selectAll().execute(),
        await server.db.selectFrom('source_credentials').selectAll().execute(),
        await server.db.selectFrom('registry_credentials').selectAll().execute(),
      ]);
      for (const value of [SECRET_VALUE, 'git-token-123456', 'registry-password-9', 'PRIVATE KEY']) {
        assert.ok(!stored.includes(value), `the database holds ${value} in clear`);
      }
      // The generated private key is a real OpenSSH key: ssh-keygen derives the same public key from it.
      if (findOnPath('ssh-keygen')) {
        const opened = await server.services.sourceCredentials.open('acme', 'deploy');
        const dir = await mkdtemp(join(tmpdir(), 'slipway-key-'));
        try {
          await writeFile(join(dir, 'key'), opened?.secret ?? '', { mode: 0o600 });
          const derived = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'key')])
            .toString()
            .trim();
          assert.equal(
            derived.split(' ').slice(0, 2).join(' '),
            key.body.public_key.split(' ').slice(0, 2).join(' '),
          );
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
      // A named registry credential is handed out for its own host only.
      const { registryCredentials } = server.services;
      assert.deepEqual(await registryCredentials.lookup('acme', 'registry.example.com:5000'), {
        username: 'pusher',
        password: 'registry-password-9',
      });
      assert.equal(await registryCredentials.lookup('acme', 'evil.example.com', 'upstream'), undefined);
      assert.equal(await registryCredentials.lookup('other', 'registry.example.com:5000'), undefined);

      assert.equal((await alice('DELETE', '/namespaces/acme/git-credentials/gitea')).status, 204);
      assert.equal((await alice('DELETE', '/namespaces/acme/git-credentials/gitea')).status, 404);
      assert.equal((await alice('DELETE', '/namespaces/acme/registry-credentials/upstream')).status, 204);
      assert.deepEqual((await alice('GET', '/namespaces/acme/registry-credentials')).body.credentials, []);
    });

    test('bad input is refused with the native error and nothing is stored', async () => {
      const badName = await alice('PUT', '/namespaces/acme/secrets/Bad%20Name', { data: { k: 'v' } });
      assert.equal(badName.status, 400);
      assert.equal(badName.body.error.code, 'INVALID_CREDENTIAL_NAME');
      const badKey = await alice('PUT', '/namespaces/acme/secrets/odd', { data: { 'no spaces': 'v' } });
      assert.equal(badKey.status, 400);
      assert.equal(badKey.body.error.code, 'INVALID_SECRET_KEY');
      const empty = await alice('PUT', '/namespaces/acme/secrets/odd', { data: {} });
      assert.equal(empty.status, 400);
      const notString = await alice('PUT', '/namespaces/acme/secrets/odd', { data: { k: { nested: true } } });
      assert.equal(notString.status, 400);
      assert.equal(notString.body.error.code, 'INVALID_REQUEST');
      const badKind = await alice('PUT', '/namespaces/acme/git-credentials/x', {
        kind: 'magic',
        secret: 's',
      });
      assert.equal(badKind.status, 400);
      const basicWithoutUser = await alice('PUT', '/namespaces/acme/git-credentials/x', {
        kind: 'basic',
        secret: 'pw',
      });
      assert.equal(basicWithoutUser.status, 400);
      const notAKey = await alice('PUT', '/namespaces/acme/git-credentials/x', {
        kind: 'ssh-key',
        secret: 'hi',
      });
      assert.equal(notAKey.status, 400);
      const badHost = await alice('PUT', '/namespaces/acme/registry-credentials/x', {
        host: 'https://registry.example.com/path',
        username: 'u',
        password: 'p',
      });
      assert.equal(badHost.status, 400);
      assert.equal(badHost.body.error.code, 'INVALID_REGISTRY_HOST');
      const secrets = (await alice('GET', '/namespaces/acme/secrets')).body.secrets.map(
        (s: { name: string }) => s.name,
      );
      assert.ok(!secrets.includes('odd'));
      assert.equal((await alice('GET', '/namespaces/acme/git-credentials')).body.credentials.length, 1);
      assert.equal((await alice('GET', '/namespaces/acme/registry-credentials')).body.credentials.length, 0);
    });

    test('non-admins get 403, strangers 404 as for a missing namespace, anonymous callers 401', async () => {
      for (const path of [
        '/namespaces/acme/secrets',
        '/namespaces/acme/git-credentials',
        '/namespaces/acme/registry-credentials',
      ]) {
        assert.equal((await bob('GET', path)).status, 403, path);
        assert.equal((await nativeApi(server)('GET', path)).status, 401, path);
        const hidden = await carol('GET', path);
        const missing = await carol('GET', path.replace('acme', 'no-such-namespace'));
        assert.equal(hidden.status, 404, path);
        assert.equal(missing.status, 404, path);
        assert.equal(hidden.body.error.code, missing.body.error.code);
      }
      assert.equal(
        (await bob('PUT', '/namespaces/acme/secrets/db', { data: { password: 'mine' } })).status,
        403,
      );
      assert.equal((await bob('DELETE', '/namespaces/acme/secrets/db')).status, 403);
      assert.equal((await bob('POST', '/namespaces/acme/git-credentials/deploy/ssh-key')).status, 403);
      assert.equal((await carol('DELETE', '/namespaces/acme/secrets/db')).status, 404);
      assert.equal(
        (await nativeApi(server)('PUT', '/namespaces/acme/secrets/db', { data: { a: 'b' } })).status,
        401,
      );
      // Another namespace's secret is not reachable through one's own namespace.
      assert.equal(
        (await carol('PUT', '/namespaces/carol/secrets/mine', { data: { k: 'carol-value' } })).status,
        200,
      );
      assert.deepEqual(
        (await carol('GET', '/namespaces/carol/secrets')).body.secrets.map((s: { name: string }) => s.name),
        ['mine'],
      );
      assert.equal((await carol('DELETE', '/namespaces/carol/secrets/db')).status, 404);
      assert.equal(await server.services.runSecrets.resolve('carol', 'db', 'password'), undefined);
      assert.equal(await server.services.runSecrets.resolve('acme', 'db', 'password'), SECRET_VALUE);
      // The unchanged secret still holds alice's value.
      assert.equal((await alice('GET', '/namespaces/acme/secrets')).body.secrets.length, 1);
    });

    test('a job reads a secret into its env; the value is masked in its log; pull requests get none', async () => {
      const pipeline = await server.services.runs.createPipeline({
        namespace: 'acme',
        source: [
          'name: secretive',
          'clone: false',
          'secrets:',
          '  DB_PASSWORD: {secret: db, key: password}',
          'jobs:',
          '  use:',
          '    steps:',
          '      - script: |',
          '          echo "seen=[${DB_PASSWORD:-}]"',
          `          test "\${DB_PASSWORD:-}" = "${SECRET_VALUE}"`,
        ].join('\n'),
      });
      const done = await runManually(server, pipeline.id, repo);
      assert.equal(done.state, 'success', JSON.stringify(done));
      const log = await stepLog(server, aliceToken, done.jobs[0]!.steps[0]!.id);
      assert.equal(log, 'seen=[***]\n');
      assert.ok(!log.includes(SECRET_VALUE));

      const pr = await server.services.runs.startRun(pipeline.id, {
        kind: 'webhook',
        context: {
          event: 'pull_request',
          commit: repo.commit,
          repoUrl: repo.path,
          branch: 'main',
          ref: 'refs/pull/1/head',
        },
      });
      const prDone = await waitForRunEnd(server, pr.id, 45_000);
      assert.equal(prDone.state, 'failed', JSON.stringify(prDone));
      assert.equal(await stepLog(server, aliceToken, prDone.jobs[0]!.steps[0]!.id), 'seen=[]\n');
    });

    test('a missing secret or key ends the job in error, naming it', async () => {
      const pipeline = await server.services.runs.createPipeline({
        namespace: 'acme',
        source: [
          'name: missing-secret',
          'clone: false',
          'jobs:',
          '  use:',
          '    secrets: {TOKEN: {secret: nope, key: token}}',
          '    steps:',
          '      - script: echo never',
        ].join('\n'),
      });
      const done = await runManually(server, pipeline.id, repo);
      assert.equal(done.state, 'error');
      assert.match(done.jobs[0]!.reason ?? '', /secret "nope" has no key "token" in namespace acme/);
    });

    test('a Rancher step with envFrom sees the value in its script; the log masks it', async (t) => {
      if (!requireTools(t, 'buildah', 'busybox')) return;
      const images = await buildTestImages(join(tmpdir(), 'slipway-test-images'));
      // The server's container steps use this process's environment: point buildah at the test images' storage.
      t.after(overrideProcessEnv(images.env));
      const pipeline = await server.services.runs.createPipeline({
        namespace: 'acme',
        name: 'rancher-secret',
        dialect: 'rancher',
        source: [
          'stages:',
          '- name: use',
          '  steps:',
          '  - runScriptConfig:',
          `      image: ${images.imageName}`,
          '      shellScript: |-',
          '        echo "db password: $DB_PASSWORD"',
          `        test "$DB_PASSWORD" = "${SECRET_VALUE}"`,
          '    envFrom:',
          '    - sourceName: db',
          '      sourceKey: password',
          '      targetKey: DB_PASSWORD',
        ].join('\n'),
      });
      const done = await runManually(server, pipeline.id, repo);
      const job = done.jobs.find((j) => j.stage === 'use');
      assert.ok(job, JSON.stringify(done));
      assert.equal(job.state, 'success', JSON.stringify(done));
      const log = await stepLog(server, aliceToken, job.steps[0]!.id);
      assert.match(log, /db password: \*\*\*/);
      assert.ok(!log.includes(SECRET_VALUE));
    });

    test('a push to another registry presents the stored credential, by name or by host', async (t) => {
      if (!requireTools(t, 'git', 'buildah', 'skopeo', 'docker-registry')) return;
      const upstream = await startDockerRegistry({ auth: true });
      t.after(() => upstream.remove());
      const workDir = await mkdtemp(join(tmpdir(), 'slipway-creds-push-'));
      // The server removes a run's local images when the run ends, in the background: retry until it is done.
      t.after(() => rm(workDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 }));
      t.after(confineProcessContainers(join(workDir, 'containers')));
      // An image from scratch: nothing to pull, nothing to run.
      const source = await gitRepository(join(workDir, 'source'), {
        Dockerfile: 'FROM scratch\nCOPY README /README\n',
      });
      const put = (name: string, password: string) =>
        alice('PUT', `/namespaces/acme/registry-credentials/${name}`, {
          host: upstream.host,
          username: upstreamUser.username,
          password,
        });
      assert.equal((await put('upstream', upstreamUser.password)).status, 200);
      assert.equal((await put('wrong', 'not-the-password')).status, 200);

      const push = async (name: string, credentials: string | undefined, tag: string) => {
        const pipeline = await server.services.runs.createPipeline({
          namespace: 'acme',
          source: [
            `name: ${name}`,
            'jobs:',
            '  image:',
            '    steps:',
            "      - build: {tags: ['app:local']}",
            '      - push:',
            `          registry: "${upstream.host}"`,
            ...(credentials ? [`          credentials: ${credentials}`] : []),
            '          repository: team/app',
            `          tags: [${tag}]`,
          ].join('\n'),
        });
        return runManually(server, pipeline.id, source);
      };
      const inspect = (tag: string, creds: string) =>
        runOk(
          'skopeo',
          ['inspect', '--tls-verify=false', '--creds', creds, `docker://${upstream.host}/team/app:${tag}`],
          {
            env: process.env,
          },
        ).then(
          () => true,
          () => false,
        );

      const named = await push('push-named', 'upstream', 'v1');
      assert.equal(named.state, 'success', JSON.stringify(named));
      assert.equal(await inspect('v1', `${upstreamUser.username}:${upstreamUser.password}`), true);
      const byHost = await push('push-by-host', undefined, 'v2');
      assert.equal(byHost.state, 'success', JSON.stringify(byHost));
      assert.equal(await inspect('v2', `${upstreamUser.username}:${upstreamUser.password}`), true);
      // The registry refuses a wrong password: the push fails, and the tag is not there.
      const wrong = await push('push-wrong', 'wrong', 'v3');
      assert.equal(wrong.state, 'failed', JSON.stringify(wrong));
      assert.equal(await inspect('v3', `${upstreamUser.username}:${upstreamUser.password}`), false);
      const missing = await push('push-missing', 'nope', 'v4');
      assert.equal(missing.state, 'failed');
      assert.match(JSON.stringify(missing), /no stored registry credential named \\"nope\\"/);
    });
  });
});
