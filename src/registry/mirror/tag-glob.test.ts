import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, matchingTags } from './tag-glob.js';

test('globs match tags as Python fnmatch does', () => {
  const cases: Array<[glob: string, tag: string, matches: boolean]> = [
    ['latest', 'latest', true],
    ['latest', 'latest2', false],
    ['v*', 'v1.2.3', true],
    ['v*', 'release-v1', false],
    ['*', 'anything', true],
    ['v?', 'v1', true],
    ['v?', 'v10', false],
    ['v[0-9]*', 'v3-rc', true],
    ['v[!0-9]*', 'v3-rc', false],
    ['v[!0-9]*', 'vx', true],
    ['1.*', '1.0', true],
    ['1.*', '1x0', false],
    ['[', '[', true],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['LATEST', 'latest', false],
  ];
  for (const [glob, tag, matches] of cases)
    assert.equal(globToRegExp(glob).test(tag), matches, `${glob} vs ${tag}`);
});

test('matchingTags keeps the tags matching any glob, sorted, once', () => {
  assert.deepEqual(matchingTags(['v2', 'latest', 'v1', 'dev'], ['v*', 'latest', 'v1']), [
    'latest',
    'v1',
    'v2',
  ]);
  assert.deepEqual(matchingTags(['a'], []), []);
});
