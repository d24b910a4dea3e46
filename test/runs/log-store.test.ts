import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsLogStore, DEFAULT_LOG_MAX_BYTES_PER_STEP } from '../../src/runs/logs/fs-log-store.js';
import { loadConfig } from '../../src/platform/config.js';
import { logStoreContract } from '../contracts/log-store.contract.js';

// The contract, on the file-system store. The observer is a second store on the same directory,
// as another replica has it: it shares no memory with the writer, so it sees writes by polling.
logStoreContract('fs log store', async (limits) => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-logs-'));
  return {
    store: new FsLogStore({ dir, ...limits, pollIntervalMs: 50 }),
    observer: new FsLogStore({ dir, ...limits, pollIntervalMs: 50 }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function withDir(body: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-logs-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fileOf = (dir: string, step: string) => join(dir, step.slice(0, 2), `${step}.ndjson`);

test('fs log store: one NDJSON file per step, text when UTF-8, base64 otherwise, then the end record', () =>
  withDir(async (dir) => {
    const store = new FsLogStore({ dir, clock: { now: () => 9000 } });
    const step = randomUUID();
    store.append(step, { stream: 'stdout', data: Buffer.from('héllo\n'), at: 1000 });
    store.append(step, { stream: 'stderr', data: Buffer.from([0xff, 0x0a]), at: 1001 });
    store.append(step, { stream: 'stdout', data: Buffer.from('no newline'), at: 1002 });
    await store.close(step);
    const records = (await readFile(fileOf(dir, step), 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      records.map((r) => JSON.parse(r)),
      [
        { at: 1000, stream: 'stdout', text: 'héllo' },
        { at: 1001, stream: 'stderr', base64: '/w==' },
        { at: 1002, stream: 'stdout', text: 'no newline', eol: false },
        { end: true, at: 9000, droppedBytes: 0 },
      ],
    );
  }));

test('fs log store: a writer after a crash cuts the torn record and goes on', () =>
  withDir(async (dir) => {
    const step = randomUUID();
    // What a process killed in the middle of a write leaves.
    await mkdir(join(dir, step.slice(0, 2)));
    await writeFile(
      fileOf(dir, step),
      '{"at":1,"stream":"stdout","text":"before"}\n{"at":2,"stream":"stdout","te',
    );
    const reader = new FsLogStore({ dir });
    assert.equal((await reader.read(step)).total, 1, 'readers ignore the torn record');

    const writer = new FsLogStore({ dir });
    writer.append(step, { stream: 'stdout', data: Buffer.from('after\n'), at: 3 });
    await writer.close(step);
    const page = await reader.read(step);
    assert.deepEqual(
      page.lines.map((l) => l.data.toString()),
      ['before', 'after'],
    );
    assert.equal(page.closed, true);
  }));

test('fs log store: the size cap counts output an earlier writer kept', () =>
  withDir(async (dir) => {
    const step = randomUUID();
    await mkdir(join(dir, step.slice(0, 2)));
    await writeFile(
      fileOf(dir, step),
      JSON.stringify({ at: 1, stream: 'stdout', text: 'a'.repeat(1000) }) + '\n',
    );
    const writer = new FsLogStore({ dir, maxBytesPerStep: 1024 });
    writer.append(step, { stream: 'stdout', data: Buffer.from('b'.repeat(100) + '\n'), at: 2 });
    await writer.close(step);
    const page = await writer.read(step);
    assert.deepEqual(
      page.lines.map((l) => [l.stream, l.data.length]),
      [
        ['stdout', 1000],
        ['stdout', 23],
        ['system', page.lines[2]!.data.length],
      ],
    );
    assert.equal(page.droppedBytes, 101 - 23);
  }));

test('fs log store: pages through a long log from any line, also while it grows', () =>
  withDir(async (dir) => {
    const store = new FsLogStore({ dir });
    const reader = new FsLogStore({ dir });
    const step = randomUUID();
    for (let i = 0; i < 2500; i++)
      store.append(step, { stream: 'stdout', data: Buffer.from(`${i}\n`), at: i });
    while ((await reader.read(step, { limit: 0 })).total < 2500) await new Promise((r) => setTimeout(r, 5));
    for (let i = 2500; i < 5000; i++)
      store.append(step, { stream: 'stdout', data: Buffer.from(`${i}\n`), at: i });
    await store.close(step);
    for (const from of [0, 1023, 1024, 1025, 2047, 2500, 4095, 4999]) {
      const page = await reader.read(step, { from, limit: 3 });
      const expected = [from, from + 1, from + 2].filter((n) => n < 5000);
      assert.deepEqual(
        page.lines.map((l) => [l.number, l.data.toString()]),
        expected.map((n) => [n, String(n)]),
        `from ${from}`,
      );
      assert.equal(page.total, 5000);
    }
  }));

test('fs log store: shards files by the first characters of the step id', () =>
  withDir(async (dir) => {
    const store = new FsLogStore({ dir });
    await store.close('ab12-step');
    await store.close('cd34-step');
    assert.deepEqual((await readdir(dir)).sort(), ['ab', 'cd']);
  }));

test('fs log store: a failed write rejects close and is reported', () =>
  withDir(async (dir) => {
    const reported: string[] = [];
    // A file where the shard directory should be: the log cannot be created.
    await appendFile(join(dir, 'zz'), 'not a directory');
    const store = new FsLogStore({ dir, onError: (message) => reported.push(message) });
    store.append('zz-step', { stream: 'stdout', data: Buffer.from('lost\n'), at: 1 });
    await assert.rejects(store.close('zz-step'));
    assert.equal(reported.length, 1);
    assert.match(reported[0]!, /zz-step/);
  }));

test('the per-step cap is configured by logMaxBytesPerStep / SLIPWAY_LOG_MAX_BYTES, 16 MiB by default', () => {
  assert.equal(loadConfig([], {}).config.logMaxBytesPerStep, DEFAULT_LOG_MAX_BYTES_PER_STEP);
  assert.equal(DEFAULT_LOG_MAX_BYTES_PER_STEP, 16 * 1024 * 1024);
  assert.equal(loadConfig([], { SLIPWAY_LOG_MAX_BYTES: '65536' }).config.logMaxBytesPerStep, 65536);
  assert.equal(loadConfig(['--log-max-bytes', '4096']).config.logMaxBytesPerStep, 4096);
  assert.throws(() => loadConfig([], { SLIPWAY_LOG_MAX_BYTES: '10' }), /logMaxBytesPerStep/);
});
