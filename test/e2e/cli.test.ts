import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer } from '../support/process.js';
import { RegistryClient } from '../support/registry-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const slipway = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });

test('first start prints a generated admin password once; it logs in; gc runs from the command line', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { SLIPWAY_ADMIN_PASSWORD: '' };

  let server = await spawnServer({ dataDir, env });
  await new Promise((r) => setTimeout(r, 200));
  const printed = /created superuser "admin" with password: (\S+)/.exec(server.output());
  assert.ok(printed, server.output());
  const password = printed[1]!;
  const client = new RegistryClient(server.url, { username: 'admin', password });
  assert.equal((await client.token(['repository:admin/x:pull'])).status, 200);
  assert.equal(
    (await new RegistryClient(server.url, { username: 'admin', password: 'wrong' }).token([])).status,
    401,
  );
  await client.pushBlob('admin/cli', Buffer.from('unreferenced'));
  await server.stop();

  server = await spawnServer({ dataDir, env });
  assert.doesNotMatch(
    server.output(),
    /created superuser/,
    'the password is printed only on the first start',
  );
  assert.equal((await new RegistryClient(server.url, { username: 'admin', password }).token([])).status, 200);
  await server.stop();

  const dry = slipway(['gc', '--dry-run', '--data', dataDir, '--gc-grace', '0']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout), {
    dryRun: true,
    deletedBlobs: 1,
    freedBytes: 12,
    orphanFiles: 0,
    expiredUploads: 0,
  });
  const real = slipway(['gc', '--data', dataDir, '--gc-grace', '0']);
  assert.equal(JSON.parse(real.stdout).deletedBlobs, 1);
  assert.equal(JSON.parse(slipway(['gc', '--data', dataDir, '--gc-grace', '0']).stdout).deletedBlobs, 0);

  const bad = slipway(['serve', '--data', dataDir, '--token-ttl', 'soon']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /invalid configuration: tokenTtlSeconds/);
  assert.match(slipway(['--help']).stdout, /SLIPWAY_DATABASE_URL/);
});
