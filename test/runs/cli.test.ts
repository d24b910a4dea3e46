// `slipway run FILE`: the engine on this machine without a server, with real `sh` steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTools, run, runOk } from '../support/tools.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/main.ts');

/** `slipway run WORKSPACE/FILE ...` from the project root (where tsx resolves), on `workspace`. */
function slipwayRun(workspace: string, [file, ...args]: [string, ...string[]]) {
  const command = [
    '--import',
    'tsx',
    main,
    'run',
    path.join(workspace, file),
    ...args,
    '--workspace',
    workspace,
  ];
  return run(process.execPath, command, {
    cwd: root,
    timeoutMs: 50_000,
  });
}

async function workspaceWith(t: { after: (fn: () => Promise<void>) => void }, files: Record<string, string>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

test('slipway run prints the steps output live, prefixed with job and step, and exits 0 on success', async (t) => {
  if (!requireTools(t, 'sh')) return;
  const dir = await workspaceWith(t, {
    '.slipway.yml': `
clone: false
stages:
  - name: build
    jobs:
      compile:
        env:
          GREETING: hello from \${SLIPWAY_BRANCH}
        steps:
          - name: write
            script:
              - echo "$GREETING"
              - echo "built at run $SLIPWAY_RUN_NUMBER" > artifact.txt
              - echo "a warning" >&2
      lint:
        steps:
          - script: printf 'no newline at the end'
  - name: test
    jobs:
      check:
        steps:
          - name: read
            script: cat artifact.txt
      skipped-on-dev:
        when:
          branch: main
        steps:
          - script: echo never
`,
  });
  const result = await slipwayRun(dir, ['.slipway.yml', '--branch', 'dev', '--event', 'push']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const out = result.stdout;
  assert.match(out, /^\[compile\/write\] hello from dev$/m);
  assert.match(out, /^\[compile\/write\] a warning$/m);
  assert.match(out, /^\[lint\/printf 'no newline at the end'\] no newline at the end$/m);
  // The jobs share the run's workspace: the working directory.
  assert.match(out, /^\[check\/read\] built at run 1$/m);
  assert.match(out, /^--- skipped-on-dev: skipped: branch dev does not match \[main\]$/m);
  assert.match(out, /^run slipway #1: success in [\d.]+s$/m);
  assert.ok(out.indexOf('[compile/write] hello from dev') < out.indexOf('[check/read]'), 'stages in order');
});

test('slipway run exits 1 when a step fails, and says which and why', async (t) => {
  if (!requireTools(t, 'sh')) return;
  const dir = await workspaceWith(t, {
    'pipeline.yml': `
clone: false
stages:
  - name: test
    jobs:
      unit:
        steps:
          - name: tests
            script:
              - echo running tests
              - exit 3
          - name: coverage
            script: echo never
  - name: deploy
    jobs:
      production:
        steps:
          - script: echo never
`,
  });
  const result = await slipwayRun(dir, ['pipeline.yml']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /^\[unit\/tests\] running tests$/m);
  assert.match(result.stdout, /^<== unit\/tests: failed \(exited with code 3\)$/m);
  assert.match(result.stdout, /^--- production: skipped: waits for job "unit", which failed$/m);
  assert.match(result.stdout, /^run pipeline #1: failed in/m);
  assert.doesNotMatch(result.stdout, /never/);
});

test('slipway run takes branch and commit from git, reads Rancher files by name, and rejects bad files', async (t) => {
  if (!requireTools(t, 'sh', 'git')) return;
  const dir = await workspaceWith(t, {
    '.slipway.yml': `
jobs:
  show:
    steps:
      - script: echo "$SLIPWAY_BRANCH $SLIPWAY_COMMIT"
`,
    '.rancher-pipeline.yml': `
stages:
  - name: Build
    steps:
      - runScriptConfig: {image: busybox, shellScript: echo never}
        when:
          event: pull_request
`,
    'broken.yml': 'jobs:\n  a:\n    steps:\n      - scrip: echo\n',
  });
  const git = ['-c', 'user.name=t', '-c', 'user.email=t@example.com'];
  await runOk('git', ['init', '-q', '-b', 'feature/x'], { cwd: dir });
  await runOk('git', [...git, 'add', '.'], { cwd: dir });
  await runOk('git', [...git, 'commit', '-q', '-m', 'first'], { cwd: dir });
  const commit = (await runOk('git', ['rev-parse', 'HEAD'], { cwd: dir })).stdout.trim();

  const slipway = await slipwayRun(dir, ['.slipway.yml']);
  assert.equal(slipway.code, 0, slipway.stdout + slipway.stderr);
  assert.match(slipway.stdout, /^\[clone\/checkout\] using the working directory /m);
  assert.match(
    slipway.stdout,
    new RegExp(`^\\[show/echo "\\$SLIPWAY_BRANCH \\$SLIPWAY_COMMIT"\\] feature/x ${commit}$`, 'm'),
  );

  const rancher = await slipwayRun(dir, ['.rancher-pipeline.yml']);
  assert.equal(rancher.code, 0, rancher.stdout + rancher.stderr);
  assert.match(rancher.stdout, /^--- step-1-0: skipped: event manual does not match \[pull_request\]$/m);

  const broken = await slipwayRun(dir, ['broken.yml']);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /line 4: jobs\.a\.steps\[0\]/);
});

test('Ctrl-C cancels the run: the step is killed and the exit code is 1', async (t) => {
  if (!requireTools(t, 'sh')) return;
  const dir = await workspaceWith(t, {
    '.slipway.yml':
      'clone: false\njobs:\n  wait:\n    steps:\n      - script: echo started; sleep 30; echo never\n',
  });
  const file = path.join(dir, '.slipway.yml');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'run', file, '--workspace', dir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('] started') && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const sent = Date.now();
  child.kill('SIGINT');
  assert.equal(await exited, 1, out);
  assert.ok(Date.now() - sent < 15_000, 'the sleep was killed rather than waited for');
  assert.match(out, /^<== wait\/echo started; sleep 30; echo never: cancelled \(cancelled by the user\)$/m);
  assert.doesNotMatch(out, /\] never$/m);
});
