import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { plan, type Job, type Pipeline, type TriggerContext } from '../model.js';
import { formatIssue, PipelineDefinitionError } from './issues.js';
import {
  cicdEnvironment,
  parseRancherPipeline,
  rancherPipelineFromConfig,
  splitImageTag,
} from './rancher-yaml.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../test/runs/fixtures/${name}`, import.meta.url), 'utf8');

function errorsOf(text: string): string[] {
  try {
    parseRancherPipeline(text, { file: '.rancher-pipeline.yml' });
  } catch (error) {
    if (error instanceof PipelineDefinitionError) return error.issues.map(formatIssue);
    throw error;
  }
  assert.fail('the definition was accepted');
}

function warningsOf(text: string): string[] {
  return parseRancherPipeline(text).warnings.map(formatIssue);
}

function jobOf(pipeline: Pipeline, name: string): Job {
  const job = pipeline.stages.flatMap((s) => s.jobs).find((j) => j.name === name);
  assert.ok(job, `job ${name}`);
  return job;
}

const PUSH_LIKE = ['push', 'manual', 'cron', 'image', 'pipeline'];

test("Rancher's documentation example maps stage by stage, one job per step", () => {
  const { pipeline, warnings } = parseRancherPipeline(fixture('rancher-example.rancher-pipeline.yml'), {
    name: 'demo',
  });
  assert.deepEqual(warnings.map(formatIssue), [
    'line 44: notification: ignored: Slipway does not send Rancher notifier messages',
  ]);
  assert.equal(pipeline.name, 'demo');
  assert.equal(pipeline.dialect, 'rancher');
  assert.equal(pipeline.timeoutSeconds, 30 * 60);
  assert.equal(pipeline.secretsOnPullRequest, false);
  assert.deepEqual(pipeline.when, {
    branch: { include: ['master', 'feature/*'], exclude: ['dev'] },
    tagAsBranch: true,
  });
  assert.deepEqual(
    pipeline.stages.map((s) => [s.name, s.jobs.map((j) => j.name)]),
    [
      ['Clone', ['step-0-0']],
      ['Build something', ['step-1-0', 'step-1-1']],
      ['Publish my image', ['step-2-0']],
    ],
  );
  assert.deepEqual(jobOf(pipeline, 'step-0-0').steps, [{ kind: 'checkout', name: 'clone' }]);

  assert.deepEqual(pipeline.stages[1]?.when, {
    branch: { include: ['master'], exclude: [] },
    tagAsBranch: true,
    event: { include: [...PUSH_LIKE, 'pull_request'], exclude: [] },
  });
  const first = jobOf(pipeline, 'step-1-0');
  assert.deepEqual(first.env, { FIRST_KEY: 'VALUE', SECOND_KEY: 'VALUE2' });
  assert.deepEqual(first.secrets, [{ env: 'ALIAS_ENV', secret: 'my-secret', key: 'secret-key' }]);
  assert.deepEqual(first.steps, [
    {
      kind: 'script-in-image',
      name: 'echo ${FIRST_KEY} && echo ${ALIAS_ENV}',
      image: 'busybox',
      script: 'echo ${FIRST_KEY} && echo ${ALIAS_ENV}',
    },
  ]);
  assert.deepEqual(jobOf(pipeline, 'step-1-1').when, {
    branch: { include: ['master', 'dev'], exclude: [] },
    tagAsBranch: true,
    event: { include: PUSH_LIKE, exclude: [] },
  });

  assert.deepEqual(jobOf(pipeline, 'step-2-0').steps, [
    {
      kind: 'build-image',
      name: 'build rancher/rancher:v2.0.0',
      dockerfile: 'Dockerfile',
      context: '.',
      buildArgs: {},
      tags: ['step-2-0'],
    },
    {
      kind: 'push-image',
      name: 'push rancher/rancher:v2.0.0',
      source: 'step-2-0',
      destination: { registry: { kind: 'external', host: 'reg.example.com' }, repository: 'rancher/rancher' },
      tags: ['v2.0.0'],
    },
  ]);
});

