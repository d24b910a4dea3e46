import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretBox } from './secrets.js';

test('sealed secrets open with the same key only and never contain the plaintext', () => {
  const box = SecretBox.fromPassphrase('one key');
  const sealed = box.seal('top secret');
  assert.ok(!sealed.includes('top secret'));
  assert.notEqual(box.seal('top secret'), sealed, 'a fresh IV every time');
  assert.equal(box.open(sealed), 'top secret');
  assert.throws(() => SecretBox.fromPassphrase('another key').open(sealed));
  assert.throws(() => box.open(sealed.slice(0, -2) + 'xx'));
});
