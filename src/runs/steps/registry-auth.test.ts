import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { localImageName } from './image-steps.js';
import { isLoopbackHost, registriesConfWithInsecure, registryTarget, StepProblem } from './registry-auth.js';

test('loopback hosts, with or without a port', () => {
  for (const host of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '::1']) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (const host of [
    'registry.example.com',
    '10.0.0.1:5000',
    'localhost.example.com',
    '[::2]:5000',
    'docker.io',
  ]) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});

test("Slipway repositories of one segment are placed in the pipeline's namespace", () => {
  const ctx = { registryHost: '127.0.0.1:5000', pipeline: { namespace: 'team' } };
  assert.deepEqual(registryTarget({ kind: 'slipway' }, 'web', ctx), {
    kind: 'slipway',
    host: '127.0.0.1:5000',
    repository: 'team/web',
  });
  assert.deepEqual(registryTarget({ kind: 'slipway' }, 'other/web', ctx).repository, 'other/web');
  assert.deepEqual(
    registryTarget({ kind: 'external', host: 'ghcr.io', credentials: 'bot' }, 'acme/web', ctx),
    {
      kind: 'external',
      host: 'ghcr.io',
      repository: 'acme/web',
      credentials: 'bot',
    },
  );
  assert.throws(() => registryTarget({ kind: 'slipway' }, 'Web', ctx), StepProblem);
});

test('local image names are scoped to the run', () => {
  assert.equal(localImageName('r1', 'web'), 'localhost/slipway-run-r1/web:latest');
  assert.equal(localImageName('r1', 'team/web:abc1234'), 'localhost/slipway-run-r1/team/web:abc1234');
  assert.throws(() => localImageName('r1', 'Web'), /invalid image name/);
  assert.throws(() => localImageName('r1', 'web:'), /invalid image tag/);
  assert.throws(() => localImageName('../r1', 'web'), /run id/);
});

test('a registries.conf of one call marks plain-HTTP hosts insecure, unless configured or in the old format', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-registries-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'registries.conf');
  const env = { CONTAINERS_REGISTRIES_CONF: file };

  await writeFile(file, 'unqualified-search-registries = ["docker.io"]');
  assert.deepEqual(await registriesConfWithInsecure(env, ['127.0.0.1:5000']), {
    kind: 'extended',
    text: 'unqualified-search-registries = ["docker.io"]\n\n[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n',
  });
  await writeFile(file, '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n');
  assert.deepEqual(await registriesConfWithInsecure(env, ['127.0.0.1:5000']), { kind: 'configured' });
  await writeFile(file, '[registries.insecure]\nregistries = []\n');
  assert.deepEqual(await registriesConfWithInsecure(env, ['127.0.0.1:5000']), { kind: 'unsupported' });
  assert.deepEqual(
    await registriesConfWithInsecure({ CONTAINERS_REGISTRIES_CONF: join(dir, 'missing') }, ['localhost']),
    {
      kind: 'unsupported',
    },
  );
});