test('the build-and-push fixture pushes to Slipway’s registry', () => {
  const { pipeline, warnings } = parseRancherPipeline(fixture('rancher-build-push.rancher-pipeline.yml'));
  assert.deepEqual(warnings, []);
  assert.equal(pipeline.timeoutSeconds, 20 * 60);
  const [build, push] = jobOf(pipeline, 'step-1-0').steps;
  assert.deepEqual(build, {
    kind: 'build-image',
    name: 'build demo/app:${CICD_GIT_BRANCH}',
    dockerfile: 'Dockerfile',
    context: '.',
    buildArgs: {},
    tags: ['step-1-0'],
  });
  assert.deepEqual(push, {
    kind: 'push-image',
    name: 'push demo/app:${CICD_GIT_BRANCH}',
    source: 'step-1-0',
    destination: { registry: { kind: 'slipway' }, repository: 'demo/app' },
    tags: ['${CICD_GIT_BRANCH}'],
  });
  assert.deepEqual(jobOf(pipeline, 'step-2-0').steps, [
    {
      kind: 'script-in-image',
      name: 'cat /hello.txt',
      image: '${CICD_LOCAL_REGISTRY}/demo/app:${CICD_GIT_BRANCH}',
      script: 'cat /hello.txt',
    },
  ]);
});

test('publishImageConfig defaults and registries', () => {
  const { pipeline } = parseRancherPipeline(`
stages:
  - name: images
    steps:
      - publishImageConfig: {}
      - publishImageConfig: {tag: "reg.local:5000/team/app", pushRemote: true}
      - publishImageConfig: {tag: team/app:1, pushRemote: true}
      - publishImageConfig: {tag: "ghcr.io/team/app:2", pushRemote: false, dockerfilePath: ./sub/Dockerfile, buildContext: ./sub}
`);
  const pushes = pipeline.stages[1]?.jobs.map((j) => j.steps[1]);
  assert.deepEqual(
    pushes?.map((p) => p?.kind === 'push-image' && [p.destination, p.tags]),
    [
      [{ registry: { kind: 'slipway' }, repository: '${CICD_GIT_REPO_NAME}' }, ['${CICD_GIT_BRANCH}']],
      [{ registry: { kind: 'external', host: 'reg.local:5000' }, repository: 'team/app' }, ['latest']],
      [{ registry: { kind: 'external', host: 'index.docker.io' }, repository: 'team/app' }, ['1']],
      [{ registry: { kind: 'slipway' }, repository: 'team/app' }, ['2']],
    ],
  );
  const lastBuild = pipeline.stages[1]?.jobs[3]?.steps[0];
  assert.ok(lastBuild?.kind === 'build-image');
  assert.equal(lastBuild.dockerfile, 'sub/Dockerfile');
  assert.equal(lastBuild.context, 'sub');
});

test('a first sourceCodeConfig step replaces the implicit Clone stage', () => {
  const { pipeline } = parseRancherPipeline(`
stages:
  - name: clone
    steps: [{sourceCodeConfig: {}}]
  - name: test
    steps: [{runScriptConfig: {image: golang:1.22, shellScript: "go test ./..."}}]
`);
  assert.deepEqual(
    pipeline.stages.map((s) => [s.name, s.jobs.map((j) => [j.name, j.steps.map((step) => step.kind)])]),
    [
      ['clone', [['step-0-0', ['checkout']]]],
      ['test', [['step-1-0', ['script-in-image']]]],
    ],
  );
});

