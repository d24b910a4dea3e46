import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { plan, type Job, type Pipeline } from '../model.js';
import { formatIssue, PipelineDefinitionError } from './issues.js';
import { parseSlipwayPipeline } from './slipway-yaml.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../../test/runs/fixtures/${name}`, import.meta.url), 'utf8');

/** The formatted errors of a definition that must be rejected. */
function errorsOf(text: string): string[] {
  try {
    parseSlipwayPipeline(text, { file: '.slipway.yml' });
  } catch (error) {
    if (error instanceof PipelineDefinitionError) return error.issues.map(formatIssue);
    throw error;
  }
  assert.fail('the definition was accepted');
}

function jobOf(pipeline: Pipeline, name: string): Job {
  const job = pipeline.stages.flatMap((s) => s.jobs).find((j) => j.name === name);
  assert.ok(job, `job ${name}`);
  return job;
}

test('the full example reads into the model, field by field', () => {
  const { pipeline, warnings } = parseSlipwayPipeline(fixture('slipway-full.yml'), { name: 'ignored' });
  assert.deepEqual(warnings, []);
  assert.equal(pipeline.name, 'web');
  assert.equal(pipeline.dialect, 'slipway');
  assert.deepEqual(pipeline.when, { branch: { include: [], exclude: ['wip/*'] } });
  assert.equal(pipeline.timeoutSeconds, 3600);
  assert.equal(pipeline.secretsOnPullRequest, false);
  assert.deepEqual(
    pipeline.stages.map((s) => [s.name, s.jobs.map((j) => j.name)]),
    [
      ['clone', ['clone']],
      ['check', ['lint', 'unit', 'docs']],
      ['image', ['build', 'smoke']],
      ['release', ['publish']],
    ],
  );
  assert.deepEqual(jobOf(pipeline, 'clone').steps, [{ kind: 'checkout', name: 'checkout', depth: 50 }]);

  const lint = jobOf(pipeline, 'lint');
  assert.deepEqual(lint.env, { NODE_ENV: 'test', RETRY_LIMIT: '3' });
  assert.deepEqual(lint.secrets, [
    { env: 'NPM_TOKEN', secret: 'npm', key: 'NPM_TOKEN' },
    { env: 'SENTRY_DSN', secret: 'sentry', key: 'dsn' },
  ]);
  assert.deepEqual(lint.steps, [
    {
      kind: 'script-in-image',
      name: 'npm ci && npm run lint',
      image: 'node:20',
      script: 'npm ci && npm run lint',
    },
  ]);

  const unit = jobOf(pipeline, 'unit');
  assert.equal(unit.retries, 1);
  assert.equal(unit.timeoutSeconds, 900);
  assert.deepEqual(unit.env, { NODE_ENV: 'unit', RETRY_LIMIT: '3' });
  assert.deepEqual(
    unit.steps.map((s) => s.kind === 'script-in-image' && [s.name, s.script]),
    [
      ['install', 'npm ci'],
      ['test', 'npm test\nnpm run coverage'],
    ],
  );

  const docs = jobOf(pipeline, 'docs');
  assert.deepEqual(docs.when, { paths: { include: ['docs/**', '*.md'], exclude: ['docs/drafts/**'] } });
  assert.deepEqual(docs.steps, [
    { kind: 'script', name: './scripts/check-links.sh', script: './scripts/check-links.sh' },
  ]);

  assert.deepEqual(pipeline.stages[2]?.when, { event: { include: ['push', 'tag', 'manual'], exclude: [] } });
  assert.deepEqual(jobOf(pipeline, 'build').steps, [
    {
      kind: 'build-image',
      name: 'build web:${SLIPWAY_COMMIT_SHORT}',
      dockerfile: 'docker/Dockerfile',
      context: '.',
      buildArgs: { VERSION: '${SLIPWAY_COMMIT_SHORT}' },
      target: 'runtime',
      tags: ['web:${SLIPWAY_COMMIT_SHORT}'],
      cache: { registry: { kind: 'slipway' }, repository: 'team/web-cache' },
    },
    {
      kind: 'push-image',
      name: 'push team/web',
      source: 'web:${SLIPWAY_COMMIT_SHORT}',
      destination: { registry: { kind: 'slipway' }, repository: 'team/web' },
      tags: ['${SLIPWAY_COMMIT_SHORT}', '${SLIPWAY_BRANCH}'],
    },
  ]);
  const smoke = jobOf(pipeline, 'smoke');
  assert.deepEqual(smoke.needs, ['build']);
  assert.deepEqual(smoke.steps, [
    {
      kind: 'script-in-image',
      name: '/app/web --self-test',
      image: '${SLIPWAY_REGISTRY}/team/web:${SLIPWAY_COMMIT_SHORT}',
      script: '/app/web --self-test',
    },
  ]);

  assert.deepEqual(pipeline.stages[3]?.when, {
    tag: { include: ['v*'], exclude: [] },
    event: { include: ['tag'], exclude: [] },
  });
  const publish = jobOf(pipeline, 'publish');
  assert.deepEqual(publish.needs, ['smoke']);
  // The job's own SENTRY_DSN value replaces the pipeline's secret of that name.
  assert.deepEqual(publish.env, { NODE_ENV: 'test', RETRY_LIMIT: '3', SENTRY_DSN: '' });
  assert.deepEqual(publish.secrets, [{ env: 'NPM_TOKEN', secret: 'npm', key: 'NPM_TOKEN' }]);
  const ghcr = { kind: 'external', host: 'ghcr.io', credentials: 'ghcr-bot' };
  assert.deepEqual(publish.steps, [
    { kind: 'checkout', name: 'checkout', depth: 1 },
    {
      kind: 'build-image',
      name: 'build web-release',
      dockerfile: 'Dockerfile',
      context: '.',
      buildArgs: {},
      tags: ['web-release'],
      cache: { registry: ghcr, repository: 'acme/web-cache' },
    },
    {
      kind: 'push-image',
      name: 'push acme/web',
      source: 'web-release',
      destination: { registry: ghcr, repository: 'acme/web' },
      tags: ['${SLIPWAY_TAG}', 'latest'],
    },
  ]);
});

