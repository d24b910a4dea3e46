import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Invalid } from '../../platform/errors.js';
import { determineTags, parseTriggerPayload, skipReason, type TriggerMetadata } from './trigger-payloads.js';

const sha = 'a'.repeat(40);
const request = (body: unknown, headers: Record<string, string> = {}) => ({
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});

describe('trigger payloads', () => {
  test('custom-git reads its own schema and names the bad field', () => {
    const parsed = parseTriggerPayload(
      'custom-git',
      request({
        commit: sha,
        ref: 'refs/heads/main',
        default_branch: 'main',
        commit_info: { message: 'hi', author: { username: 'dev' } },
      }),
      'https://git.example/app.git',
    );
    assert.deepEqual(parsed, {
      metadata: {
        commit: sha,
        git_url: 'https://git.example/app.git',
        ref: 'refs/heads/main',
        default_branch: 'main',
        commit_info: { message: 'hi', author: { username: 'dev' } },
      },
    });
    for (const [body, field] of [
      [{ ref: 'refs/heads/main', default_branch: 'main' }, 'commit'],
      [{ commit: 'xyz', ref: 'refs/heads/main', default_branch: 'main' }, 'commit'],
      [{ commit: sha, ref: 'main', default_branch: 'main' }, 'ref'],
      [{ commit: sha, ref: 'refs/heads/main' }, 'default_branch'],
      [{ commit: sha, ref: 'refs/heads/main', default_branch: 'main', commit_info: 'x' }, 'commit_info'],
      ['[1]', 'body'],
    ] as const)
      assert.throws(
        () => parseTriggerPayload('custom-git', request(body), 'u'),
        (error: unknown) => error instanceof Invalid && (error.detail as { field: string }).field === field,
      );
  });

  test('GitHub, GitLab and Bitbucket pushes give Quay metadata', () => {
    const github = parseTriggerPayload(
      'github',
      request(
        {
          ref: 'refs/tags/v1',
          after: sha,
          repository: { clone_url: 'https://github.com/o/r.git', default_branch: 'main' },
          head_commit: {
            id: sha,
            message: 'tag it',
            url: 'https://github.com/o/r/commit/a',
            author: { username: 'dev' },
          },
          sender: { login: 'dev', avatar_url: 'https://avatars/dev' },
        },
        { 'x-github-event': 'push' },
      ),
      'ignored',
    );
    assert.deepEqual(github, {
      metadata: {
        commit: sha,
        git_url: 'https://github.com/o/r.git',
        ref: 'refs/tags/v1',
        default_branch: 'main',
        commit_info: {
          url: 'https://github.com/o/r/commit/a',
          message: 'tag it',
          author: { username: 'dev', url: 'https://github.com/dev', avatar_url: 'https://avatars/dev' },
        },
      },
    });
    const gitlab = parseTriggerPayload(
      'gitlab',
      request(
        {
          ref: 'refs/heads/dev',
          after: sha,
          checkout_sha: sha,
          user_username: 'dev',
          project: { git_http_url: 'https://gitlab.com/o/r.git', default_branch: 'main' },
          commits: [{ id: sha, message: 'work [skip build]', timestamp: 't' }],
          total_commits_count: 1,
        },
        { 'x-gitlab-event': 'Push Hook' },
      ),
      'ignored',
    );
    assert.ok('metadata' in gitlab);
    assert.equal(gitlab.metadata.default_branch, 'main');
    assert.equal(skipReason(gitlab.metadata, undefined), 'the commit message asks to skip the build');
    const bitbucket = parseTriggerPayload(
      'bitbucket',
      request(
        {
          repository: {
            links: { html: { href: 'https://bitbucket.org/o/r' } },
            mainbranch: { name: 'main' },
          },
          push: { changes: [{ new: { type: 'branch', name: 'main', target: { hash: sha, message: 'm' } } }] },
        },
        { 'x-event-key': 'repo:push' },
      ),
      'ignored',
    );
    assert.deepEqual(bitbucket, {
      metadata: {
        commit: sha,
        git_url: 'https://bitbucket.org/o/r.git',
        ref: 'refs/heads/main',
        default_branch: 'main',
        commit_info: { message: 'm' },
      },
    });
    // custom-git also takes a host's payload when its event header comes along; pings start nothing.
    assert.deepEqual(
      parseTriggerPayload('custom-git', request({ zen: 'z' }, { 'x-github-event': 'ping' }), 'u'),
      {
        skip: 'ping',
      },
    );
  });

  test('tags come from templates, the ref and the default branch', () => {
    const metadata: TriggerMetadata = {
      commit: '0123456789abcdef0123456789abcdef01234567',
      git_url: 'u',
      ref: 'refs/heads/feature/x',
      default_branch: 'main',
    };
    const rules = {
      tagTemplates: ['${commit_info.short_sha}', 'b-${parsed_ref.branch}', '${parsed_ref.tag}'],
      defaultTagFromRef: true,
      latestForDefaultBranch: true,
    };
    assert.deepEqual(determineTags(metadata, rules), ['0123456', 'b-feature_x', 'feature_x']);
    assert.deepEqual(determineTags({ ...metadata, ref: 'refs/heads/main' }, rules), [
      '0123456',
      'b-main',
      'main',
      'latest',
    ]);
    assert.deepEqual(
      determineTags(
        { ...metadata, ref: 'refs/tags/v1.0' },
        { ...rules, tagTemplates: ['${parsed_ref.tag}'] },
      ),
      ['v1.0'],
    );
    assert.deepEqual(
      determineTags(
        { ...metadata, ref: 'refs/heads/main' },
        { tagTemplates: [], defaultTagFromRef: false, latestForDefaultBranch: false },
      ),
      ['0123456'],
    );
    assert.equal(skipReason({ ...metadata, ref: 'refs/heads/main' }, 'heads/main'), undefined);
    assert.match(
      skipReason({ ...metadata, ref: 'refs/heads/mainline' }, 'heads/main') ?? '',
      /does not match/,
    );
  });
});
