import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWith, spawnServer, type ServerProcess } from '../support/process.js';
import { until as pollUntil } from '../support/runs.js';

const password = 'crash-admin-password-1';

/** Signs in as `admin` through the Quay API and calls the native API with the session, as a browser does. */
async function signIn(url: string) {
  const res = await fetch(`${url}/api/v1/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const csrf = res.headers.get('x-next-csrf-token') ?? '';
  return async (method: string, path: string, body?: unknown) => {
    const answer = await fetch(`${url}/api/slipway/v1${path}`, {
      method,
      headers: {
        cookie,
        'x-csrf-token': csrf,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await answer.text();
    return { status: answer.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** Waits up to a minute: steps start and end around two server starts on a shared machine. */
const until = <T>(what: string, probe: () => Promise<T | undefined>) => pollUntil(what, probe, 60_000);

test(
  'a server killed during runs restarts, and each run ends visibly: in error with the reason, or retried',
  { timeout: 180_000 },
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'slipway-run-crash-'));
    // A sleep of a unique length: the step processes are found by their command line.
    const marker = `sleep 299.${randomBytes(4).readUInt32BE()}`;
    const flag = join(dataDir, 'first-attempt-ran');
    let server: ServerProcess | undefined;
    t.after(async () => {
      await server?.stop('SIGKILL');
      // In case the assertion below failed: leave no sleep behind.
      for (const pid of await processesWith(marker)) process.kill(pid, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    });
    const env = { SLIPWAY_ADMIN_PASSWORD: password, SLIPWAY_RUNS_LEASE_SECONDS: '2' };

    server = await spawnServer({ dataDir, env });
    let api = await signIn(server.url);
    const hang = `name: hang\nclone: false\njobs:\n  hang:\n    steps:\n      - script: echo started; ${marker}\n`;
    const retried =
      `name: retried\nclone: false\njobs:\n  work:\n    retries: 1\n    steps:\n` +
      `      - script: if [ -e ${flag} ]; then echo second attempt; else touch ${flag}; echo first; ${marker}; fi\n`;
    for (const source of [hang, retried]) {
      assert.equal((await api('POST', '/namespaces/admin/pipelines', { source })).status, 201);
    }
    const hangRun = await api('POST', '/namespaces/admin/pipelines/hang/runs', {});
    const retriedRun = await api('POST', '/namespaces/admin/pipelines/retried/runs', {});
    assert.equal(hangRun.status, 201, JSON.stringify(hangRun.body));
    assert.equal(retriedRun.status, 201, JSON.stringify(retriedRun.body));
    for (const name of ['hang', 'retried']) {
      await until(`${name} to run its step`, async () => {
        const r = await api('GET', `/namespaces/admin/pipelines/${name}/runs/1`);
        return r.body.jobs[0].steps[0].state === 'running' ? true : undefined;
      });
    }
    await until('the retried job to start its first attempt', async () =>
      readFile(flag).then(
        () => true,
        () => undefined,
      ),
    );

    assert.ok((await processesWith(marker)).length >= 2, 'both steps sleep');
    await server.stop('SIGKILL');
    server = await spawnServer({ dataDir, env });
    api = await signIn(server.url);

    const ended = async (name: string) =>
      until(`${name} to end after the restart`, async () => {
        const r = await api('GET', `/namespaces/admin/pipelines/${name}/runs/1`);
        return ['success', 'failed', 'error', 'cancelled', 'timed_out'].includes(r.body.state)
          ? r.body
          : undefined;
      });
    const lost = await ended('hang');
    // The new server stopped what the dead one left running of both jobs.
    assert.deepEqual(await processesWith(marker), [], 'no step process of the dead server is left');
    assert.equal(lost.state, 'error');
    assert.equal(lost.jobs[0].reason, 'server restarted during the run');
    assert.equal(lost.jobs[0].steps[0].state, 'error');
    assert.ok(lost.finishedAt, 'the run has an end time');

    const again = await ended('retried');
    assert.equal(again.state, 'success', JSON.stringify(again.jobs));
    assert.equal(again.jobs[0].attempt, 2);
    assert.match(again.jobs[0].reason, /server restarted during the run; retrying \(attempt 2 of 2\)/);
    const second = again.jobs[0].steps[0];
    const log = await api('GET', `/logs/${second.id}?format=json`);
    assert.deepEqual(
      log.body.lines.map((l: { text: string }) => l.text),
      ['second attempt'],
    );
  },
);
