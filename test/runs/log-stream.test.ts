import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { WebSocket } from 'ws';
import { logStreamRoutes } from '../../src/api/runs/log-stream.routes.js';
import { NotFound } from '../../src/platform/errors.js';
import type { ExecutionResult } from '../../src/runs/executor.js';
import { LocalExecutor } from '../../src/runs/executors/local.executor.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { userWithToken } from '../support/quay-client.js';

const CAP = 2048;
let server: TestServer;
let adminToken: string;
let userToken: string;
let workspace: string;

before(async () => {
  server = await startTestServer({ config: { logMaxBytesPerStep: CAP } });
  adminToken = (await userWithToken(server, 'admin')).token;
  userToken = (await userWithToken(server, 'alice')).token;
  workspace = await mkdtemp(join(tmpdir(), 'slipway-log-stream-'));
});
after(async () => {
  await server.close();
  await rm(workspace, { recursive: true, force: true });
});

const logsUrl = (stepId: string, tail = '') => `${server.url}/api/slipway/v1/logs/${stepId}${tail}`;
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** Runs a script with the local executor, its output going to the server's log store as the engine does. */
async function runStep(stepId: string, script: string[]): Promise<ExecutionResult> {
  const executor = new LocalExecutor({ graceMs: 500 });
  const logs = server.services.stepLogs;
  const result = await executor.execute(
    {
      runId: 'run',
      jobId: 'job',
      stepId,
      workspace,
      commands: { script },
      env: {},
      timeoutMs: 30_000,
      signal: new AbortController().signal,
    },
    (chunk) => logs.append(stepId, chunk),
  );
  await logs.close(stepId);
  return result;
}

interface Received {
  /** Epoch ms when the client had it. */
  receivedAt: number;
  event: string;
  id?: string;
  data: any;
}

/** Reads a Server-Sent Events response as it arrives, until it ends. */
async function readSse(response: Response, received: Received[]): Promise<void> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = { event: 'message', id: undefined as string | undefined, data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [name, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (name === 'event') fields.event = value;
        if (name === 'id') fields.id = value;
        if (name === 'data') fields.data += value;
      }
      if (fields.data !== '') {
        received.push({
          receivedAt: Date.now(),
          event: fields.event,
          id: fields.id,
          data: JSON.parse(fields.data),
        });
      }
    }
  }
}

/** Collects the messages of a WebSocket until it closes. */
function readWs(socket: WebSocket, received: Received[]): Promise<{ code: number }> {
  socket.on('message', (data) => {
    const message = JSON.parse(String(data));
    received.push({ receivedAt: Date.now(), event: message.type, data: message });
  });
  return new Promise((resolve) => socket.on('close', (code) => resolve({ code })));
}

function openWs(url: string, headers: Record<string, string>): Promise<WebSocket> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The HTTP status a WebSocket upgrade was refused with. */
function refusedWs(url: string, headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), { headers });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => reject(new Error('the upgrade was accepted')));
    socket.once('error', () => {});
  });
}

test('a step log is seen live over SSE and WebSocket, each line before the step ends, then the end', async () => {
  const stepId = randomUUID();
  const viaSse: Received[] = [];
  const viaWs: Received[] = [];
  const response = await fetch(logsUrl(stepId, '/stream'), { headers: auth(adminToken) });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
  const sseDone = readSse(response, viaSse);
  const socket = await openWs(logsUrl(stepId, '/ws'), auth(adminToken));
  const wsDone = readWs(socket, viaWs);

  const result = await runStep(stepId, ['for i in 1 2 3; do echo $i; sleep 0.2; done']);
  assert.equal(result.outcome, 'success');
  await sseDone;
  const { code } = await wsDone;
  assert.equal(code, 1000);

  for (const [via, received] of [
    ['SSE', viaSse],
    ['WebSocket', viaWs],
  ] as const) {
    const lines = received.filter((r) => r.event === (via === 'SSE' ? 'message' : 'line'));
    assert.deepEqual(
      lines.map((r) => [r.data.n, r.data.text, r.data.stream]),
      [
        [0, '1', 'stdout'],
        [1, '2', 'stdout'],
        [2, '3', 'stdout'],
      ],
      via,
    );
    if (via === 'SSE')
      assert.deepEqual(
        lines.map((r) => r.id),
        ['0', '1', '2'],
      );
    for (const line of lines) {
      assert.ok(
        line.data.at >= result.startedAt && line.data.at <= result.finishedAt,
        `${via}: time of the line`,
      );
      assert.ok(
        line.receivedAt < result.finishedAt,
        `${via}: line ${line.data.text} arrived before the step ended`,
      );
    }
    // Live: the first line reached the client before the step even printed the third.
    assert.ok(lines[0]!.receivedAt < lines[2]!.data.at, `${via}: the first line arrived while the step ran`);
    assert.ok(
      lines[2]!.data.at - lines[0]!.data.at >= 300,
      `${via}: the lines carry the times they were printed`,
    );
    const end = received.at(-1)!;
    assert.equal(end.event, 'end');
    assert.deepEqual(
      { next: end.data.next, total: end.data.total, droppedBytes: end.data.droppedBytes },
      { next: 3, total: 3, droppedBytes: 0 },
    );
  }
});

