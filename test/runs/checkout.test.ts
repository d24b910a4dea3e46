// The checkout step with real git: a local repository with two commits, checked out by sha into a fresh
// workspace, shallow and full, from a file:// URL and a plain path, and a server that refuses fetching by sha.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CheckoutStep } from '../../src/runs/model.js';
import { redactUrl } from '../../src/runs/git/index.js';
import { checkoutStepRunner } from '../../src/runs/steps/checkout.step.js';
import { createGitRepo } from '../support/git-repo.js';
import { directStepContext } from '../support/step-context.js';
import { requireTools, runOk } from '../support/tools.js';

describe('checkout step', () => {
  let dir: string;
  let repo: string;
  let first: string;
  let second: string;
  let workspaces = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-checkout-'));
    const git = await createGitRepo(join(dir, 'repo'));
    repo = git.path;
    first = await git.commit({ 'file.txt': 'first\n' }, 'first');
    second = await git.commit({ 'file.txt': 'second\n' }, 'second');
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function checkout(
    repoUrl: string,
    commit: string,
    step: Partial<CheckoutStep> = {},
    signal = new AbortController().signal,
    baseEnv: Record<string, string> = { PATH: process.env.PATH ?? '' },
  ) {
    const workspace = join(dir, `ws-${++workspaces}`);
    await mkdir(workspace);
    const { ctx, log } = directStepContext(workspace, { commit, repoUrl }, { signal });
    const result = await checkoutStepRunner({ baseEnv })(
      { kind: 'checkout', name: 'checkout', ...step },
      ctx,
    );
    return { result, workspace, log: log() };
  }

  test('checks out the first commit, not the branch head', async (t) => {
    if (!requireTools(t, 'git')) return;
    const { result, workspace, log } = await checkout(`file://${repo}`, first, { depth: 1 });
    assert.equal(result.outcome, 'success', log);
    assert.equal(await readFile(join(workspace, 'file.txt'), 'utf8'), 'first\n');
    const head = await runOk('git', ['rev-parse', 'HEAD'], { cwd: workspace });
    assert.equal(head.stdout.trim(), first);
    const count = await runOk('git', ['rev-list', '--count', 'HEAD'], { cwd: workspace });
    assert.equal(count.stdout.trim(), '1');
    assert.match(log, /HEAD is now/);
  });

  test('a plain path and full history', async (t) => {
    if (!requireTools(t, 'git')) return;
    const { result, workspace, log } = await checkout(repo, second);
    assert.equal(result.outcome, 'success', log);
    assert.equal(await readFile(join(workspace, 'file.txt'), 'utf8'), 'second\n');
  });

  test('falls back to fetching refs when the server refuses fetching by sha', async (t) => {
    if (!requireTools(t, 'git')) return;
    // Protocol v0 with allowReachableSHA1InWant off refuses "want <sha>" that is not a ref tip.
    await runOk('git', ['config', 'uploadpack.allowReachableSHA1InWant', 'false'], { cwd: repo });
    await runOk('git', ['config', 'uploadpack.allowAnySHA1InWant', 'false'], { cwd: repo });
    // Protocol v2 lets a client ask for any object; v0 does not.
    const v0 = {
      PATH: process.env.PATH ?? '',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'protocol.version',
      GIT_CONFIG_VALUE_0: '0',
    };
    const signal = new AbortController().signal;
    const { result, workspace, log } = await checkout(`file://${repo}`, first, { depth: 1 }, signal, v0);
    assert.equal(result.outcome, 'success', log);
    assert.match(log, /refused fetching by commit id/);
    assert.equal(await readFile(join(workspace, 'file.txt'), 'utf8'), 'first\n');
  });

  test('an unknown commit fails the step', async (t) => {
    if (!requireTools(t, 'git')) return;
    const { result } = await checkout(`file://${repo}`, 'f'.repeat(40));
    assert.equal(result.outcome, 'failed');
  });

  test('a cancelled step ends as cancelled', async (t) => {
    if (!requireTools(t, 'git')) return;
    const controller = new AbortController();
    controller.abort();
    const { result } = await checkout(repo, first, {}, controller.signal);
    assert.equal(result.outcome, 'cancelled');
  });

  test('credentials in URLs never reach the log', async (t) => {
    if (!requireTools(t, 'git')) return;
    assert.equal(redactUrl('https://user:s3cret@example.test/x.git'), 'https://***@example.test/x.git');
    const { result, log } = await checkout(`file://user:s3cret@/nonexistent/${dir}`, first);
    assert.notEqual(result.outcome, 'success');
    assert.doesNotMatch(log, /s3cret/);
  });
});
