/**
 * Step logs over HTTP, for people and for the faces that show them (Quay build logs, Rancher's
 * pipeline log socket, Zuul's console): part of Slipway's native API, under `/api/slipway/v1`.
 *
 * - `GET /logs/{stepId}`: the whole log, or a range with `from` (a line number, from 0) and
 *   `limit`; as text (one line of output per line, `timestamps=true` puts the ISO time before
 *   each) or, with `format=json` or `Accept: application/json`, as
 *   `{stepId, lines: [{n, at, stream, text, eol}], next, total, closed, droppedBytes}`. The text
 *   form has the same numbers in the headers `Slipway-Log-Next`, `-Total`, `-Closed` and
 *   `-Dropped-Bytes`.
 * - `GET /logs/{stepId}/stream`: Server-Sent Events. One event per line, `id` its number and
 *   `data` `{n, at, stream, text, eol}`, first the lines already stored (from `from`), then each
 *   one as it is written; when the log is closed, an `end` event `{next, total, droppedBytes}`
 *   and the response ends (a browser's EventSource should close itself on `end` rather than
 *   reconnect). A client that reconnects with `Last-Event-ID` resumes after that line. A comment
 *   line every 15 s keeps proxies from closing an idle stream.
 * - `GET /logs/{stepId}/ws`: a WebSocket sending the same line objects as JSON text messages,
 *   each with `type: "line"`, then `{type: "end", next, total, droppedBytes}`, and closing with
 *   code 1000. Resume with `from`.
 *
 * Authorization: the caller must be authenticated, as on the Quay API (`Authorization: Bearer`
 * with an OAuth token, or the web session cookie, which is what a browser's EventSource and
 * WebSocket can send), else 401 before anything is read or upgraded. Then `canRead(stepId,
 * subject)` decides: a step belongs to a run of a pipeline in a namespace, and the runs service
 * asks the policy whether the subject may read that pipeline's runs. It answers false (403) or
 * throws NotFound (404) for a step it does not know. Errors are `{error: {code, message}}`.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WebSocket } from 'ws';
import type { Subject } from '../../identity/index.js';
import { Denied, Invalid } from '../../platform/errors.js';
import type { LogLine, ReadableLogStore } from '../../runs/index.js';
import type { Services } from '../../services.js';
import { nativeApi } from './native-api.js';

export interface LogStreamDeps {
  logs: Pick<ReadableLogStore, 'read' | 'follow'>;
  credentials: Services['credentials'];
  /** May `subject` (authenticated) read the log of this step? Throws NotFound for an unknown step. */
  canRead: (stepId: string, subject: Subject) => Promise<boolean>;
  /** Between keep-alive comments on an idle event stream. Default 15 000 ms. */
  keepAliveMs?: number;
}

const StepParams = Type.Object({ stepId: Type.String({ minLength: 1, maxLength: 128 }) });
const From = Type.Integer({ minimum: 0, description: 'the first line, from 0' });
const ReadQuery = Type.Object({
  from: Type.Optional(From),
  limit: Type.Optional(Type.Integer({ minimum: 0, description: 'at most this many lines; default all' })),
  format: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('json')])),
  timestamps: Type.Optional(Type.Boolean({ description: 'text: the ISO time before each line' })),
});
const FollowQuery = Type.Object({ from: Type.Optional(From) });

/** A line as the native API shows it. */
export function lineView(line: LogLine) {
  return {
    n: line.number,
    at: line.at,
    stream: line.stream,
    text: line.data.toString('utf8'),
    eol: line.eol,
  };
}

