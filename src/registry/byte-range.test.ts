import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeNotSatisfiable } from '../platform/errors.js';
import { resolveRange } from './blobs.service.js';

test('byte ranges resolve as the conformance suite expects for a 2048-byte blob', () => {
  assert.deepEqual(resolveRange({ start: 500, end: 1499 }, 2048), { start: 500, end: 1499 });
  assert.deepEqual(resolveRange({ start: 500 }, 2048), { start: 500, end: 2047 });
  assert.deepEqual(resolveRange({ suffix: 500 }, 2048), { start: 1548, end: 2047 });
  assert.deepEqual(resolveRange({ start: 2000, end: 5000 }, 2048), { start: 2000, end: 2047 });
  assert.deepEqual(resolveRange({ suffix: 5000 }, 2048), { start: 0, end: 2047 });
  assert.throws(() => resolveRange({ start: 500, end: 0 }, 2048), RangeNotSatisfiable);
  assert.throws(() => resolveRange({ start: 5000, end: 10000 }, 2048), RangeNotSatisfiable);
  assert.throws(() => resolveRange({ start: 0 }, 0), RangeNotSatisfiable);
});
