import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { LogChunk } from '../../src/runs/executor.js';
import type { LogLine, ReadableLogStore } from '../../src/runs/logs/readable-log-store.js';

/** The limits every store of the suite is made with. */
export interface LogStoreLimits {
  maxBytesPerStep: number;
  maxLineBytes: number;
  /** How long a line may wait for its newline before it is stored without one. */
  partialFlushMs: number;
}

export interface LogStoreSubject {
  /** The store a step's writer uses. */
  store: ReadableLogStore;
  /**
   * Another view of the same storage, as a second server process (a replica) has it: what it
   * reads and follows was written by `store`. May be `store` itself for a store with no sharing.
   */
  observer: ReadableLogStore;
  cleanup(): Promise<void>;
}

export const CONTRACT_LIMITS: LogStoreLimits = {
  maxBytesPerStep: 32768,
  maxLineBytes: 100,
  partialFlushMs: 150,
};

/** How long a follower in another process may take to see a write (a poll interval and some). */
const OBSERVER_LATENCY_MS = 2000;

const chunk = (data: string | Buffer, at: number, stream: LogChunk['stream'] = 'stdout'): LogChunk => ({
  stream,
  data: typeof data === 'string' ? Buffer.from(data) : data,
  at,
});

const texts = (lines: readonly LogLine[]) => lines.map((l) => l.data.toString('utf8'));

