import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionRequest, Executor, LogChunk, StepCommands } from '../../src/runs/executor.js';
import {
  authFileOf,
  BuildahExecutor,
  CONTAINER_NAME_PREFIX,
  envFileOf,
  registryOf,
} from '../../src/runs/executors/buildah.executor.js';
import { FakeExecutor, type FakeAction } from '../../src/runs/executors/fake.executor.js';
import { LocalExecutor } from '../../src/runs/executors/local.executor.js';
import { randomToken } from '../../src/platform/ids.js';
import {
  CONTRACT_ARGV,
  CONTRACT_SCRIPTS,
  executorContract,
  processAlive,
} from '../contracts/executor.contract.js';
import { buildTestImages } from '../support/images.js';
import { requireTools, runOk } from '../support/tools.js';

// ---------------------------------------------------------------------------------------------
// The contract, on every executor.

executorContract('local executor', async () => ({ executor: new LocalExecutor({ graceMs: 1000 }) }), {
  startsProcesses: true,
  startupMs: 1000,
});

// What a shell would do with each contract line, as fake actions. The fake starts no process, so
// the contract's process-tree checks are skipped for it (startsProcesses: false); the tree script
// becomes a step that runs until it is cancelled or times out.
const S = CONTRACT_SCRIPTS;
const contractLines = new Map<string, readonly FakeAction[]>([
  [S.output[0], [{ log: 'one' }]],
  [S.output[1], [{ log: 'two', stream: 'stderr' }]],
  [S.output[2], [{ sleepMs: 200 }]],
  [S.output[3], [{ log: 'three' }]],
  [S.failure[0], [{ log: 'before' }]],
  [S.failure[1], [{ exit: 3 }]],
  [S.failure[2], [{ log: 'after' }]],
  [S.env[0], [{ printEnv: 'SLIPWAY_CONTRACT_VALUE' }]],
  [S.writeMarker[0], [{ writeFile: 'marker.txt', content: 'shared by steps\n' }]],
  [S.readMarker[0], [{ printFile: 'marker.txt' }]],
  [S.bigOutput[0], [{ output: 'a'.repeat(1_000_000) }]],
  [S.ran[0], [{ writeFile: 'ran.txt', content: 'ran\n' }]],
  [S.tree[0], []],
  [S.tree[1], []],
  [S.tree[2], [{ sleepMs: Infinity }]],
  [CONTRACT_ARGV.echo.join(' '), [{ log: 'two words' }]],
]);

executorContract(
  'fake executor',
  async () => ({ executor: new FakeExecutor({ interpret: (line) => contractLines.get(line) }) }),
  { startsProcesses: false, startupMs: 500 },
);

const IMAGES_DIR = join(tmpdir(), 'slipway-test-images');

executorContract(
  'buildah executor',
  async (t) => {
    if (!requireTools(t, 'buildah', 'busybox')) return undefined;
    const images = await buildTestImages(IMAGES_DIR);
    return {
      executor: new BuildahExecutor({ containersEnv: images.env, graceMs: 1000 }),
      request: { image: { ref: images.imageName, pullPolicy: 'never' } },
      leftovers: async (runId) => {
        const { stdout } = await runOk(
          'buildah',
          ['containers', '--noheading', '--format', '{{.ContainerName}}'],
          {
            env: images.env,
          },
        );
        return stdout.split('\n').filter((name) => name.startsWith(`${CONTAINER_NAME_PREFIX}${runId}-`));
      },
    };
  },
  { startsProcesses: true, startupMs: 3000 },
);

// ---------------------------------------------------------------------------------------------
// Beyond the contract.

