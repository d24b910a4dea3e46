import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundPolicy } from '../../platform/outbound.js';
import { GitHubClient, githubApiBase, nextLink } from './github.js';
import { credentialName } from './source-accounts.service.js';

describe('github client', () => {
  it('derives the API base: api.github.com for github.com, /api/v3 for GitHub Enterprise', () => {
    assert.equal(githubApiBase({ scheme: 'https', host: 'github.com' }), 'https://api.github.com');
    assert.equal(githubApiBase({ scheme: 'http', host: 'GitHub.com' }), 'https://api.github.com');
    assert.equal(
      githubApiBase({ scheme: 'https', host: 'ghe.example:8443' }),
      'https://ghe.example:8443/api/v3',
    );
  });

  it('reads the next page of a Link header', () => {
    const next = 'https://api.github.com/user/repos?page=2';
    assert.equal(nextLink(`<${next}>; rel="next", <https://x/last>; rel="last"`), next);
    assert.equal(nextLink(`<https://x/1>; rel="prev", <${next}>; rel=next`), next);
    assert.equal(nextLink(`<https://x/1>; rel="prev first"`), undefined);
    assert.equal(nextLink(`<https://x/n>; rel="nextish"`), undefined);
    assert.equal(nextLink(undefined), undefined);
  });

  it('never sends the token to a next page on another server', async () => {
    let otherCalls = 0;
    const other = createServer((_req, res) => {
      otherCalls++;
      res.end('[]');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherPort = (other.address() as AddressInfo).port;
    const api = createServer((_req, res) => {
      res
        .writeHead(200, {
          'content-type': 'application/json',
          link: `<http://localhost:${otherPort}/api/v3/user/repos?page=2>; rel="next"`,
        })
        .end(JSON.stringify([{ full_name: 'a/b', clone_url: 'http://x/a/b.git' }]));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(api.address() as AddressInfo).port}`;
      const client = new GitHubClient(new OutboundPolicy('127.0.0.0/8'), { scheme: 'http', host });
      await assert.rejects(client.repositories('secret-token'), /a next page on another server/);
      assert.equal(otherCalls, 0);
    } finally {
      api.close();
      other.close();
    }
  });

  it('names namespace credentials rancher-<user>-<account>, within the 64 characters credentials allow', () => {
    assert.equal(credentialName('alice', 'github-octo-cat'), 'rancher-alice-github-octo-cat');
    const long = credentialName('a'.repeat(40), 'github-' + 'b'.repeat(39));
    assert.equal(long.length, 64);
    assert.match(long, /^rancher-a{40}-github-[0-9a-f]{8}$/);
    assert.notEqual(long, credentialName('a'.repeat(40), 'github-' + 'c'.repeat(39)));
  });
});