test('after the run: the whole log or a range, as text or JSON; SSE resumes after Last-Event-ID', async () => {
  const stepId = randomUUID();
  // Pauses between the streams: their pipes are read independently.
  await runStep(stepId, ['echo one', 'sleep 0.1', 'echo two >&2', 'sleep 0.1', 'echo three']);

  const text = await fetch(logsUrl(stepId), { headers: auth(adminToken) });
  assert.equal(text.status, 200);
  assert.match(text.headers.get('content-type')!, /^text\/plain/);
  assert.equal(await text.text(), 'one\ntwo\nthree\n');
  assert.equal(text.headers.get('slipway-log-next'), '3');
  assert.equal(text.headers.get('slipway-log-total'), '3');
  assert.equal(text.headers.get('slipway-log-closed'), 'true');

  const stamped = await fetch(logsUrl(stepId, '?timestamps=true&from=2'), { headers: auth(adminToken) });
  assert.match(await stamped.text(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z three\n$/);

  const range = await fetch(logsUrl(stepId, '?from=1&limit=1'), {
    headers: { ...auth(adminToken), accept: 'application/json' },
  });
  const page = (await range.json()) as any;
  assert.deepEqual(
    page.lines.map((l: any) => [l.n, l.stream, l.text, l.eol]),
    [[1, 'stderr', 'two', true]],
  );
  assert.equal(typeof page.lines[0].at, 'number');
  assert.deepEqual(
    {
      stepId: page.stepId,
      next: page.next,
      total: page.total,
      closed: page.closed,
      dropped: page.droppedBytes,
    },
    { stepId, next: 2, total: 3, closed: true, dropped: 0 },
  );
  const json = (await (
    await fetch(logsUrl(stepId, '?format=json'), { headers: auth(adminToken) })
  ).json()) as any;
  assert.deepEqual(
    json.lines.map((l: any) => l.text),
    ['one', 'two', 'three'],
  );

  const resumed: Received[] = [];
  const response = await fetch(logsUrl(stepId, '/stream'), {
    headers: { ...auth(adminToken), 'last-event-id': '0' },
  });
  await readSse(response, resumed);
  assert.deepEqual(
    resumed.map((r) => [r.event, r.id, r.data.text ?? r.data.next]),
    [
      ['message', '1', 'two'],
      ['message', '2', 'three'],
      ['end', undefined, 3],
    ],
  );
  const bad = await fetch(logsUrl(stepId, '/stream'), {
    headers: { ...auth(adminToken), 'last-event-id': 'x' },
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as any).error.code, 'INVALID_LAST_EVENT_ID');

  const fromWs: Received[] = [];
  await readWs(await openWs(logsUrl(stepId, '/ws?from=2'), auth(adminToken)), fromWs);
  assert.deepEqual(
    fromWs.map((r) => [r.event, r.data.text ?? r.data.next]),
    [
      ['line', 'three'],
      ['end', 3],
    ],
  );
});

test('output past the size cap is dropped after one marker line, and counted', async () => {
  const stepId = randomUUID();
  // 300 lines of 10 bytes: 3000 bytes, past the cap of 2048.
  const result = await runStep(stepId, ['yes abcdefghi | head -n 300', 'echo after the cap']);
  assert.equal(result.outcome, 'success');
  const page = (await (
    await fetch(logsUrl(stepId, '?format=json'), { headers: auth(adminToken) })
  ).json()) as any;
  const marker = page.lines.at(-1);
  assert.equal(marker.stream, 'system');
  assert.match(marker.text, /truncated/);
  assert.equal(page.lines.filter((l: any) => l.stream === 'system').length, 1);
  const kept = page.lines
    .filter((l: any) => l.stream === 'stdout')
    .reduce((n: number, l: any) => n + Buffer.byteLength(l.text) + (l.eol ? 1 : 0), 0);
  assert.equal(kept, CAP);
  assert.equal(page.droppedBytes, 3000 + 'after the cap\n'.length - CAP);
  assert.ok(!page.lines.some((l: any) => l.text === 'after the cap'));
});

test('unauthenticated callers get 401, others need the policy to allow them', async () => {
  const stepId = randomUUID();
  await runStep(stepId, ['echo secret']);
  for (const tail of ['', '/stream']) {
    const anonymous = await fetch(logsUrl(stepId, tail));
    assert.equal(anonymous.status, 401, `GET ${tail}`);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await anonymous.json()) as any).error.code, 'UNAUTHENTICATED');
    const badToken = await fetch(logsUrl(stepId, tail), { headers: auth('not-a-token') });
    assert.equal(badToken.status, 401);
    await badToken.body?.cancel();
    // A log of no known step: only superusers may ask, others learn it does not exist.
    const user = await fetch(logsUrl(stepId, tail), { headers: auth(userToken) });
    assert.equal(user.status, 404);
    await user.body?.cancel();
  }
  assert.equal(await refusedWs(logsUrl(stepId, '/ws'), {}), 401);
  assert.equal(await refusedWs(logsUrl(stepId, '/ws'), auth('not-a-token')), 401);
});

