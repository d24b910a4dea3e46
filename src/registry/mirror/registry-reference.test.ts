import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRegistryAllowed, parseRegistryReference } from './registry-reference.js';

test('registry references parse as Quay validates them', () => {
  assert.deepEqual(parseRegistryReference('quay.io/ns/repo', 'f', true), {
    authority: 'quay.io',
    hostname: 'quay.io',
    path: 'ns/repo',
  });
  assert.deepEqual(parseRegistryReference('127.0.0.1:5000', 'f', false), {
    authority: '127.0.0.1:5000',
    hostname: '127.0.0.1',
    path: '',
  });
  assert.equal(parseRegistryReference('[::1]:5000/a', 'f', true).hostname, '::1');
  for (const [value, message] of [
    ['', /is required/],
    ['quay.io', /must include a repository path/],
    ['https://quay.io/a', /must not include a URL scheme/],
    ['quay.io/a b', /whitespace/],
    ['user@quay.io/a', /invalid character/],
    ['quay.io:0/a', /invalid registry port/],
    ['quay.io:99999/a', /invalid registry port/],
    ['-bad-.io/a', /valid registry hostname/],
    ['quay.io/UPPER', /invalid repository path/],
  ] as const)
    assert.throws(() => parseRegistryReference(value, 'f', true), message, value);
});

test('literal internal addresses are refused unless the policy allows them', () => {
  const denyAll = { allowsAddress: () => false };
  const allowAll = { allowsAddress: () => true };
  for (const value of ['10.0.0.1/a', 'localhost:5000/a', '[::1]/a'])
    assert.throws(
      () => assertRegistryAllowed(parseRegistryReference(value, 'f', true), denyAll, 'f'),
      /not allowed/,
    );
  assert.doesNotThrow(() =>
    assertRegistryAllowed(parseRegistryReference('10.0.0.1/a', 'f', true), allowAll, 'f'),
  );
  // Names are judged when connecting, after resolution.
  assert.doesNotThrow(() =>
    assertRegistryAllowed(parseRegistryReference('quay.io/a', 'f', true), denyAll, 'f'),
  );
});
