// Checkouts with stored git credentials and the outbound policy for clone URLs: a real git HTTP server
// (`git http-backend` behind Basic auth on 127.0.0.1, test/support/git-http.ts), pipelines run by a real server
// on both databases, and the checkout step on its own for the policy and for ssh keys.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OutboundPolicy } from '../../src/platform/outbound.js';
import type { GitCredential } from '../../src/runs/credentials/index.js';
import type { RunDetail } from '../../src/runs/index.js';
import type { CheckoutStep } from '../../src/runs/model.js';
import { parseSlipwayPipeline } from '../../src/runs/definition/slipway-yaml.js';
import { checkoutStepRunner } from '../../src/runs/steps/checkout.step.js';
import { checkCloneUrl, parseCloneUrl } from '../../src/runs/git/index.js';
import { forEachDatabase } from '../support/databases.js';
import { startGitHttpServer, type GitHttpServer } from '../support/git-http.js';
import { createGitRepo } from '../support/git-repo.js';
import { fetchStepLog, nativeApi } from '../support/native-client.js';
import { userWithToken } from '../support/quay-client.js';
import { waitForRunEnd } from '../support/runs.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { directStepContext } from '../support/step-context.js';
import { findOnPath, runOk } from '../support/tools.js';

const TOKEN = 'gitea-token-5f2c9a';
const USER = 'x-access-token';

test('Slipway YAML: credentials on a checkout step and on clone', () => {
  const parsed = parseSlipwayPipeline(
    [
      'name: p',
      'clone: {depth: 1, credentials: deploy-key}',
      'jobs:',
      '  a:',
      '    steps:',
      '      - checkout: {credentials: gitea}',
    ].join('\n'),
  );
  const steps = parsed.pipeline.stages.flatMap((s) => s.jobs.flatMap((j) => j.steps));
  assert.deepEqual(steps, [
    { kind: 'checkout', name: 'checkout', depth: 1, credentials: 'deploy-key' },
    { kind: 'checkout', name: 'checkout', credentials: 'gitea' },
  ]);
  assert.throws(
    () => parseSlipwayPipeline('jobs:\n  a:\n    steps:\n      - checkout: {credentials: 7}\n'),
    /credentials/,
  );
});

