import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentRange, parseRangeHeader } from './http-ranges.js';

test('Range headers: served forms parse, others mean the whole blob', () => {
  assert.deepEqual(parseRangeHeader('bytes=1-2'), { start: 1, end: 2 });
  assert.deepEqual(parseRangeHeader('bytes=5-'), { start: 5, end: undefined });
  assert.deepEqual(parseRangeHeader('bytes=-7'), { suffix: 7 });
  for (const whole of [undefined, '', 'bytes=-', 'bytes=1-2,4-5', 'items=1-2'])
    assert.equal(parseRangeHeader(whole), undefined);
});

test('Content-Range of upload chunks', () => {
  assert.deepEqual(parseContentRange('0-21'), { start: 0, end: 21 });
  assert.deepEqual(parseContentRange('bytes 22-41/42'), { start: 22, end: 41 });
  assert.equal(parseContentRange(undefined), undefined);
  for (const bad of ['', 'abc', '1-', '-5', '0-1-2'])
    assert.throws(() => parseContentRange(bad), { code: 'BLOB_UPLOAD_INVALID' }, bad);
});