test('the example in docs/pipelines.md is the full fixture, so the documentation stays valid', () => {
  const docs = readFileSync(new URL('../../../docs/pipelines.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('## Every feature in one file'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.equal(block, fixture('slipway-full.yml'));
});

test('the full example plans as its documentation says', () => {
  const { pipeline } = parseSlipwayPipeline(fixture('slipway-full.yml'));
  const result = plan(pipeline, {
    event: 'push',
    branch: 'main',
    commit: 'f'.repeat(40),
    repoUrl: 'https://git.example.com/team/web.git',
    changedFiles: ['src/index.ts'],
  });
  assert.deepEqual(
    result.jobs.map((j) => `${j.job.name}:${j.status}`),
    ['clone:run', 'lint:run', 'unit:run', 'docs:skip', 'build:run', 'smoke:run', 'publish:skip'],
  );
});

test('the scenario fixtures read', () => {
  const stages = parseSlipwayPipeline(fixture('slipway-stages.yml')).pipeline;
  assert.deepEqual(
    stages.stages.map((s) => s.name),
    ['build', 'test', 'release'],
  );
  assert.equal(stages.timeoutSeconds, 600);
  assert.equal(jobOf(stages, 'unit').retries, 2);
  assert.equal(jobOf(stages, 'integration').timeoutSeconds, 60);
  assert.deepEqual(jobOf(stages, 'announce').when, { event: { include: [], exclude: ['manual'] } });

  const minimal = parseSlipwayPipeline(fixture('slipway-minimal.yml'), { name: 'from-api' }).pipeline;
  assert.equal(minimal.name, 'from-api');
  assert.deepEqual(
    minimal.stages.map((s) => [s.name, s.jobs.map((j) => j.steps.map((step) => step.kind))]),
    [
      ['clone', [['checkout']]],
      ['default', [['script']]],
    ],
  );
});

test('short forms: one value for needs and conditions, null sections, checkout without options', () => {
  const { pipeline } = parseSlipwayPipeline(`
clone: false
env:
when: {branch: main, event: push, tag: "v*", paths: "src/**"}
jobs:
  a:
    steps:
      - checkout:
      - build:
      - push: {repository: team/a, tags: ["1.0"]}
  b:
    needs: a
    secrets: {TOKEN: {secret: tokens}}
    steps: [{script: [echo one, echo two], name: both}]
`);
  assert.deepEqual(pipeline.when, {
    branch: { include: ['main'], exclude: [] },
    event: { include: ['push'], exclude: [] },
    tag: { include: ['v*'], exclude: [] },
    paths: { include: ['src/**'], exclude: [] },
  });
  assert.equal(pipeline.stages.length, 1);
  const a = jobOf(pipeline, 'a');
  assert.deepEqual(
    a.steps.map((s) => s.kind),
    ['checkout', 'build-image', 'push-image'],
  );
  assert.deepEqual(a.steps[1], {
    kind: 'build-image',
    name: 'build a',
    dockerfile: 'Dockerfile',
    context: '.',
    buildArgs: {},
    tags: ['a'],
  });
  assert.equal(a.steps[2]?.kind === 'push-image' && a.steps[2].source, 'a');
  const b = jobOf(pipeline, 'b');
  assert.deepEqual(b.needs, ['a']);
  assert.deepEqual(b.secrets, [{ env: 'TOKEN', secret: 'tokens', key: 'TOKEN' }]);
  assert.deepEqual(b.steps, [{ kind: 'script', name: 'both', script: 'echo one\necho two' }]);
});

test('build context sets the default Dockerfile; paths are normalized', () => {
  const { pipeline } = parseSlipwayPipeline(`
jobs:
  img:
    steps:
      - build: {context: ./services//api/, tags: [api]}
      - build: {context: ., dockerfile: ./build/Dockerfile.prod, tags: [api2]}
`);
  const [first, second] = jobOf(pipeline, 'img').steps;
  assert.ok(first?.kind === 'build-image' && second?.kind === 'build-image');
  assert.equal(first.context, 'services/api');
  assert.equal(first.dockerfile, 'services/api/Dockerfile');
  assert.equal(second.dockerfile, 'build/Dockerfile.prod');
});

test('invalid YAML is rejected with its line', () => {
  assert.deepEqual(errorsOf(fixture('invalid-syntax.yml.txt')), [
    'line 6: invalid YAML: Missing closing "quote',
  ]);
  assert.deepEqual(errorsOf('jobs:\n\ta: 1\n'), [
    'line 2: invalid YAML: Tabs are not allowed as indentation',
  ]);
  assert.deepEqual(errorsOf('jobs:\n  a: {steps: [{script: x}]}\n  a: {steps: [{script: y}]}\n'), [
    'line 3: invalid YAML: Map keys must be unique',
  ]);
  assert.deepEqual(errorsOf('jobs: [a\n'), [
    'line 2: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  const error = (() => {
    try {
      parseSlipwayPipeline('a: "', { file: 'ci/.slipway.yml' });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(error instanceof PipelineDefinitionError);
  assert.equal(error.code, 'PIPELINE_DEFINITION_INVALID');
  assert.equal(error.kind, 'invalid');
  assert.match(error.message, /^invalid pipeline definition ci\/\.slipway\.yml:\nline 1: invalid YAML: /);
});

test('an empty file, a scalar, both or neither of stages and jobs', () => {
  assert.deepEqual(errorsOf(''), ['line 1: the file is empty: a pipeline needs stages or jobs']);
  assert.deepEqual(errorsOf('hello'), ['line 1: must be a mapping with stages or jobs']);
  assert.deepEqual(errorsOf('name: x'), ['line 1: a pipeline needs stages or jobs']);
  assert.deepEqual(
    errorsOf('stages: [{name: a, jobs: {x: {steps: [{script: y}]}}}]\njobs: {z: {steps: [{script: y}]}}\n'),
    ['line 2: jobs: use either stages or jobs, not both'],
  );
});

test('wrong types name the line and the field', () => {
  assert.deepEqual(
    errorsOf(`name: 5
version: 2
timeout: 30
clone: maybe
env: [a]
pull_request_secrets: "no"
stages:
  - name: s
    when: main
    jobs:
      build:
        retries: -1
        image: 3
        steps:
          - script: make
            image: [x]
          - build:
              tags: web
          - push: {repository: Team/Web, tags: [":bad"], registry: "not a host"}
          - script: {run: x}
          - build: {args: {V: [1]}, target: 3}
`),
    [
      'line 1: name: must be a string',
      'line 2: version: must be 1',
      'line 3: timeout: must be a duration such as 90s, 30m or 1h30m',
      'line 4: clone: must be true, false or a mapping with depth',
      'line 5: env: must be a mapping of names to values',
      'line 6: pull_request_secrets: must be true or false',
      'line 9: stages[0].when: must be a mapping of branch, tag, event and paths',
      'line 12: stages[0].jobs.build.retries: must be at least 0',
      'line 13: stages[0].jobs.build.image: must be a string',
      'line 16: stages[0].jobs.build.steps[0].image: must be a string',
      'line 18: stages[0].jobs.build.steps[1].build.tags: must be a list',
      'line 19: stages[0].jobs.build.steps[2].push.repository: "Team/Web" is not a repository name (lower-case path such as team/app)',
      'line 19: stages[0].jobs.build.steps[2].push.tags[0]: ":bad" is not an image tag (up to 128 letters, digits, "_", "." or "-")',
      'line 19: stages[0].jobs.build.steps[2].push.registry: "not a host" is not a registry host (such as ghcr.io or localhost:5000)',
      'line 20: stages[0].jobs.build.steps[3].script: must be a string or a list of command lines',
      'line 21: stages[0].jobs.build.steps[4].build.target: must be a string',
    ],
  );
});

test('unknown step kinds and unknown fields, with suggestions', () => {
  assert.deepEqual(
    errorsOf(`jobs:
  a:
    steps:
      - scrip: make
      - name: only a name
      - deploy: {to: prod}
      - script: x
        build: {}
      - "just text"
      - script: x
        imgae: node
      - build: {dockerfle: D}
`),
    [
      'line 4: jobs.a.steps[0].scrip: unknown step kind (did you mean script? expected one of checkout, script, build, push)',
      'line 5: jobs.a.steps[1]: a step needs a kind: expected one of checkout, script, build, push',
      'line 6: jobs.a.steps[2].deploy: unknown step kind (expected one of checkout, script, build, push)',
      'line 8: jobs.a.steps[3].build: a step has one kind, and this one is already a script step',
      'line 9: jobs.a.steps[4]: must be a mapping such as {script: make test}',
      'line 11: jobs.a.steps[5].imgae: unknown field (did you mean image?)',
      'line 12: jobs.a.steps[6].build.dockerfle: unknown field (did you mean dockerfile?)',
    ],
  );
  assert.deepEqual(
    errorsOf(`stages:
  - name: s
    jobs:
      a:
        need: [b]
        steps:
          - script: x
    when: {brnch: main}
jobz: {}
`),
    [
      'line 5: stages[0].jobs.a.need: unknown field (did you mean needs?)',
      'line 8: stages[0].when.brnch: unknown field (did you mean branch?)',
      'line 9: jobz: unknown field (did you mean jobs?)',
    ],
  );
});

test('needs: unknown jobs, itself, a later stage, cycles', () => {
  assert.deepEqual(
    errorsOf(`clone: false
stages:
  - name: one
    jobs:
      a: {needs: [ghost, later], steps: [{script: x}]}
      b: {needs: b, steps: [{script: x}]}
      c: {needs: [3], steps: [{script: x}]}
  - name: two
    jobs:
      later: {steps: [{script: x}]}
      x: {needs: [y], steps: [{script: x}]}
      y: {needs: [x], steps: [{script: x}]}
`),
    [
      'line 5: stages[0].jobs.a.needs[0]: needs unknown job "ghost"',
      'line 5: stages[0].jobs.a.needs[1]: needs job "later" of a later stage',
      'line 6: stages[0].jobs.b.needs: job "b" cannot need itself',
      'line 7: stages[0].jobs.c.needs[0]: must be a job name',
      'line 11: stages[1].jobs.x.needs: needs form a cycle: x needs y, y needs x',
    ],
  );
  assert.deepEqual(errorsOf(fixture('invalid-needs-cycle.yml')), [
    'line 4: jobs.a.needs: needs form a cycle: a needs c, c needs b, b needs a',
  ]);
});

test('bad globs and unknown events', () => {
  assert.deepEqual(
    errorsOf(`when:
  branch: ["main", "feature/[x"]
  paths: {include: ["{a,b"], exclude: ["ok/**"], only: x}
  event: [push, pusj, deploy]
  tag: ["v\\\\"]
jobs:
  a:
    when: {branch: [[nested]], event: {include: 3.5}}
    steps: [{script: x}]
`),
    [
      'line 2: when.branch[1]: invalid glob "feature/[x": unclosed "[" at position 9',
      'line 3: when.paths.only: unknown field',
      'line 3: when.paths.include[0]: invalid glob "{a,b": unclosed "{" at position 1',
      'line 4: when.event[1]: unknown event "pusj" (did you mean push? expected one of push, tag, pull_request, manual, cron, image, pipeline)',
      'line 4: when.event[2]: unknown event "deploy" (expected one of push, tag, pull_request, manual, cron, image, pipeline)',
      'line 5: when.tag[0]: invalid glob "v\\": pattern ends with an escape "\\"',
      'line 8: jobs.a.when.branch[0]: must be a string',
      'line 8: jobs.a.when.event.include: unknown event "3.5" (expected one of push, tag, pull_request, manual, cron, image, pipeline)',
    ],
  );
});

test('names, variables, secrets, paths, registries and limits', () => {
  assert.deepEqual(
    errorsOf(`jobs:
  clone: {steps: [{script: x}]}
  a:
    env: {SLIPWAY_X: 1, "1BAD": x, CI: "true", OK: 1.10}
    secrets: {OK: s, T: {secret: x, key: y, extra: 1}, U: 7}
    timeout: 0s
    steps:
      - build: {context: ../outside, dockerfile: /etc/passwd}
      - push: {repository: a/b, tags: [x], credentials: c}
      - checkout: {depth: 0}
  b:
    steps:
      - push: {repository: a/b, tags: [x]}
  "bad name!": {steps: [{script: x}]}
`),
    [
      'line 2: jobs.clone: the name "clone" belongs to the clone job (set clone: false to use it)',
      'line 4: jobs.a.env.SLIPWAY_X: SLIPWAY_X is set by Slipway',
      'line 4: jobs.a.env["1BAD"]: "1BAD" is not a variable name (letters, digits and "_", not starting with a digit)',
      'line 4: jobs.a.env.CI: CI is set by Slipway',
      'line 5: jobs.a.secrets.T.extra: unknown field',
      'line 5: jobs.a.secrets.U: must be a secret name or a mapping with secret and key',
      'line 5: jobs.a.secrets.OK: OK is also set in env',
      'line 6: jobs.a.timeout: must be longer than 0s',
      'line 8: jobs.a.steps[0].build.context: "../outside" must be a relative path inside the workspace',
      'line 8: jobs.a.steps[0].build.dockerfile: "/etc/passwd" must be a relative path inside the workspace',
      "line 9: jobs.a.steps[1].push.credentials: only for an external registry: Slipway's own registry is reached with a token of the run",
      'line 10: jobs.a.steps[2].checkout.depth: must be at least 1',
      'line 13: jobs.b.steps[0].push.image: is required: no build step before this one in the job',
      'line 14: jobs["bad name!"]: job name "bad name!" must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
    ],
  );
});

test('empty stages, jobs and steps; duplicate stage names; one error for a build in error and its push', () => {
  assert.deepEqual(
    errorsOf(`stages:
  - name: a
    jobs: {}
  - name: b
    jobs:
      x: {steps: []}
      y: {}
      z: 3
  - name: b
    jobs:
      w:
        steps:
          - build: {tags: "web"}
          - push: {repository: team/web, tags: [latest]}
  - jobs: {v: {steps: [{script: x}]}}
`),
    [
      'line 3: stages[0].jobs: must not be empty',
      'line 6: stages[1].jobs.x.steps: must not be empty',
      'line 7: stages[1].jobs.y.steps: is required',
      'line 8: stages[1].jobs.z: must be a mapping with steps',
      'line 9: stages[2].name: stage name "b" is used twice',
      'line 13: stages[2].jobs.w.steps[0].build.tags: must be a list',
      'line 15: stages[3].name: is required',
    ],
  );
});

test('values keep their written form; a job image applies to its script steps only', () => {
  const { pipeline } = parseSlipwayPipeline(`
jobs:
  a:
    image: alpine:3
    env: {VERSION: 1.10, ON: true, EMPTY: }
    steps:
      - script: echo
      - image: busybox
        script: echo
      - build: {args: {N: 007}}
`);
  const a = jobOf(pipeline, 'a');
  assert.deepEqual(a.env, { VERSION: '1.10', ON: 'true', EMPTY: '' });
  assert.deepEqual(
    a.steps.map((s) => (s.kind === 'script-in-image' ? s.image : s.kind)),
    ['alpine:3', 'busybox', 'build-image'],
  );
  assert.deepEqual(a.steps[2]?.kind === 'build-image' && a.steps[2].buildArgs, { N: '007' });
});

test('anchors under top-level "." keys merge into jobs, and errors inside merged jobs keep their lines', () => {
  const text = `.node: &node
  image: node:20
  retries: 1
jobs:
  a:
    <<: *node
    steps: [{script: x}]
  b:
    <<: *node
    imgae: x
    steps: [{script: 1}]
`;
  assert.deepEqual(errorsOf(text), [
    'line 10: jobs.b.imgae: unknown field (did you mean image?)',
    'line 11: jobs.b.steps[0].script: must be a string or a list of command lines',
  ]);
  const { pipeline } = parseSlipwayPipeline(
    text.replace('    imgae: x\n', '').replace('script: 1', 'script: y'),
  );
  assert.deepEqual(
    pipeline.stages[1]?.jobs.map((j) => [
      j.name,
      j.retries,
      j.steps[0]?.kind === 'script-in-image' && j.steps[0].image,
    ]),
    [
      ['a', 1, 'node:20'],
      ['b', 1, 'node:20'],
    ],
  );
});