test('constraints: one value, a list or include/exclude; events expand to what Rancher called them', () => {
  const { pipeline } = parseRancherPipeline(`
stages:
  - name: a
    when: {branch: {include: main, exclude: "wip/*"}, event: {exclude: push}}
    steps:
      - runScriptConfig: {image: busybox}
        when: {event: tag}
      - runScriptConfig: {image: busybox, shellScript: ""}
        when: {branch: release-1.0}
branch: [main, "release-*"]
`);
  assert.deepEqual(pipeline.when, {
    branch: { include: ['main', 'release-*'], exclude: [] },
    tagAsBranch: true,
  });
  const stage = pipeline.stages[1];
  assert.deepEqual(stage?.when, {
    branch: { include: ['main'], exclude: ['wip/*'] },
    tagAsBranch: true,
    event: { include: [], exclude: PUSH_LIKE },
  });
  assert.deepEqual(stage?.jobs[0]?.when, { event: { include: ['tag'], exclude: [] } });
  assert.deepEqual(stage?.jobs[1]?.when, {
    branch: { include: ['release-1.0'], exclude: [] },
    tagAsBranch: true,
  });
  assert.deepEqual(stage?.jobs[1]?.steps, [
    { kind: 'script-in-image', name: 'busybox', image: 'busybox', script: '' },
  ]);
});

test('plans as Rancher ran: branch globs see tags, manual and cron runs are pushes', () => {
  const { pipeline } = parseRancherPipeline(`
stages:
  - name: release
    when: {branch: "v*", event: tag}
    steps: [{runScriptConfig: {image: busybox, shellScript: echo release}}]
  - name: build
    when: {event: push}
    steps: [{runScriptConfig: {image: busybox, shellScript: echo build}}]
`);
  const ctx = (fields: Partial<TriggerContext>): TriggerContext => ({
    event: 'push',
    commit: 'a'.repeat(40),
    repoUrl: 'https://github.com/acme/app.git',
    ...fields,
  });
  const run = (fields: Partial<TriggerContext>) =>
    plan(pipeline, ctx(fields)).jobs.map((j) => `${j.stage}:${j.status}`);
  assert.deepEqual(run({ event: 'tag', tag: 'v1.2' }), ['Clone:run', 'release:run', 'build:skip']);
  assert.deepEqual(run({ event: 'tag', tag: 'nightly' }), ['Clone:run', 'release:skip', 'build:skip']);
  assert.deepEqual(run({ event: 'manual', branch: 'main' }), ['Clone:run', 'release:skip', 'build:run']);
  assert.deepEqual(run({ event: 'cron', branch: 'main' }), ['Clone:run', 'release:skip', 'build:run']);
  assert.deepEqual(run({ event: 'pull_request', branch: 'main' }), [
    'Clone:run',
    'release:skip',
    'build:skip',
  ]);
});

test('deploy steps are errors naming their line', () => {
  assert.deepEqual(
    errorsOf(`stages:
  - name: Deploy some workloads
    steps:
      - applyYamlConfig:
          path: ./deployment.yaml
      - publishCatalogConfig: {path: ./charts}
      - applyAppConfig: {catalogTemplate: x}
`),
    [
      'line 4: stages[0].steps[0].applyYamlConfig: not supported: Slipway pipelines do not deploy to Kubernetes; run kubectl or helm from a runScriptConfig step',
      'line 6: stages[0].steps[1].publishCatalogConfig: not supported: Slipway pipelines do not deploy to Kubernetes; run kubectl or helm from a runScriptConfig step',
      'line 7: stages[0].steps[2].applyAppConfig: not supported: Slipway pipelines do not deploy to Kubernetes; run kubectl or helm from a runScriptConfig step',
    ],
  );
});

