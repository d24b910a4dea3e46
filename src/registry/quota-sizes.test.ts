import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Invalid } from '../platform/errors.js';
import { formatByteSize, parseByteSize } from './quota-sizes.js';

test('sizes parse as bitmath reads them: binary with i, SI without, plain bytes bare', () => {
  assert.equal(parseByteSize('10 GiB'), 10 * 1024 ** 3);
  assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3);
  assert.equal(parseByteSize('3Mi'), 3 * 1024 ** 2);
  assert.equal(parseByteSize('5 MB'), 5_000_000);
  assert.equal(parseByteSize('2K'), 2000);
  assert.equal(parseByteSize('1024'), 1024);
  assert.equal(parseByteSize('7 B'), 7);
  for (const bad of ['', 'ten GiB', '1.5 GiB', '10 gib', '10  GiB', '-1', '99999999 YiB']) {
    assert.throws(() => parseByteSize(bad), Invalid, bad);
  }
});

test('sizes format with the best binary prefix and one decimal', () => {
  assert.equal(formatByteSize(10 * 1024 ** 3), '10.0 GiB');
  assert.equal(formatByteSize(1536), '1.5 KiB');
  assert.equal(formatByteSize(512), '512.0 Byte');
  assert.equal(formatByteSize(0), '0.0 Byte');
});
