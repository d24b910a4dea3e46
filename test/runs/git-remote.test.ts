// The one way Slipway talks to git remotes outside a workspace (src/runs/git): ls-remote, branch resolution and
// reading a commit's file against a private repository served by `git http-backend` behind Basic auth, with and
// without a stored credential, under the outbound policy, and pinned to the checked address.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OutboundPolicy } from '../../src/platform/outbound.js';
import { checkRemote, lsRemote, readCommitFile, resolveBranch } from '../../src/runs/git/index.js';
import { startGitHttpServer, type GitHttpServer } from '../support/git-http.js';
import { createGitRepo } from '../support/git-repo.js';
import { runOk } from '../support/tools.js';

const TOKEN = 'git-remote-token-42';

describe('git remotes', () => {
  let dir: string;
  let git: GitHttpServer;
  let url: string;
  let commit: string;
  const outbound = new OutboundPolicy('127.0.0.0/8');
  const credential = { name: 'deploy', kind: 'token' as const, secret: TOKEN };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-git-remote-'));
    const work = await createGitRepo(join(dir, 'work'), { 'config.yml': 'private: true\n' });
    commit = await work.git('rev-parse', 'HEAD');
    await work.git('branch', 'feature');
    await runOk('git', ['clone', '--quiet', '--bare', work.path, join(dir, 'repos', 'app.git')]);
    git = await startGitHttpServer(join(dir, 'repos'), { auth: { password: TOKEN } });
    // A host name rather than an address: the name is resolved, checked and pinned.
    url = `${git.url.replace('127.0.0.1', 'localhost')}/app.git`;
  });
  after(async () => {
    await git?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('ls-remote with a credential lists refs and the default branch; the name is pinned', async () => {
    const remote = await lsRemote(url, { outbound, credential });
    assert.equal(remote.defaultBranch, 'main');
    assert.equal(remote.refs.get('refs/heads/main'), commit);
    assert.equal(remote.refs.get('refs/heads/feature'), commit);
    const port = new URL(url).port;
    assert.deepEqual(await checkRemote(outbound, url), [
      ['http.curloptResolve', `localhost:${port}:127.0.0.1`],
    ]);
    assert.deepEqual(await checkRemote(outbound, `${git.url}/app.git`), [], 'an address needs no pin');
  });

  test('without the credential git says why; the policy and unfitting credentials are refused first', async () => {
    const seen = git.requests.length;
    await assert.rejects(lsRemote(url, { outbound }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'GIT_FAILED');
      assert.match(error.message, /^git ls-remote failed: .*Authentication failed/);
      return true;
    });
    assert.ok(git.requests.length > seen);
    const wrong = { ...credential, secret: 'wrong-secret-1' };
    await assert.rejects(lsRemote(url, { outbound, credential: wrong }), (error: Error) => {
      assert.ok(!error.message.includes('wrong-secret-1'));
      return /Authentication failed/.test(error.message);
    });

    const before = git.requests.length;
    await assert.rejects(lsRemote(url, { outbound: new OutboundPolicy(''), credential }), {
      code: 'CLONE_URL_NOT_ALLOWED',
    });
    await assert.rejects(
      lsRemote(url, { outbound, credential: { name: 'key', kind: 'ssh-key', secret: 'k' } }),
      {
        code: 'GIT_CREDENTIAL_UNUSABLE',
        message: /"key" is an ssh key; the repository URL is not an ssh URL/,
      },
    );
    await assert.rejects(lsRemote('--upload-pack=touch /tmp/x', { outbound }), { code: 'INVALID_CLONE_URL' });
    assert.equal(git.requests.length, before, 'nothing refused reached the server');
  });

  test('resolveBranch and readCommitFile authenticate the same way', async () => {
    assert.deepEqual(await resolveBranch(url, undefined, { outbound, credential }), {
      commit,
      branch: 'main',
    });
    assert.equal((await resolveBranch(url, 'feature', { outbound, credential })).commit, commit);
    await assert.rejects(resolveBranch(url, 'nope', { outbound, credential }), {
      name: 'NotFound',
      code: 'BRANCH_NOT_FOUND',
    });
    assert.deepEqual(
      await readCommitFile(url, commit, ['missing.yml', 'config.yml'], { outbound, credential }),
      {
        file: 'config.yml',
        source: 'private: true\n',
      },
    );
    assert.equal(await readCommitFile(url, commit, ['missing.yml'], { outbound, credential }), undefined);
    await assert.rejects(readCommitFile(url, commit, ['config.yml'], { outbound }), {
      code: 'GIT_FAILED',
      message: /^git fetch failed: .*Authentication failed/,
    });
    await assert.rejects(readCommitFile(url, 'abc', ['config.yml'], { outbound, credential }), {
      code: 'INVALID_COMMIT',
    });
  });
});