test('wrong types, missing fields, unknown events and bad globs', () => {
  assert.deepEqual(
    errorsOf(`timeout: "30m"
branch: {include: ["[x"]}
stages:
  - steps:
      - runScriptConfig: {image: 3, shellScript: [echo]}
      - runScriptConfig: {shellScript: echo}
      - publishImageConfig: {pushRemote: "yes", dockerfilePath: ../Dockerfile}
      - publishImageConfig: {tag: "Bad/Name:x"}
      - runScriptConfig: {image: busybox}
        envFrom:
          - {sourceName: s}
          - {sourceName: s, sourceKey: "not a name"}
        env: [A]
        when: {event: [push, merge], branch: 7}
      - {}
      - runScriptConfig: {image: a}
        publishImageConfig: {}
      - just text
  - name: empty
    steps: []
`),
    [
      'line 1: timeout: must be a whole number of minutes, at least 1',
      'line 2: branch.include[0]: invalid glob "[x": unclosed "[" at position 1',
      'line 4: stages[0].name: is required',
      'line 5: stages[0].steps[0].runScriptConfig.image: must be a string',
      'line 5: stages[0].steps[0].runScriptConfig.shellScript: must be a string',
      'line 6: stages[0].steps[1].runScriptConfig.image: is required',
      'line 7: stages[0].steps[2].publishImageConfig.pushRemote: must be true or false',
      'line 8: stages[0].steps[3].publishImageConfig.tag: "Bad/Name" is not a repository name (lower-case path such as team/app)',
      'line 11: stages[0].steps[4].envFrom[0].sourceKey: is required',
      'line 12: stages[0].steps[4].envFrom[1].sourceKey: "not a name" is not a variable name (letters, digits and "_", not starting with a digit)',
      'line 13: stages[0].steps[4].env: must be a mapping of names to values',
      'line 14: stages[0].steps[4].when.event[1]: unknown event "merge" (expected push, pull_request or tag)',
      'line 15: stages[0].steps[5]: a step needs one of runScriptConfig, publishImageConfig or sourceCodeConfig',
      'line 17: stages[0].steps[6].publishImageConfig: a step has one type, and this one already has runScriptConfig',
      'line 18: stages[0].steps[7]: must be a mapping with runScriptConfig or publishImageConfig',
      'line 20: stages[1].steps: must not be empty',
    ],
  );
});