async function withWorkspace(fn: (workspace: string) => Promise<void>): Promise<void> {
  const workspace = await mkdtemp(join(tmpdir(), 'slipway-executor-'));
  try {
    await fn(workspace);
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}

async function execute(
  executor: Executor,
  workspace: string,
  commands: StepCommands,
  extra: Partial<ExecutionRequest> = {},
) {
  const chunks: LogChunk[] = [];
  const result = await executor.execute(
    {
      runId: `run-${randomToken(4)}`,
      jobId: 'job',
      stepId: 'step',
      workspace,
      commands,
      env: {},
      timeoutMs: 10_000,
      signal: new AbortController().signal,
      ...extra,
    },
    (chunk) => chunks.push(chunk),
  );
  const text = (stream: LogChunk['stream']) =>
    Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString('utf8');
  return { result, stdout: text('stdout'), stderr: text('stderr') };
}

test('local executor: a step sees only the base env plus its own, not the server environment', () =>
  withWorkspace(async (workspace) => {
    process.env.SLIPWAY_EXECUTOR_TEST_SECRET = 'server secret';
    try {
      const executor = new LocalExecutor();
      const { stdout } = await execute(
        executor,
        workspace,
        { script: ['env'] },
        { env: { STEP_VALUE: 'mine' } },
      );
      assert.match(stdout, /^STEP_VALUE=mine$/m);
      assert.match(stdout, /^PATH=/m);
      assert.doesNotMatch(stdout, /SLIPWAY_EXECUTOR_TEST_SECRET/);
      const custom = new LocalExecutor({ baseEnv: { PATH: process.env.PATH ?? '', ONLY: 'this' } });
      const { stdout: only } = await execute(custom, workspace, {
        script: ['echo "$ONLY:${HOME:-no home}"'],
      });
      assert.equal(only, 'this:no home\n');
    } finally {
      delete process.env.SLIPWAY_EXECUTOR_TEST_SECRET;
    }
  }));

test('local executor: what a step leaves in the background is killed when it exits', () =>
  withWorkspace(async (workspace) => {
    const { result } = await execute(new LocalExecutor({ graceMs: 1000 }), workspace, {
      script: ['sleep 30 &', 'echo $! > background.pid'],
    });
    assert.equal(result.outcome, 'success', result.error);
    const pid = Number(await readFile(join(workspace, 'background.pid'), 'utf8'));
    assert.equal(processAlive(pid), false, 'the background sleep is gone');
  }));

test('local executor: a step killed by a signal the executor did not send is failed with 128 + n', () =>
  withWorkspace(async (workspace) => {
    const { result } = await execute(new LocalExecutor(), workspace, { script: ['kill -TERM $$'] });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.exitCode, 143);
    assert.match(result.error ?? '', /SIGTERM/);
  }));

test('local executor: container images and mounts are refused as errors', () =>
  withWorkspace(async (workspace) => {
    const executor = new LocalExecutor();
    const image = await execute(executor, workspace, { script: ['true'] }, { image: { ref: 'busybox' } });
    assert.equal(image.result.outcome, 'error');
    assert.match(image.result.error ?? '', /image/);
    const mounts = await execute(
      executor,
      workspace,
      { script: ['true'] },
      { mounts: [{ source: '/', target: '/x' }] },
    );
    assert.equal(mounts.result.outcome, 'error');
  }));

test('local executor: an unbounded timeout and a step that is not executable', () =>
  withWorkspace(async (workspace) => {
    const executor = new LocalExecutor();
    const ok = await execute(executor, workspace, { script: ['echo fine'] }, { timeoutMs: Infinity });
    assert.equal(ok.result.outcome, 'success');
    await writeFile(join(workspace, 'not-executable'), '#!/bin/sh\n', { mode: 0o644 });
    const denied = await execute(executor, workspace, { argv: [join(workspace, 'not-executable')] });
    assert.equal(denied.result.outcome, 'failed');
    assert.equal(denied.result.exitCode, 126);
  }));

test('fake executor: built-in fake: lines script output, durations and ends', () =>
  withWorkspace(async (workspace) => {
    const fake = new FakeExecutor();
    const ok = await execute(
      fake,
      workspace,
      {
        script: [
          'fake:log hello world',
          'fake:stderr careful',
          'fake:sleep 30',
          'fake:env WHO',
          'fake:write out.txt some text',
          'fake:cat out.txt',
        ],
      },
      { env: { WHO: 'me' } },
    );
    assert.equal(ok.result.outcome, 'success');
    assert.equal(ok.stdout, 'hello world\nme\nsome text\n');
    assert.equal(ok.stderr, 'careful\n');
    assert.ok(ok.result.finishedAt - ok.result.startedAt >= 25);

    const failed = await execute(fake, workspace, { script: ['fake:log a', 'fake:fail 4', 'fake:log b'] });
    assert.deepEqual([failed.result.outcome, failed.result.exitCode, failed.stdout], ['failed', 4, 'a\n']);
    const errored = await execute(fake, workspace, { script: ['fake:error registry down'] });
    assert.deepEqual([errored.result.outcome, errored.result.error], ['error', 'registry down']);
    const typo = await execute(fake, workspace, { script: ['fake:slep 10'] });
    assert.equal(typo.result.outcome, 'error');
    assert.match(typo.result.error ?? '', /unknown fake command/);
    const unknown = await execute(fake, workspace, { script: ['make test'] });
    assert.deepEqual([unknown.result.outcome, unknown.result.exitCode], ['failed', 127]);
    const argv = await execute(fake, workspace, { argv: ['fake:log', 'from', 'argv'] });
    assert.equal(argv.stdout, 'from argv\n');
    const hung = await execute(fake, workspace, { script: ['fake:hang'] }, { timeoutMs: 20 });
    assert.equal(hung.result.outcome, 'timed_out');
  }));