export const logStreamRoutes: FastifyPluginAsyncTypebox<LogStreamDeps> = async (app, deps) => {
  const keepAliveMs = deps.keepAliveMs ?? 15_000;
  await nativeApi(app, deps);

  // Before any route reads a byte, and before a WebSocket is upgraded.
  app.addHook('preHandler', async (request) => {
    const { stepId } = request.params as { stepId: string };
    if (!(await deps.canRead(stepId, request.subject))) {
      throw new Denied('DENIED', `not allowed to read the log of step ${stepId}`);
    }
  });

  // Streams still open when the server closes end now, so that closing does not wait for them.
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const controller of open) controller.abort();
  });

  app.get(
    '/logs/:stepId',
    { schema: { params: StepParams, querystring: ReadQuery } },
    async (request, reply) => {
      const { stepId } = request.params;
      const { from, limit, timestamps } = request.query;
      const page = await deps.logs.read(stepId, { from, limit });
      const json =
        request.query.format === 'json' || (!request.query.format && wantsJson(request.headers.accept));
      if (json) {
        return {
          stepId,
          lines: page.lines.map(lineView),
          next: page.next,
          total: page.total,
          closed: page.closed,
          droppedBytes: page.droppedBytes,
        };
      }
      const text = page.lines
        .map((l) => `${timestamps ? `${new Date(l.at).toISOString()} ` : ''}${l.data.toString('utf8')}\n`)
        .join('');
      return reply
        .header('content-type', 'text/plain; charset=utf-8')
        .header('slipway-log-next', String(page.next))
        .header('slipway-log-total', String(page.total))
        .header('slipway-log-closed', String(page.closed))
        .header('slipway-log-dropped-bytes', String(page.droppedBytes))
        .send(text);
    },
  );

  app.get(
    '/logs/:stepId/stream',
    { schema: { params: StepParams, querystring: FollowQuery } },
    async (request, reply) => {
      const { stepId } = request.params;
      const from = resumeFrom(request.headers['last-event-id'], request.query.from);
      const controller = new AbortController();
      const { signal } = controller;
      open.add(controller);
      const res = reply.raw;
      res.on('close', () => controller.abort());
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        // Not reused after the stream: a server that is closing need not wait for it to go idle.
        connection: 'close',
      });
      res.flushHeaders();
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
      try {
        let next = from;
        for await (const line of deps.logs.follow(stepId, { from, signal })) {
          await send(res, `id: ${line.number}\ndata: ${JSON.stringify(lineView(line))}\n\n`, signal);
          next = line.number + 1;
        }
        if (!signal.aborted) {
          const { total, droppedBytes } = await deps.logs.read(stepId, { from: next, limit: 0 });
          await send(res, `event: end\ndata: ${JSON.stringify({ next, total, droppedBytes })}\n\n`, signal);
        }
      } catch (err) {
        request.log.error({ err, stepId }, 'failed to stream a step log');
      } finally {
        clearInterval(keepAlive);
        open.delete(controller);
        res.end();
      }
    },
  );

  app.get(
    '/logs/:stepId/ws',
    { websocket: true, schema: { params: StepParams, querystring: FollowQuery } },
    (socket, request) => {
      const { stepId } = request.params;
      const from = request.query.from ?? 0;
      const failed = (err: unknown) => request.log.error({ err, stepId }, 'failed to stream a step log');
      streamOverSocket(socket, open, failed, async (signal) => {
        let next = from;
        for await (const line of deps.logs.follow(stepId, { from, signal })) {
          await sendMessage(socket, JSON.stringify({ type: 'line', ...lineView(line) }));
          next = line.number + 1;
        }
        if (signal.aborted) return;
        const { total, droppedBytes } = await deps.logs.read(stepId, { from: next, limit: 0 });
        await sendMessage(socket, JSON.stringify({ type: 'end', next, total, droppedBytes }));
      });
    },
  );
};

function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && /\bapplication\/json\b/.test(accept) && !/\btext\/plain\b/.test(accept);
}

/** The first line to send: the one after `Last-Event-ID` when a client resumes, else `from`. */
function resumeFrom(lastEventId: string | string[] | undefined, from: number | undefined): number {
  if (lastEventId === undefined) return from ?? 0;
  const id = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (id === undefined || !/^\d{1,15}$/.test(id)) {
    throw new Invalid('INVALID_LAST_EVENT_ID', `Last-Event-ID must be a line number: ${JSON.stringify(id)}`);
  }
  return Number(id) + 1;
}

/** Writes to a response, waiting while the client is slower than the log (or until it is gone). */
async function send(res: ServerResponse, text: string, signal: AbortSignal): Promise<void> {
  if (signal.aborted || res.write(text)) return;
  await once(res, 'drain', { signal }).catch(() => {});
}

/**
 * Runs `stream`, which sends its messages to `socket`, then closes the socket: 1000 when it is done, 1001 when
 * the client left or the server closes (it aborts what is in `open`), 1011 after an error, told to `failed`.
 */
export function streamOverSocket(
  socket: WebSocket,
  open: Set<AbortController>,
  failed: (err: unknown) => void,
  stream: (signal: AbortSignal) => Promise<void>,
): void {
  const controller = new AbortController();
  const { signal } = controller;
  open.add(controller);
  socket.on('close', () => controller.abort());
  signal.addEventListener('abort', () => socket.close(1001, 'server closing'), { once: true });
  void stream(signal)
    .then(() => {
      if (!signal.aborted) socket.close(1000, 'log closed');
    })
    .catch((err: unknown) => {
      failed(err);
      socket.close(1011, 'internal error');
    })
    .finally(() => open.delete(controller));
}

/** Sends a message; waits for it to be written when much is still buffered for a slow client. */
export async function sendMessage(socket: WebSocket, text: string): Promise<void> {
  if (socket.readyState !== socket.OPEN) return;
  if (socket.bufferedAmount < 1024 * 1024) {
    socket.send(text);
    return;
  }
  await new Promise<void>((resolve) => socket.send(text, () => resolve()));
}
