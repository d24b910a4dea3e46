// Quay repository builds end to end, with real parts only: a Slipway server on SQLite with its scheduler,
// build contexts served as .tar.gz by a local HTTP server (reached through the outbound policy, allowed for
// 127.0.0.0/8), buildah building and pushing, a repository notification receiving build_success, and
// skopeo, the referrers API and buildah checking the result. Also: an uploaded Dockerfile (filedrop), a
// failing Dockerfile next to a good build, and a cancel that must kill the build's processes.
import assert from 'node:assert/strict';
import { readdir, readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { create as tarCreate } from 'tar';
import {
  checkPushedImage,
  confineProcessContainers,
  pushBaseImage,
  skopeoInspect,
} from '../support/image-checks.js';
import { processesWith } from '../support/process.js';
import { createPrivateRepository, QuayClient, userWithToken } from '../support/quay-client.js';
import { serveFiles, startHttpReceiver } from '../support/receivers.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { requireTools } from '../support/tools.js';

const adminLogin = { username: 'admin', password: adminPassword };
const TERMINAL = ['complete', 'error', 'cancelled'];

/** A .tar.gz of a directory holding `files`. */
async function tarGz(dir: string, files: Record<string, string>): Promise<Buffer> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  const out = `${dir}.tar.gz`;
  await tarCreate({ gzip: true, cwd: dir, file: out, portable: true }, await readdir(dir));
  return readFile(out);
}

/** Polls the build until it is terminal, recording every phase seen. */
async function waitForBuild(
  client: QuayClient,
  path: string,
  timeoutMs = 150_000,
): Promise<{ build: any; phases: string[] }> {
  const phases: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await client.get(path);
    assert.equal(res.status, 200, res.text);
    if (phases[phases.length - 1] !== res.body.phase) phases.push(res.body.phase);
    if (TERMINAL.includes(res.body.phase) || Date.now() > deadline) return { build: res.body, phases };
    await sleep(100);
  }
}

