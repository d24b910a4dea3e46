import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceOf, parseReference, validateRepositoryName } from './names.js';

test('repository names follow the distribution-spec expression; traversal and upper case are refused', () => {
  for (const ok of ['a/b', 'admin/busybox', 'org/team/app', 'a1/b.c_d__e-f--g'])
    assert.equal(validateRepositoryName(ok), ok);
  for (const bad of [
    'a/../b',
    '../a',
    'A/b',
    'a//b',
    'a/',
    '/a',
    'a/b-',
    'a/.b',
    'a b',
    `a/${'x'.repeat(260)}`,
  ]) {
    assert.throws(() => validateRepositoryName(bad), { code: 'NAME_INVALID' }, bad);
  }
  assert.equal(namespaceOf('org/team/app'), 'org');
});

test('references are tags or digests, each validated', () => {
  assert.deepEqual(parseReference('v1.0_rc-1'), { kind: 'tag', tag: 'v1.0_rc-1' });
  assert.deepEqual(parseReference(`sha256:${'a'.repeat(64)}`), {
    kind: 'digest',
    digest: `sha256:${'a'.repeat(64)}`,
  });
  assert.throws(() => parseReference('sha256:baddigeststring'), { code: 'DIGEST_INVALID' });
  assert.throws(() => parseReference('-bad'), { code: 'TAG_INVALID' });
  assert.throws(() => parseReference('x'.repeat(129)), { code: 'TAG_INVALID' });
  assert.throws(() => parseReference('.INVALID_MANIFEST_NAME'), { code: 'TAG_INVALID' });
});