test('fake executor: records calls and the most that ran at once', () =>
  withWorkspace(async (workspace) => {
    const fake = new FakeExecutor();
    await Promise.all([1, 2, 3].map(() => execute(fake, workspace, { script: ['fake:sleep 30'] })));
    await execute(fake, workspace, { script: ['fake:exit 0'] }, { env: { A: '1' } });
    assert.equal(fake.calls.length, 4);
    assert.equal(fake.maxConcurrent, 3);
    assert.deepEqual(fake.calls[3]?.request.env, { A: '1' });
    assert.equal(fake.calls[3]?.result?.outcome, 'success');
  }));

test('buildah executor: request env travels in a file, not on the command line', () => {
  assert.equal(envFileOf({ A: "it's", B: 'x\ny' }), "export A='it'\\''s'\nexport B='x\ny'\n");
  assert.equal(registryOf('localhost:5000/team/app:1'), 'localhost:5000');
  assert.equal(registryOf('registry.example/app'), 'registry.example');
  assert.equal(registryOf('localhost/app'), 'localhost');
  assert.equal(registryOf('library/busybox'), 'docker.io');
  assert.equal(registryOf('busybox'), 'docker.io');
  assert.deepEqual(JSON.parse(authFileOf('localhost:5000/a/b', { username: 'run-1', password: 'token' })), {
    auths: { 'localhost:5000': { auth: Buffer.from('run-1:token').toString('base64') } },
  });
});

test('buildah executor: an image that cannot be had is an error, with no container left', async (t) => {
  if (!requireTools(t, 'buildah', 'busybox')) return;
  const images = await buildTestImages(IMAGES_DIR);
  await withWorkspace(async (workspace) => {
    const executor = new BuildahExecutor({ containersEnv: images.env, graceMs: 1000 });
    const runId = `missing-${randomToken(4)}`;
    const { result, stderr } = await execute(
      executor,
      workspace,
      { script: ['true'] },
      { runId, image: { ref: 'localhost/slipway-test/no-such-image:1', pullPolicy: 'never' } },
    );
    assert.equal(result.outcome, 'error');
    assert.match(
      result.error ?? '',
      /cannot create a container from localhost\/slipway-test\/no-such-image:1/,
    );
    assert.notEqual(stderr, '');
    const { stdout } = await runOk(
      'buildah',
      ['containers', '--noheading', '--format', '{{.ContainerName}}'],
      {
        env: images.env,
      },
    );
    assert.doesNotMatch(stdout, new RegExp(runId));

    const noImage = await execute(executor, workspace, { script: ['true'] });
    assert.equal(noImage.result.outcome, 'error');
    assert.match(noImage.result.error ?? '', /needs an image/);
  });
});

test('buildah executor: extra mounts, read-only when asked; the image is the step root', async (t) => {
  if (!requireTools(t, 'buildah', 'busybox')) return;
  const images = await buildTestImages(IMAGES_DIR);
  await withWorkspace(async (workspace) => {
    const shared = join(workspace, '..', `slipway-mount-${randomToken(4)}`);
    await mkdir(shared);
    try {
      await writeFile(join(shared, 'input.txt'), 'from the host\n');
      const executor = new BuildahExecutor({ containersEnv: images.env, graceMs: 1000 });
      const { result, stdout, stderr } = await execute(
        executor,
        workspace,
        {
          script: [
            'cat /cache/input.txt',
            'cat /hello.txt',
            'echo',
            'pwd',
            'touch /cache/new 2>/dev/null || echo read-only',
          ],
        },
        {
          image: { ref: images.imageName, pullPolicy: 'never' },
          mounts: [{ source: shared, target: '/cache', readOnly: true }],
        },
      );
      assert.equal(result.outcome, 'success', `${result.error}\n${stderr}`);
      assert.equal(stdout, 'from the host\nhello from slipway\n/workspace\nread-only\n');
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });
});

test('buildah executor: concurrent steps of one run get their own containers', async (t) => {
  if (!requireTools(t, 'buildah', 'busybox')) return;
  const images = await buildTestImages(IMAGES_DIR);
  await withWorkspace(async (workspace) => {
    const executor = new BuildahExecutor({ containersEnv: images.env, graceMs: 1000 });
    const runId = `parallel-${randomToken(4)}`;
    const results = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        execute(
          executor,
          workspace,
          { script: [`echo ${name} > ${name}.txt`, 'sleep 0.2'] },
          { runId, stepId: name, image: { ref: images.imageName, pullPolicy: 'never' } },
        ),
      ),
    );
    for (const { result } of results) assert.equal(result.outcome, 'success', result.error);
    for (const name of ['a', 'b', 'c'])
      assert.equal(await readFile(join(workspace, `${name}.txt`), 'utf8'), `${name}\n`);
  });
});