test('invalid YAML, an empty file and a file that is not a mapping', () => {
  assert.deepEqual(errorsOf('stages:\n  - name: "a\n'), ['line 3: invalid YAML: Missing closing "quote']);
  assert.deepEqual(errorsOf('stages: [\n'), [
    'line 2: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.deepEqual(errorsOf(''), ['line 1: the file is empty: a pipeline needs stages']);
  assert.deepEqual(errorsOf('- a\n- b\n'), ['line 1: must be a mapping with stages']);
  assert.deepEqual(errorsOf('timeout: 10\n'), ['line 1: stages: is required']);
});

test('ignored settings and unknown fields are warnings with their line', () => {
  assert.deepEqual(
    warningsOf(`stages:
  - name: a
    steps:
      - runScriptConfig: {image: busybox, shellScript: date}
        privileged: true
        cpuLimit: 500m
        memoryRequest: 64Mi
        imagePullPolicy: Always
branch:
  include: [master, feature/*]
  exlclude: [dev]
notification: {message: hi}
`),
    [
      'line 5: stages[0].steps[0].privileged: ignored: steps run unprivileged (buildah --isolation chroot)',
      'line 6: stages[0].steps[0].cpuLimit: ignored: Slipway sets no CPU or memory requests and limits',
      'line 7: stages[0].steps[0].memoryRequest: ignored: Slipway sets no CPU or memory requests and limits',
      'line 8: stages[0].steps[0].imagePullPolicy: unknown field, ignored',
      'line 11: branch.exlclude: unknown field (did you mean exclude?), ignored',
      'line 12: notification: ignored: Slipway does not send Rancher notifier messages',
    ],
  );
});

test('a PipelineConfig object from the API maps the same way, its errors naming fields only', () => {
  const { pipeline } = rancherPipelineFromConfig({
    stages: [
      {
        name: 'test',
        steps: [{ runScriptConfig: { image: 'node:20', shellScript: 'npm test' }, env: { A: 1 } }],
      },
    ],
    timeout: 5,
  });
  assert.equal(pipeline.timeoutSeconds, 300);
  assert.deepEqual(jobOf(pipeline, 'step-1-0').env, { A: '1' });
  assert.throws(
    () =>
      rancherPipelineFromConfig(
        { stages: [{ name: 'x', steps: [{ runScriptConfig: {} }] }] },
        { file: 'api' },
      ),
    (error: unknown) =>
      error instanceof PipelineDefinitionError &&
      error.issues.map(formatIssue).join('\n') === 'stages[0].steps[0].runScriptConfig.image: is required',
  );
});

test("splitImageTag follows Rancher's SplitImageTag", () => {
  const table: [string, ReturnType<typeof splitImageTag>][] = [
    ['busybox', { repository: 'busybox', tag: 'latest' }],
    ['rancher/rancher:v2.0.0', { repository: 'rancher/rancher', tag: 'v2.0.0' }],
    ['reg.example.com/team/app:1', { host: 'reg.example.com', repository: 'team/app', tag: '1' }],
    ['localhost/app', { host: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/a/b:c', { host: 'localhost:5000', repository: 'a/b', tag: 'c' }],
    [
      '${CICD_GIT_REPO_NAME}:${CICD_GIT_BRANCH}',
      { repository: '${CICD_GIT_REPO_NAME}', tag: '${CICD_GIT_BRANCH}' },
    ],
  ];
  for (const [image, expected] of table) assert.deepEqual(splitImageTag(image), expected, image);
});

test('cicdEnvironment gives the CICD_* variables Rancher set, per event', () => {
  const base: TriggerContext = {
    event: 'push',
    branch: 'main',
    commit: '0123456789abcdef0123456789abcdef01234567',
    repoUrl: 'https://github.com/acme/app.git',
  };
  const run = {
    pipelineId: 'p-abc12',
    number: 7,
    projectId: 'p-xyz',
    clusterId: 'local',
    registry: '127.0.0.1:5000',
  };
  assert.deepEqual(cicdEnvironment(base, run), {
    CICD_GIT_REPO_NAME: 'app',
    CICD_GIT_URL: 'https://github.com/acme/app.git',
    CICD_GIT_COMMIT: '0123456',
    CICD_GIT_REF: 'refs/heads/main',
    CICD_GIT_BRANCH: 'main',
    CICD_TRIGGER_TYPE: 'webhook',
    CICD_EVENT: 'push',
    CICD_EXECUTION_ID: 'p-abc12-7',
    CICD_EXECUTION_SEQUENCE: '7',
    CICD_PIPELINE_ID: 'p-abc12',
    CICD_PROJECT_ID: 'p-xyz',
    CICD_CLUSTER_ID: 'local',
    CICD_LOCAL_REGISTRY: '127.0.0.1:5000',
  });
  const pick = (ctx: Partial<TriggerContext>, info: Partial<typeof run> & { triggerType?: 'user' } = {}) => {
    const env = cicdEnvironment({ ...base, ...ctx }, { ...run, ...info });
    return [env.CICD_EVENT, env.CICD_TRIGGER_TYPE, env.CICD_GIT_BRANCH, env.CICD_GIT_REF, env.CICD_GIT_TAG];
  };
  const table: [Partial<TriggerContext>, (string | undefined)[]][] = [
    [{ event: 'tag', branch: undefined, tag: 'v1.0' }, ['tag', 'webhook', 'v1.0', 'refs/tags/v1.0', 'v1.0']],
    [
      { event: 'tag', branch: undefined, tag: undefined, ref: 'refs/tags/v2' },
      ['tag', 'webhook', '', 'refs/tags/v2', 'v2'],
    ],
    [
      { event: 'pull_request', ref: 'refs/pull/3/head' },
      ['pull_request', 'webhook', 'main', 'refs/pull/3/head', undefined],
    ],
    [{ event: 'manual' }, ['push', 'user', 'main', 'refs/heads/main', undefined]],
    [{ event: 'cron' }, ['push', 'cron', 'main', 'refs/heads/main', undefined]],
    [{ event: 'image' }, ['push', 'webhook', 'main', 'refs/heads/main', undefined]],
  ];
  for (const [ctx, expected] of table) assert.deepEqual(pick(ctx), expected, JSON.stringify(ctx));
  assert.equal(
    cicdEnvironment(base, { pipelineId: 'p', number: 1, triggerType: 'user' }).CICD_TRIGGER_TYPE,
    'user',
  );
  assert.equal(cicdEnvironment(base, { pipelineId: 'p', number: 1 }).CICD_PROJECT_ID, '');
});