describe('checkout credentials', () => {
  let dir: string;
  let repo: string;
  let commit: string;
  let git: GitHttpServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-checkout-creds-'));
    repo = join(dir, 'repos', 'app.git');
    const work = await createGitRepo(join(dir, 'work'), { README: 'private code\n' });
    commit = await work.git('rev-parse', 'HEAD');
    await runOk('git', ['clone', '--quiet', '--bare', work.path, repo], { cwd: dir });
    git = await startGitHttpServer(join(dir, 'repos'), { auth: { username: USER, password: TOKEN } });
  });
  after(async () => {
    await git?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  forEachDatabase((database) => {
    describe(`through a server (${database})`, () => {
      let server: TestServer;
      let token: string;

      before(async () => {
        server = await startTestServer({ database, config: { outboundAllow: '127.0.0.1/32' } });
        await server.services.runScheduler.start();
        const alice = await userWithToken(server, 'alice');
        token = alice.token;
        const api = nativeApi(server, token);
        const put = (name: string, body: unknown) =>
          api('PUT', `/namespaces/alice/git-credentials/${name}`, body);
        assert.equal((await put('gitea', { kind: 'token', secret: TOKEN })).status, 200);
        assert.equal((await put('stale', { kind: 'token', secret: 'expired-token-000' })).status, 200);
        assert.equal((await put('basic', { kind: 'basic', username: USER, secret: TOKEN })).status, 200);
      });
      after(async () => {
        await server.services.runScheduler.stop();
        await server.close();
      });

      async function cloneWith(credentials: string | undefined): Promise<{ run: RunDetail; log: string }> {
        const name = `clone-${credentials ?? 'none'}`;
        const clone = credentials === undefined ? 'true' : `{credentials: ${credentials}}`;
        const pipeline = await server.services.runs.createPipeline({
          namespace: 'alice',
          source: [
            `name: ${name}`,
            `clone: ${clone}`,
            'jobs:',
            '  read:',
            '    steps:',
            '      - script:',
            '          - cat README',
            // Nothing of the credential is left in the workspace's git configuration.
            '          - test -z "$(git config --get-regexp -i extraheader)"',
          ].join('\n'),
        });
        const started = await server.services.runs.startRun(pipeline.id, {
          kind: 'manual',
          context: { event: 'manual', commit, repoUrl: `${git.url}/app.git`, branch: 'main' },
        });
        const run = await waitForRunEnd(server, started.id);
        let log = '';
        for (const job of run.jobs) {
          for (const step of job.steps) {
            const res = await fetchStepLog(server, token, step.id);
            if (res.status === 200) log += res.text;
          }
        }
        return { run, log };
      }

      test('the right token checks out; it is never in the log, the URL or the workspace config', async () => {
        const before = git.requests.length;
        const { run, log } = await cloneWith('gitea');
        assert.equal(run.state, 'success', JSON.stringify(run) + log);
        assert.match(log, /private code/);
        assert.ok(!log.includes(TOKEN));
        assert.ok(!log.includes(Buffer.from(`${USER}:${TOKEN}`).toString('base64')));
        assert.ok(!log.toLowerCase().includes('authorization'), log);
        const seen = git.requests.slice(before);
        assert.ok(seen.length > 0);
        assert.ok(seen.every((r) => !r.url.includes(TOKEN)));
        assert.ok(seen.some((r) => r.authorization?.startsWith('Basic ')));
      });

      test('a basic credential checks out too', async () => {
        const { run, log } = await cloneWith('basic');
        assert.equal(run.state, 'success', JSON.stringify(run) + log);
        assert.ok(!log.includes(TOKEN));
      });

      test('a wrong, missing or unnamed credential ends the checkout badly', async () => {
        const wrong = await cloneWith('stale');
        assert.notEqual(wrong.run.state, 'success');
        const wrongJob = wrong.run.jobs.find((j) => j.name === 'clone');
        assert.match(wrongJob?.reason ?? '', /git fetch/);
        assert.ok(!wrong.log.includes('expired-token-000'));

        const missing = await cloneWith('nope');
        assert.equal(missing.run.state, 'error');
        assert.match(
          missing.run.jobs.find((j) => j.name === 'clone')?.reason ?? '',
          /no git credential named "nope" in namespace alice/,
        );

        const none = await cloneWith(undefined);
        assert.notEqual(none.run.state, 'success');
      });
    });
  });

  describe('the checkout step on its own', () => {
    let workspaces = 0;

    async function checkout(
      repoUrl: string,
      options: { outbound?: OutboundPolicy; credential?: GitCredential; path?: string } = {},
      step: Partial<CheckoutStep> = {},
    ) {
      const workspace = join(dir, `ws-${++workspaces}`);
      await mkdir(workspace);
      const { ctx, log } = directStepContext(
        workspace,
        { commit, repoUrl },
        { timeoutMs: 30_000, pipeline: { id: 'p1', name: 'p', namespace: 'acme' } },
      );
      const tempDir = join(dir, 'tmp');
      await mkdir(tempDir, { recursive: true });
      const runner = checkoutStepRunner({
        baseEnv: { PATH: options.path ?? process.env.PATH ?? '', HOME: dir },
        tempDir,
        ...(options.outbound ? { outbound: options.outbound } : {}),
        credentials: (namespace, name) =>
          Promise.resolve(namespace === 'acme' && name === 'cred' ? options.credential : undefined),
      });
      const result = await runner({ kind: 'checkout', name: 'checkout', ...step }, ctx);
      return { result, workspace, log: log(), tempDir };
    }

    test('a policy without loopback refuses 127.0.0.1 and local paths, naming the URL redacted', async () => {
      const closed = new OutboundPolicy('');
      const http = await checkout(`http://someone:${TOKEN}@${git.url.slice('http://'.length)}/app.git`, {
        outbound: closed,
      });
      assert.equal(http.result.outcome, 'error');
      assert.match(
        http.result.error ?? '',
        /^clone URL http:\/\/\*\*\*@127\.0\.0\.1:\d+\/app\.git may not be reached: /,
      );
      assert.ok(!(http.result.error ?? '').includes(TOKEN));
      assert.deepEqual(await readdir(http.workspace), []);
      const local = await checkout(repo, { outbound: closed });
      assert.equal(local.result.outcome, 'error');
      assert.match(local.result.error ?? '', new RegExp(`clone URL ${repo} may not be reached: .*loopback`));
      const file = await checkout(`file://${repo}`, { outbound: closed });
      assert.equal(file.result.outcome, 'error');
      const scp = await checkout('git@127.0.0.1:app.git', { outbound: closed });
      assert.match(scp.result.error ?? '', /clone URL git@127\.0\.0\.1:app\.git may not be reached/);

      const open = new OutboundPolicy('127.0.0.1/32');
      const allowed = await checkout(repo, { outbound: open });
      assert.equal(allowed.result.outcome, 'success', allowed.log);
      assert.equal(await readFile(join(allowed.workspace, 'README'), 'utf8'), 'private code\n');
      const viaHttp = await checkout(
        `${git.url}/app.git`,
        {
          outbound: open,
          credential: { kind: 'token', secret: TOKEN },
        },
        { credentials: 'cred' },
      );
      assert.equal(viaHttp.result.outcome, 'success', viaHttp.log);
    });

    test('checkCloneUrl: transports, remote helpers and hosts', async () => {
      const closed = new OutboundPolicy('');
      assert.deepEqual(parseCloneUrl('git@github.com:o/r.git'), { transport: 'ssh', host: 'github.com' });
      assert.deepEqual(parseCloneUrl('ssh://git@[::1]:2222/r.git'), { transport: 'ssh', host: '::1' });
      assert.equal(parseCloneUrl('./relative/path').transport, 'local');
      assert.equal(parseCloneUrl('https://h.example/r.git').origin, 'https://h.example/');
      await assert.rejects(checkCloneUrl(closed, 'ext::sh -c touch% /tmp/pwned'), /remote helpers/);
      await assert.rejects(checkCloneUrl(closed, 'ftp://h.example/r.git'), /not supported/);
      await assert.rejects(
        checkCloneUrl(closed, 'https://10.1.2.3/r.git'),
        /10\.1\.2\.3 is an internal address/,
      );
      await assert.rejects(checkCloneUrl(closed, 'https://localhost:3000/r.git'), /internal address/);
      await assert.rejects(checkCloneUrl(closed, 'ssh://[::1]/r.git'), /internal address/);
      await checkCloneUrl(closed, 'https://93.184.216.34/r.git');
      await checkCloneUrl(new OutboundPolicy('10.0.0.0/8'), 'git://10.1.2.3/r.git');
    });

    test('a credential of the wrong kind for the URL is a step error; a token needs http(s)', async () => {
      const token = await checkout(
        'git@127.0.0.1:app.git',
        { credential: { kind: 'token', secret: TOKEN } },
        {
          credentials: 'cred',
        },
      );
      assert.equal(token.result.outcome, 'error');
      assert.match(
        token.result.error ?? '',
        /is a token credential; the repository URL is not an http\(s\) URL/,
      );
      const key = await checkout(
        `${git.url}/app.git`,
        {
          credential: { kind: 'ssh-key', secret: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n' },
        },
        { credentials: 'cred' },
      );
      assert.match(key.result.error ?? '', /is an ssh key; the repository URL is not an ssh URL/);
    });

    test('an ssh key goes to ssh as a 0600 file outside the workspace, removed after the step', async (t) => {
      if (!findOnPath('git')) return t.skip('git is missing');
      // No sshd here: a stand-in `ssh` first on PATH records how git calls it, then fails as a refused login does.
      const bin = join(dir, 'fake-bin');
      await mkdir(bin, { recursive: true });
      const record = join(dir, 'ssh-call');
      await writeFile(
        join(bin, 'ssh'),
        [
          '#!/bin/sh',
          'key=""',
          'while [ $# -gt 0 ]; do case "$1" in -i) key="$2"; shift;; esac; shift; done',
          `{ echo "key=$key"; stat -c %a "$key"; cat "$key"; } > '${record}'`,
          'echo "Permission denied (publickey)." >&2',
          'exit 255',
        ].join('\n') + '\n',
      );
      await chmod(join(bin, 'ssh'), 0o755);
      const privateKey =
        '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-material\n-----END OPENSSH PRIVATE KEY-----\n';
      const { result, workspace, log, tempDir } = await checkout(
        'git@192.0.2.10:app.git',
        { credential: { kind: 'ssh-key', secret: privateKey }, path: `${bin}:${process.env.PATH ?? ''}` },
        { credentials: 'cred' },
      );
      assert.equal(result.outcome, 'failed', log);
      const [keyLine, mode, ...content] = (await readFile(record, 'utf8')).split('\n');
      const keyFile = keyLine?.slice('key='.length) ?? '';
      assert.ok(keyFile.startsWith(tempDir), keyFile);
      assert.ok(!keyFile.startsWith(workspace));
      assert.equal(mode, '600');
      assert.equal(content.join('\n'), privateKey);
      assert.deepEqual(await readdir(tempDir), [], 'the key directory is removed after the step');
      assert.ok(!log.includes('not-a-real-key-material'));
    });
  });
});