/** Waits until `predicate` holds, polling; fails after `ms`. */
async function eventually(predicate: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Consumes a follower in the background, keeping what it yielded and whether it ended. */
function consume(lines: AsyncIterable<LogLine>) {
  const seen: LogLine[] = [];
  const state = { ended: false, error: undefined as unknown };
  const done = (async () => {
    try {
      for await (const line of lines) seen.push(line);
    } catch (err) {
      state.error = err;
    } finally {
      state.ended = true;
    }
  })();
  return { seen, state, done };
}

/**
 * The LogStore contract (src/runs/logs/readable-log-store.ts). `make` builds a fresh, empty
 * storage with the given limits and two views of it.
 */
export function logStoreContract(name: string, make: (limits: LogStoreLimits) => Promise<LogStoreSubject>) {
  const withStore = (title: string, body: (s: LogStoreSubject) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const subject = await make(CONTRACT_LIMITS);
      try {
        await body(subject);
      } finally {
        await subject.cleanup();
      }
    });

  withStore('stores lines of both streams with the time of their first byte', async ({ store, observer }) => {
    const step = randomUUID();
    store.append(step, chunk('hel', 1000));
    store.append(step, chunk('lo\nwor', 1001));
    store.append(step, chunk('oops\n', 1002, 'stderr'));
    store.append(step, chunk('ld\n\nlast', 1003));
    await store.close(step);
    for (const view of [store, observer]) {
      const page = await view.read(step);
      assert.deepEqual(
        page.lines.map((l) => [l.number, l.stream, l.at, l.data.toString(), l.eol]),
        [
          [0, 'stdout', 1000, 'hello', true],
          [1, 'stderr', 1002, 'oops', true],
          [2, 'stdout', 1001, 'world', true],
          [3, 'stdout', 1003, '', true],
          [4, 'stdout', 1003, 'last', false],
        ],
      );
      assert.deepEqual(
        { next: page.next, total: page.total, closed: page.closed, dropped: page.droppedBytes },
        { next: 5, total: 5, closed: true, dropped: 0 },
      );
    }
  });

  withStore('keeps output byte for byte, text or not', async ({ store, observer }) => {
    const step = randomUUID();
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x22, 0x5c, 0x0d]);
    store.append(step, chunk(Buffer.concat([Buffer.from('é "quoted" \\ tab\t\n'), binary]), 5));
    await store.close(step);
    const { lines } = await observer.read(step);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.data.toString('utf8'), 'é "quoted" \\ tab\t');
    assert.deepEqual(lines[1]!.data, binary);
    assert.equal(lines[1]!.eol, false);
  });

  withStore('reads by range', async ({ store, observer }) => {
    const step = randomUUID();
    for (let i = 0; i < 10; i++) store.append(step, chunk(`line ${i}\n`, 100 + i));
    await store.close(step);
    for (const view of [store, observer]) {
      const page = await view.read(step, { from: 3, limit: 4 });
      assert.deepEqual(texts(page.lines), ['line 3', 'line 4', 'line 5', 'line 6']);
      assert.deepEqual(
        page.lines.map((l) => l.number),
        [3, 4, 5, 6],
      );
      assert.equal(page.next, 7);
      assert.equal(page.total, 10);
      const rest = await view.read(step, { from: page.next });
      assert.deepEqual(texts(rest.lines), ['line 7', 'line 8', 'line 9']);
      assert.equal(rest.next, 10);
      const beyond = await view.read(step, { from: 20, limit: 5 });
      assert.deepEqual(
        { lines: beyond.lines.length, next: beyond.next, total: beyond.total, closed: beyond.closed },
        { lines: 0, next: 20, total: 10, closed: true },
      );
      assert.equal((await view.read(step, { limit: 0 })).lines.length, 0);
    }
  });

  withStore('reads a log while it is written', async ({ store, observer }) => {
    const step = randomUUID();
    store.append(step, chunk('one\ntw', 1));
    await eventually(async () => (await observer.read(step)).total === 1, OBSERVER_LATENCY_MS, 'line one');
    const page = await observer.read(step);
    assert.deepEqual(texts(page.lines), ['one']);
    assert.equal(page.closed, false);
    await store.close(step);
    assert.deepEqual(texts((await observer.read(step)).lines), ['one', 'tw']);
  });

  withStore('a log nobody wrote is empty and open; closing it makes it closed and empty', async (s) => {
    const step = randomUUID();
    const before = await s.observer.read(step);
    assert.deepEqual(
      { lines: before.lines.length, next: before.next, total: before.total, closed: before.closed },
      { lines: 0, next: 0, total: 0, closed: false },
    );
    await s.store.close(step);
    const after = await s.observer.read(step);
    assert.deepEqual({ lines: after.lines.length, closed: after.closed }, { lines: 0, closed: true });
  });

  withStore('close is idempotent; appending after it is refused', async ({ store }) => {
    const step = randomUUID();
    store.append(step, chunk('a\n', 1));
    await store.close(step);
    await store.close(step);
    assert.throws(() => store.append(step, chunk('b\n', 2)), /closed/);
    assert.deepEqual(texts((await store.read(step)).lines), ['a']);
  });

  withStore('refuses step ids that are not names', async ({ store }) => {
    for (const bad of ['', '../escape', 'a/b', '.hidden', 'x'.repeat(300)]) {
      assert.throws(() => store.append(bad, chunk('a\n', 1)), /invalid step id/);
      await assert.rejects(store.read(bad), /invalid step id/);
    }
  });

  withStore('keeps output up to the size cap, marks the cut once and counts what it dropped', async (s) => {
    const { maxBytesPerStep } = CONTRACT_LIMITS;
    const exact = randomUUID();
    const line = 'x'.repeat(63) + '\n';
    for (let i = 0; i < maxBytesPerStep / line.length; i++) s.store.append(exact, chunk(line, i));
    await s.store.close(exact);
    const full = await s.observer.read(exact);
    assert.equal(full.total, maxBytesPerStep / line.length, 'output of exactly the cap is kept whole');
    assert.ok(full.lines.every((l) => l.stream === 'stdout'));
    assert.equal(full.droppedBytes, 0);

    const over = randomUUID();
    for (let i = 0; i < maxBytesPerStep / line.length; i++) s.store.append(over, chunk(line, i));
    s.store.append(over, chunk('tail that does not fit\n', 500, 'stderr'));
    s.store.append(over, chunk('more\n', 501));
    const live = await (async () => {
      await eventually(
        async () => (await s.store.read(over)).lines.some((l) => l.stream === 'system'),
        OBSERVER_LATENCY_MS,
        'the truncation marker',
      );
      return s.store.read(over);
    })();
    assert.equal(live.droppedBytes, 'tail that does not fit\n'.length + 'more\n'.length);
    await s.store.close(over);
    const page = await s.observer.read(over);
    const markers = page.lines.filter((l) => l.stream === 'system');
    assert.equal(markers.length, 1);
    assert.match(markers[0]!.data.toString(), /truncated/);
    assert.equal(page.lines.at(-1), markers[0], 'the marker is the last line');
    assert.equal(page.droppedBytes, 'tail that does not fit\n'.length + 'more\n'.length);
    const kept = page.lines
      .filter((l) => l.stream !== 'system')
      .reduce((n, l) => n + l.data.length + (l.eol ? 1 : 0), 0);
    assert.equal(kept, maxBytesPerStep);
  });

  withStore('a chunk that crosses the cap keeps its first bytes', async ({ store, observer }) => {
    const step = randomUUID();
    const { maxBytesPerStep } = CONTRACT_LIMITS;
    store.append(step, chunk('a'.repeat(maxBytesPerStep - 3) + '\nbcdef\n', 1));
    await store.close(step);
    const page = await observer.read(step);
    const stdout = page.lines.filter((l) => l.stream === 'stdout');
    assert.equal(stdout.at(-1)!.data.toString(), 'bc');
    assert.equal(stdout.at(-1)!.eol, false);
    assert.equal(page.droppedBytes, 4);
  });

  withStore('splits lines longer than the maximum', async ({ store, observer }) => {
    const step = randomUUID();
    const { maxLineBytes } = CONTRACT_LIMITS;
    const long = 'y'.repeat(maxLineBytes * 2 + 7);
    store.append(step, chunk(long.slice(0, 150), 1));
    store.append(step, chunk(long.slice(150) + '\n' + 'z'.repeat(maxLineBytes) + '\n', 2));
    await store.close(step);
    const { lines } = await observer.read(step);
    assert.deepEqual(
      lines.map((l) => [l.data.length, l.eol, l.at]),
      [
        [maxLineBytes, false, 1],
        [maxLineBytes, false, 1],
        [7, true, 1],
        [maxLineBytes, true, 2],
      ],
    );
    assert.equal(Buffer.concat(lines.slice(0, 3).map((l) => l.data)).toString(), long);
  });

  withStore('stores a line that waits for its newline after the idle limit', async ({ store, observer }) => {
    const step = randomUUID();
    store.append(step, chunk('downloading...', 1));
    await sleep(CONTRACT_LIMITS.partialFlushMs / 3);
    assert.equal((await store.read(step)).total, 0, 'not before the idle limit');
    await eventually(
      async () => (await observer.read(step)).total === 1,
      OBSERVER_LATENCY_MS,
      'the partial line',
    );
    store.append(step, chunk(' done\n', 2));
    await store.close(step);
    const { lines } = await observer.read(step);
    assert.deepEqual(
      lines.map((l) => [l.data.toString(), l.eol]),
      [
        ['downloading...', false],
        [' done', true],
      ],
    );
  });

  withStore('keeps the logs of steps written at the same time apart', async ({ store, observer }) => {
    const steps = [randomUUID(), randomUUID(), randomUUID()];
    for (let i = 0; i < 50; i++) {
      for (const [k, step] of steps.entries()) store.append(step, chunk(`${k}:${i}\n`, i));
    }
    await Promise.all(steps.map((step) => store.close(step)));
    for (const [k, step] of steps.entries()) {
      const { lines } = await observer.read(step);
      assert.deepEqual(
        texts(lines),
        Array.from({ length: 50 }, (_, i) => `${k}:${i}`),
      );
    }
  });

  for (const where of ['in the writer process', 'in another process'] as const) {
    const viewOf = (s: LogStoreSubject) => (where === 'in the writer process' ? s.store : s.observer);
    const latency = where === 'in the writer process' ? 500 : OBSERVER_LATENCY_MS;

    withStore(
      `a follower ${where} gets what is there, then each line as it is written, then the end`,
      async (s) => {
        const step = randomUUID();
        s.store.append(step, chunk('first\n', 1));
        await eventually(async () => (await viewOf(s).read(step)).total === 1, latency, 'the first line');
        const follower = consume(viewOf(s).follow(step));
        await eventually(() => follower.seen.length === 1, latency, 'the first line followed');
        for (const [i, text] of ['second', 'third'].entries()) {
          s.store.append(step, chunk(`${text}\n`, 2 + i));
          await eventually(() => follower.seen.length === 2 + i, latency, `line ${text} followed`);
        }
        assert.equal(follower.state.ended, false, 'the follower waits while the log is open');
        await s.store.close(step);
        await eventually(() => follower.state.ended, latency, 'the end');
        await follower.done;
        assert.equal(follower.state.error, undefined);
        assert.deepEqual(texts(follower.seen), ['first', 'second', 'third']);
        assert.deepEqual(
          follower.seen.map((l) => [l.number, l.at]),
          [
            [0, 1],
            [1, 2],
            [2, 3],
          ],
        );
      },
    );

    withStore(`a follower ${where} starts at a line and waits for a log not written yet`, async (s) => {
      const step = randomUUID();
      const follower = consume(viewOf(s).follow(step, { from: 2 }));
      await sleep(100);
      assert.equal(follower.state.ended, false);
      for (let i = 0; i < 4; i++) s.store.append(step, chunk(`${i}\n`, i));
      await eventually(() => follower.seen.length === 2, latency, 'lines 2 and 3');
      await s.store.close(step);
      await follower.done;
      assert.deepEqual(
        follower.seen.map((l) => [l.number, l.data.toString()]),
        [
          [2, '2'],
          [3, '3'],
        ],
      );
    });

    withStore(`a follower ${where} of a closed log gets it all and ends`, async (s) => {
      const step = randomUUID();
      for (let i = 0; i < 3000; i++) s.store.append(step, chunk(`${i}\n`, i));
      await s.store.close(step);
      const all: LogLine[] = [];
      for await (const line of viewOf(s).follow(step)) all.push(line);
      assert.equal(all.length, 3000);
      assert.ok(all.every((l, i) => l.number === i && l.data.toString() === String(i)));
      const tail: LogLine[] = [];
      for await (const line of viewOf(s).follow(step, { from: 2990 })) tail.push(line);
      assert.deepEqual(
        tail.map((l) => l.number),
        Array.from({ length: 10 }, (_, i) => 2990 + i),
      );
    });

    withStore(`a follower ${where} ends when its signal aborts`, async (s) => {
      const step = randomUUID();
      s.store.append(step, chunk('only\n', 1));
      const controller = new AbortController();
      const follower = consume(viewOf(s).follow(step, { signal: controller.signal }));
      await eventually(() => follower.seen.length === 1, latency, 'the line');
      controller.abort();
      await eventually(() => follower.state.ended, 500, 'the follower to end');
      assert.equal(follower.state.error, undefined);
      await s.store.close(step);
    });

    withStore(`a follower ${where} ends when the log is removed`, async (s) => {
      const step = randomUUID();
      s.store.append(step, chunk('gone soon\n', 1));
      await s.store.close(step);
      const open = randomUUID();
      s.store.append(open, chunk('still open\n', 1));
      const follower = consume(viewOf(s).follow(open));
      await eventually(() => follower.seen.length === 1, latency, 'the line');
      await s.store.remove(open);
      await eventually(() => follower.state.ended, latency + 500, 'the follower to end');
      await s.store.remove(step);
      assert.equal((await viewOf(s).read(step)).total, 0);
    });
  }

  withStore('another process can close a log its writer left open', async ({ store, observer }) => {
    const step = randomUUID();
    store.append(step, chunk('written before the writer died\n', 1));
    await eventually(async () => (await observer.read(step)).total === 1, OBSERVER_LATENCY_MS, 'the line');
    const follower = consume(store.follow(step));
    await eventually(() => follower.seen.length === 1, 500, 'the line followed');
    // The server that recovers the run closes the log of the step whose runner died.
    await observer.close(step);
    await eventually(() => follower.state.ended, OBSERVER_LATENCY_MS, 'the follower to end');
    const page = await store.read(step);
    assert.deepEqual({ total: page.total, closed: page.closed }, { total: 1, closed: true });
    // The writer that was thought dead closes too: nothing changes.
    await store.close(step);
    const again = await observer.read(step);
    assert.deepEqual({ total: again.total, closed: again.closed }, { total: 1, closed: true });
  });
}
