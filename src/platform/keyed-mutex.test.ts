import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedMutex } from './keyed-mutex.js';

test('work on one key runs one at a time, in order; other keys run alongside', async () => {
  const mutex = new KeyedMutex();
  const log: string[] = [];
  const step = (key: string, name: string, ms: number) =>
    mutex.run(key, async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
    });
  await Promise.all([step('a', 'a1', 20), step('a', 'a2', 1), step('b', 'b1', 5)]);
  assert.deepEqual(
    log.filter((l) => / a\d/.test(l)),
    ['start a1', 'end a1', 'start a2', 'end a2'],
  );
  assert.ok(log.indexOf('end b1') < log.indexOf('end a1'));
  await assert.rejects(
    mutex.run('a', async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await mutex.run('a', async () => 42), 42, 'a failure releases the key');
});