async function logsOf(client: QuayClient, repo: string, id: string): Promise<any> {
  const res = await client.get(`/repository/${repo}/build/${id}/logs`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

test('Quay builds run on buildah: archive, upload, failure, cancel', { timeout: 420_000 }, async (t) => {
  if (!requireTools(t, 'buildah', 'skopeo', 'busybox')) return;
  const workDir = await mkdtemp(join(tmpdir(), 'slipway-e2e-quay-build-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));

  // The server's image steps use this process's environment: confine buildah to workDir.
  t.after(confineProcessContainers(join(workDir, 'server-containers')));

  const server: TestServer = await startTestServer({ config: { outboundAllow: '127.0.0.0/8' } });
  t.after(() => server.close());
  await server.services.runScheduler.start();
  t.after(() => server.services.runScheduler.stop());
  const admin = (await userWithToken(server, 'admin')).client;

  // The base image, pushed to admin/base:v1; the repository builds go to admin/app.
  const base = await pushBaseImage(server.host, adminLogin, 'admin/base:v1', workDir);
  await createPrivateRepository(admin, 'admin', 'app');
  const receiver = await startHttpReceiver();
  t.after(() => receiver.close());
  const notification = await admin.post('/repository/admin/app/notification/', {
    event: 'build_success',
    method: 'webhook',
    config: { url: `${receiver.url}/built` },
    eventConfig: {},
    title: 'built',
  });
  assert.equal(notification.status, 201, notification.text);

  const files = new Map<string, Buffer>();
  files.set(
    '/context.tar.gz',
    await tarGz(join(workDir, 'context'), {
      'sub/Dockerfile': `FROM ${base}\nCOPY message.txt /message.txt\nRUN echo built-by-quay-build > /built.txt\n`,
      'sub/message.txt': 'from the archive\n',
    }),
  );
  files.set(
    '/failing.tar.gz',
    await tarGz(join(workDir, 'failing'), { Dockerfile: `FROM ${base}\nRUN echo about-to-fail && false\n` }),
  );
  const marker = `slipway-cancel-marker-${process.pid}`;
  files.set(
    '/sleepy.tar.gz',
    await tarGz(join(workDir, 'sleepy'), {
      Dockerfile: `FROM ${base}\nRUN echo ${marker} && sleep 60 && echo ${marker}\n`,
    }),
  );
  const archives = await serveFiles(Object.fromEntries(files));
  t.after(() => archives.close());

  // 1. An archive build (Dockerfile in a subdirectory) and, at the same time, a failing one.
  const good = await admin.post('/repository/admin/app/build/', {
    archive_url: `${archives.url}/context.tar.gz`,
    subdirectory: 'sub',
    docker_tags: ['v1', 'latest'],
  });
  assert.equal(good.status, 201, good.text);
  assert.equal(good.headers.get('location'), `/api/v1/repository/admin/app/build/${good.body.id}/status`);
  assert.equal(good.body.dockerfile_path, '/sub/Dockerfile');
  assert.equal(good.body.context, '/sub');
  const bad = await admin.post('/repository/admin/app/build/', {
    archive_url: `${archives.url}/failing.tar.gz`,
    docker_tags: ['broken'],
  });
  assert.equal(bad.status, 201, bad.text);

  const [goodEnd, badEnd] = await Promise.all([
    waitForBuild(admin, `/repository/admin/app/build/${good.body.id}/status`),
    waitForBuild(admin, `/repository/admin/app/build/${bad.body.id}`),
  ]);
  const goodLogs = await logsOf(admin, 'admin/app', good.body.id);
  assert.equal(goodEnd.build.phase, 'complete', JSON.stringify({ goodEnd, goodLogs }, null, 1));
  assert.equal(goodEnd.build.error, null);
  // Phases are polled, so quick ones may be missed; the run's own order is in the logs.
  for (const phase of goodEnd.phases) {
    assert.ok(
      ['waiting', 'build-scheduled', 'unpacking', 'building', 'pushing', 'complete'].includes(phase),
      phase,
    );
  }
  assert.ok(goodEnd.phases.length >= 2, `phases seen: ${goodEnd.phases.join(', ')}`);
  const phaseEntries = goodLogs.logs.filter((e: any) => e.type === 'phase').map((e: any) => e.message);
  assert.deepEqual(phaseEntries, [
    'waiting',
    'build-scheduled',
    'unpacking',
    'building',
    'pushing',
    'complete',
  ]);
  const commands = goodLogs.logs.filter((e: any) => e.type === 'command').map((e: any) => e.message);
  assert.equal(commands.length, 3, JSON.stringify(commands));
  assert.match(commands[0], /^STEP 1\/3: FROM /);
  assert.match(commands[2], /^STEP 3\/3: RUN echo built-by-quay-build/);
  assert.equal(goodLogs.total, goodLogs.logs.length);
  assert.equal(goodLogs.start, 0);
  for (const entry of goodLogs.logs) {
    assert.match(entry.data.datetime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  }
  const later = await admin.get(`/repository/admin/app/build/${good.body.id}/logs?start=3`);
  assert.equal(later.body.start, 3);
  assert.deepEqual(later.body.logs, goodLogs.logs.slice(3));

  // The failing build ended in error with the reason, and its log says why.
  assert.equal(badEnd.build.phase, 'error');
  assert.match(badEnd.build.error, /buildah build failed/);
  const badLogs = await logsOf(admin, 'admin/app', bad.body.id);
  const errors = badLogs.logs.filter((e: any) => e.type === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, badEnd.build.error);
  assert.ok(badLogs.logs.some((e: any) => e.message === 'about-to-fail'));
  assert.equal(badLogs.logs[badLogs.logs.length - 1].message, 'error');

  // skopeo sees both tags; the referrers API lists the provenance; the image holds what was built.
  const pushed = await checkPushedImage(server, adminLogin, 'admin/app:v1', workDir, [
    '/built.txt',
    '/message.txt',
  ]);
  assert.equal(pushed.contents, 'built-by-quay-build\nfrom the archive\n');
  const latest = await skopeoInspect(server.host, adminLogin, 'admin/app:latest', join(workDir, 'skopeo'));
  assert.equal(latest.Digest, pushed.digest);

  // The repository's webhook notification got build_success with the pushed digest.
  const deadline = Date.now() + 10_000;
  while (receiver.at('/built').length === 0 && Date.now() < deadline) {
    await server.services.notifications.drain(); // the delivery worker's round, without waiting for it
    await sleep(100);
  }
  const [hook] = receiver.at('/built');
  assert.ok(hook, 'build_success notification');
  const payload = hook.json();
  assert.equal(payload.build_id, good.body.id);
  assert.equal(payload.repository, 'admin/app');
  assert.deepEqual(payload.docker_tags, ['v1', 'latest']);
  assert.ok(payload.manifest_digests.includes(pushed.digest), JSON.stringify(payload));

  // 2. An uploaded bare Dockerfile (filedrop): PUT to the URL given, then build from the file id.
  const drop = await admin.post('/filedrop/', { mimeType: 'text/plain' });
  assert.equal(drop.status, 200, drop.text);
  const put = await fetch(drop.body.url, {
    method: 'PUT',
    headers: { 'content-type': 'text/plain' },
    body: `FROM ${base}\nRUN echo uploaded > /uploaded.txt\n`,
  });
  assert.equal(put.status, 200, await put.text());
  const uploaded = await admin.post('/repository/admin/app/build/', {
    file_id: drop.body.file_id,
    docker_tags: ['uploaded'],
  });
  assert.equal(uploaded.status, 201, uploaded.text);
  assert.equal(uploaded.body.resource_key, drop.body.file_id);
  const uploadedEnd = await waitForBuild(admin, `/repository/admin/app/build/${uploaded.body.id}`);
  assert.equal(
    uploadedEnd.build.phase,
    'complete',
    JSON.stringify(await logsOf(admin, 'admin/app', uploaded.body.id), null, 1),
  );
  await skopeoInspect(server.host, adminLogin, 'admin/app:uploaded', join(workDir, 'skopeo'));

  // 3. Cancel while building: the RUN's sleep is killed with its whole process tree.
  const sleepy = await admin.post('/repository/admin/app/build/', {
    archive_url: `${archives.url}/sleepy.tar.gz`,
    docker_tags: ['sleepy'],
  });
  assert.equal(sleepy.status, 201, sleepy.text);
  const sleepyPath = `/repository/admin/app/build/${sleepy.body.id}`;
  const building = Date.now() + 90_000;
  let running: number[] = [];
  while (Date.now() < building) {
    running = await processesWith(`sleep 60 && echo ${marker}`);
    if (running.length > 0) break;
    await sleep(200);
  }
  assert.ok(running.length > 0, 'the RUN instruction started');
  assert.equal((await admin.get(sleepyPath)).body.phase, 'building');
  const cancel = await admin.delete(sleepyPath);
  assert.equal(cancel.status, 201, cancel.text);
  assert.equal(cancel.body, 'Okay');
  const cancelled = await waitForBuild(admin, sleepyPath, 30_000);
  assert.equal(cancelled.build.phase, 'cancelled');
  const gone = Date.now() + 15_000;
  while ((await processesWith(`sleep 60 && echo ${marker}`)).length > 0 && Date.now() < gone)
    await sleep(200);
  assert.deepEqual(await processesWith(`sleep 60 && echo ${marker}`), [], 'the sleep is gone');
  // A finished build cannot be cancelled.
  const again = await admin.delete(sleepyPath);
  assert.equal(again.status, 400, again.text);
  assert.match(again.body.error_message, /Build is currently running or has finished/);
  const finished = await admin.delete(`/repository/admin/app/build/${good.body.id}`);
  assert.equal(finished.status, 400);
});