test("a step's log is readable by whoever may read its pipeline's namespace, others get 403", async () => {
  const runs = server.services.runs;
  const pipeline = await runs.createPipeline({
    namespace: 'alice',
    name: 'logs-access',
    source: 'clone: false\njobs:\n  test:\n    steps:\n      - script: echo hi\n',
  });
  const run = await runs.startRun(pipeline.id, {
    kind: 'manual',
    context: { event: 'manual', commit: 'a'.repeat(40), repoUrl: 'file:///nowhere', branch: 'main' },
  });
  const stepId = run.jobs[0]!.steps[0]!.id;
  await runStep(stepId, ['echo from alice']);
  const owner = await fetch(logsUrl(stepId), { headers: auth(userToken) });
  assert.equal(owner.status, 200);
  assert.match(await owner.text(), /from alice/);
  const bobToken = (await userWithToken(server, 'bob')).token;
  const other = await fetch(logsUrl(stepId), { headers: auth(bobToken) });
  assert.equal(other.status, 403);
  await other.body?.cancel();
  assert.equal(await refusedWs(logsUrl(stepId, '/ws'), auth(bobToken)), 403);
});

test('the routes ask the injected canRead, and closing the server ends open streams', async () => {
  const known = randomUUID();
  const asked: Array<[string, string]> = [];
  const app = Fastify();
  await app.register(import('@fastify/websocket'));
  await app.register(logStreamRoutes, {
    logs: server.services.stepLogs,
    credentials: server.services.credentials,
    canRead: async (stepId, subject) => {
      asked.push([stepId, subject.kind === 'anonymous' ? '' : subject.name]);
      if (stepId !== known) throw new NotFound('STEP_NOT_FOUND', `no step ${stepId}`);
      return true;
    },
    prefix: '/api/slipway/v1',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/slipway/v1`;

  const unknown = await fetch(`${base}/logs/${randomUUID()}`, { headers: auth(userToken) });
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as any).error.code, 'STEP_NOT_FOUND');

  // A stream of a step still running, open while the server closes.
  server.services.stepLogs.append(known, {
    stream: 'stdout',
    data: Buffer.from('running\n'),
    at: Date.now(),
  });
  const received: Received[] = [];
  const response = await fetch(`${base}/logs/${known}/stream`, { headers: auth(userToken) });
  assert.equal(response.status, 200);
  const streaming = readSse(response, received);
  const socket = await openWs(`${base}/logs/${known}/ws`, auth(userToken));
  const socketClosed = readWs(socket, []);
  while (received.length === 0) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(asked.at(-1), [known, 'alice']);

  const started = Date.now();
  await app.close();
  assert.ok(Date.now() - started < 1500, 'closing did not wait for the open streams');
  await streaming;
  // Closed by the server (1001 going away, or 1005 from @fastify/websocket's own close of every client).
  assert.ok([1001, 1005].includes((await socketClosed).code));
  assert.deepEqual(
    received.map((r) => r.data.text),
    ['running'],
  );
  await server.services.stepLogs.close(known);
});
