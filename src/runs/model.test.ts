import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateWhen,
  expandVariables,
  explainWhen,
  gitRef,
  globError,
  InvalidPipeline,
  matchGlob,
  plan,
  repositoryName,
  runEnvironment,
  validatePipeline,
  type Job,
  type Pipeline,
  type Stage,
  type TriggerContext,
  type When,
} from './model.js';

function job(name: string, fields: Partial<Job> = {}): Job {
  return {
    name,
    needs: [],
    when: {},
    env: {},
    secrets: [],
    retries: 0,
    steps: [{ kind: 'script', name: 'run', script: 'exit 0' }],
    ...fields,
  };
}

function stage(name: string, jobs: Job[], when: When = {}): Stage {
  return { name, when, jobs };
}

function pipeline(stages: Stage[], fields: Partial<Pipeline> = {}): Pipeline {
  return {
    name: 'p',
    dialect: 'slipway',
    when: {},
    timeoutSeconds: 3600,
    secretsOnPullRequest: false,
    stages,
    ...fields,
  };
}

function context(fields: Partial<TriggerContext> = {}): TriggerContext {
  return {
    event: 'push',
    branch: 'main',
    commit: '0123456789abcdef',
    repoUrl: 'https://git.example.com/team/app.git',
    ...fields,
  };
}

test('globs: * stays in a segment, ** crosses them, classes, alternatives and escapes', () => {
  const table: [pattern: string, value: string, expected: boolean][] = [
    ['main', 'main', true],
    ['main', 'main2', false],
    ['feature/*', 'feature/login', true],
    ['feature/*', 'feature/login/ui', false],
    ['feature/**', 'feature/login/ui', true],
    ['**', 'a/b/c', true],
    ['src/**/*.ts', 'src/a.ts', true],
    ['src/**/*.ts', 'src/a/b/c.ts', true],
    ['src/**/*.ts', 'src/a.js', false],
    ['**/*.md', 'README.md', true],
    ['**/*.md', 'docs/x/y.md', true],
    ['*.md', 'docs/y.md', false],
    ['v?', 'v1', true],
    ['v?', 'v10', false],
    ['v[0-9]*', 'v2.1', true],
    ['v[0-9]*', 'vx', false],
    ['[!a]x', 'bx', true],
    ['[^a]x', 'ax', false],
    ['{main,dev}', 'dev', true],
    ['{main,dev}', 'test', false],
    ['release/{v1,v2}.*', 'release/v2.3', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a.b', 'axb', false],
    ['(x)+', '(x)+', true],
    ['$x^', '$x^', true],
  ];
  for (const [pattern, value, expected] of table) {
    assert.equal(matchGlob(pattern, value), expected, `${pattern} ~ ${value}`);
  }
});

test('globs: invalid patterns are named', () => {
  assert.equal(globError('feature/*'), undefined);
  assert.match(globError('[abc') ?? '', /unclosed "\["/);
  assert.match(globError('[]') ?? '', /unclosed "\["|empty character class/);
  assert.match(globError('{a,b') ?? '', /unclosed "\{"/);
  assert.match(globError('a\\') ?? '', /escape/);
  assert.match(globError('[z-a]') ?? '', /bad range/);
  assert.match(globError('') ?? '', /empty pattern/);
});

test('evaluateWhen: each condition against the trigger context', () => {
  const table: [when: When, ctx: Partial<TriggerContext>, expected: boolean][] = [
    [{}, {}, true],
    [{ branch: { include: ['main'], exclude: [] } }, { branch: 'main' }, true],
    [{ branch: { include: ['main'], exclude: [] } }, { branch: 'dev' }, false],
    [{ branch: { include: [], exclude: ['dev'] } }, { branch: 'main' }, true],
    [{ branch: { include: [], exclude: ['dev'] } }, { branch: 'dev' }, false],
    [{ branch: { include: ['feature/*'], exclude: ['feature/wip'] } }, { branch: 'feature/wip' }, false],
    [{ branch: { include: ['feature/*'], exclude: ['feature/wip'] } }, { branch: 'feature/x' }, true],
    // A tag event has no branch: an include fails, an exclude alone holds.
    [{ branch: { include: ['main'], exclude: [] } }, { event: 'tag', branch: undefined, tag: 'v1' }, false],
    [{ branch: { include: [], exclude: ['dev'] } }, { event: 'tag', branch: undefined, tag: 'v1' }, true],
    // Rancher: branch conditions see the tag name of a tag event.
    [
      { branch: { include: ['v*'], exclude: [] }, tagAsBranch: true },
      { event: 'tag', branch: undefined, tag: 'v1' },
      true,
    ],
    [{ tag: { include: ['v*'], exclude: [] } }, { event: 'tag', tag: 'v1.2' }, true],
    [{ tag: { include: ['v*'], exclude: [] } }, { event: 'tag', tag: 'nightly' }, false],
    [{ tag: { include: ['v*'], exclude: [] } }, { event: 'push' }, false],
    [{ event: { include: ['push', 'tag'], exclude: [] } }, { event: 'push' }, true],
    [{ event: { include: ['push', 'tag'], exclude: [] } }, { event: 'pull_request' }, false],
    [{ event: { include: [], exclude: ['cron'] } }, { event: 'cron' }, false],
    [{ event: { include: [], exclude: ['cron'] } }, { event: 'manual' }, true],
    [{ paths: { include: ['docs/**'], exclude: [] } }, { changedFiles: ['docs/a.md', 'src/x.ts'] }, true],
    [{ paths: { include: ['docs/**'], exclude: [] } }, { changedFiles: ['src/x.ts'] }, false],
    [{ paths: { include: ['docs/**'], exclude: [] } }, { changedFiles: [] }, false],
    // Unknown changed files: the condition holds (a manual run builds everything).
    [{ paths: { include: ['docs/**'], exclude: [] } }, { changedFiles: undefined }, true],
    [
      { paths: { include: ['docs/**'], exclude: ['docs/drafts/**'] } },
      { changedFiles: ['docs/drafts/a.md'] },
      false,
    ],
    [{ paths: { include: [], exclude: ['**/*.md'] } }, { changedFiles: ['a.md', 'b.ts'] }, true],
    [{ paths: { include: [], exclude: ['**/*.md'] } }, { changedFiles: ['a.md'] }, false],
    [
      { branch: { include: ['main'], exclude: [] }, event: { include: ['push'], exclude: [] } },
      { branch: 'main', event: 'manual' },
      false,
    ],
  ];
  for (const [when, fields, expected] of table) {
    assert.equal(
      evaluateWhen(when, context(fields)),
      expected,
      `${JSON.stringify(when)} ${JSON.stringify(fields)}`,
    );
  }
});

test('explainWhen says which condition failed', () => {
  assert.equal(explainWhen({}, context()), undefined);
  assert.equal(
    explainWhen({ branch: { include: ['main', 'release/*'], exclude: [] } }, context({ branch: 'dev' })),
    'branch dev does not match [main, release/*]',
  );
  assert.equal(
    explainWhen({ branch: { include: ['main'], exclude: [] } }, context({ event: 'tag', branch: undefined })),
    'no branch to match [main]',
  );
  assert.equal(
    explainWhen({ event: { include: [], exclude: ['pull_request'] } }, context({ event: 'pull_request' })),
    'event pull_request does not match not [pull_request]',
  );
  assert.equal(
    explainWhen({ paths: { include: ['docs/**'], exclude: ['docs/x'] } }, context({ changedFiles: ['a'] })),
    'no changed file matches [docs/**] and not [docs/x]',
  );
});

test('validatePipeline: unknown, self, later-stage and cyclic needs; duplicate and malformed names', () => {
  const issues = validatePipeline(
    pipeline([
      stage('one', [
        job('a', { needs: ['ghost'] }),
        job('b', { needs: ['b'] }),
        job('c', { needs: ['late'] }),
        job('x', { needs: ['y'] }),
        job('y', { needs: ['z'] }),
        job('z', { needs: ['x'] }),
      ]),
      stage('two', [job('late'), job('a'), job('bad name')]),
    ]),
  );
  const messages = issues.map((i) => `${i.stage}/${i.job}/${i.field.join('.')}: ${i.message}`);
  assert.deepEqual(messages, [
    '1/1/name: job name "a" is used twice',
    '1/2/name: job name "bad name" must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
    '0/0/needs.0: needs unknown job "ghost"',
    '0/1/needs.0: job "b" cannot need itself',
    '0/2/needs.0: needs job "late" of a later stage',
    '0/3/needs: needs form a cycle: x needs y, y needs z, z needs x',
  ]);
});

test('validatePipeline: empty parts, limits, bad globs and events', () => {
  const bad = pipeline(
    [
      stage('empty', []),
      stage(
        's',
        [
          job('a', {
            steps: [],
            retries: 11,
            timeoutSeconds: 0,
            when: { tag: { include: ['[x'], exclude: [] } },
          }),
        ],
        {
          event: { include: ['push'], exclude: ['bogus' as never] },
        },
      ),
    ],
    { timeoutSeconds: -1 },
  );
  const messages = validatePipeline(bad).map(
    (i) => `${i.stage ?? '-'}/${i.job ?? '-'}/${i.field.join('.')}: ${i.message}`,
  );
  assert.deepEqual(messages, [
    '-/-/timeoutSeconds: must be a positive number of seconds',
    '0/-/jobs: at least one job is required',
    '1/-/when.event.exclude.0: unknown event "bogus"',
    '1/0/steps: at least one step is required',
    '1/0/retries: must be an integer from 0 to 10',
    '1/0/timeoutSeconds: must be a positive number of seconds',
    '1/0/when.tag.include.0: invalid glob "[x": unclosed "[" at position 1',
  ]);
  assert.deepEqual(
    validatePipeline(pipeline([])).map((i) => i.message),
    ['at least one stage is required'],
  );
});

/** A pipeline shaped like test/runs/fixtures/slipway-stages.yml, to plan against many contexts. */
const STAGED = pipeline([
  stage('build', [job('compile'), job('assets')]),
  stage('test', [
    job('integration', { needs: ['unit'] }),
    job('unit', { retries: 2 }),
    job('docs', { when: { paths: { include: ['docs/**'], exclude: [] } } }),
    job('docs-publish', { needs: ['docs'] }),
  ]),
  stage(
    'release',
    [
      job('package', {
        needs: ['compile', 'integration'],
        secrets: [{ env: 'TOKEN', secret: 'release', key: 'token' }],
      }),
      job('announce', { when: { event: { include: [], exclude: ['manual'] } } }),
    ],
    {
      branch: { include: ['main'], exclude: [] },
      event: { include: ['push', 'manual', 'pull_request'], exclude: [] },
    },
  ),
]);

function summary(fields: Partial<TriggerContext>, p: Pipeline = STAGED): string[] {
  return plan(p, context(fields)).jobs.map((j) =>
    j.status === 'run'
      ? `${j.job.name} after [${j.waitsFor.join(' ')}]${j.withholdSecrets ? ' without secrets' : ''}`
      : `${j.job.name} skipped (${j.reason.kind}: ${j.reason.message})`,
  );
}

test('plan: stage order, needs order inside a stage, waits, and skips with reasons', () => {
  const table: [fields: Partial<TriggerContext>, expected: string[]][] = [
    [
      { event: 'push', branch: 'main', changedFiles: ['docs/index.md'] },
      [
        'compile after []',
        'assets after []',
        'unit after [compile assets]',
        'integration after [unit compile assets]',
        'docs after [compile assets]',
        'docs-publish after [docs compile assets]',
        'package after [compile integration unit docs docs-publish]',
        'announce after [unit integration docs docs-publish]',
      ],
    ],
    [
      { event: 'push', branch: 'main', changedFiles: ['src/a.ts'] },
      [
        'compile after []',
        'assets after []',
        'unit after [compile assets]',
        'integration after [unit compile assets]',
        'docs skipped (job-when: no changed file matches [docs/**])',
        'docs-publish skipped (needs-skipped: needs skipped job "docs")',
        'package after [compile integration unit]',
        'announce after [unit integration]',
      ],
    ],
    [
      { event: 'manual', branch: 'main' },
      [
        'compile after []',
        'assets after []',
        'unit after [compile assets]',
        'integration after [unit compile assets]',
        'docs after [compile assets]',
        'docs-publish after [docs compile assets]',
        'package after [compile integration unit docs docs-publish]',
        'announce skipped (job-when: event manual does not match not [manual])',
      ],
    ],
    [
      { event: 'push', branch: 'dev', changedFiles: [] },
      [
        'compile after []',
        'assets after []',
        'unit after [compile assets]',
        'integration after [unit compile assets]',
        'docs skipped (job-when: no changed file matches [docs/**])',
        'docs-publish skipped (needs-skipped: needs skipped job "docs")',
        'package skipped (stage-when: branch dev does not match [main])',
        'announce skipped (stage-when: branch dev does not match [main])',
      ],
    ],
    [
      { event: 'pull_request', branch: 'main', changedFiles: ['src/a.ts'] },
      [
        'compile after []',
        'assets after []',
        'unit after [compile assets]',
        'integration after [unit compile assets]',
        'docs skipped (job-when: no changed file matches [docs/**])',
        'docs-publish skipped (needs-skipped: needs skipped job "docs")',
        'package after [compile integration unit] without secrets',
        'announce after [unit integration]',
      ],
    ],
  ];
  for (const [fields, expected] of table) assert.deepEqual(summary(fields), expected, JSON.stringify(fields));
});

test('plan: secrets reach pull requests only when the pipeline allows it', () => {
  const allowed = { ...STAGED, secretsOnPullRequest: true };
  const rows = summary({ event: 'pull_request', branch: 'main', changedFiles: ['src/a.ts'] }, allowed);
  assert.equal(rows[6], 'package after [compile integration unit]');
});

test('plan: a pipeline whose own when fails is not triggered and skips everything', () => {
  const gated = { ...STAGED, when: { branch: { include: ['main'], exclude: [] } } };
  const result = plan(gated, context({ branch: 'feature/x' }));
  assert.equal(result.triggered, false);
  assert.equal(result.reason, 'branch feature/x does not match [main]');
  assert.ok(result.jobs.every((j) => j.status === 'skip' && j.reason.kind === 'pipeline-when'));
  assert.equal(result.jobs.length, 8);
  assert.equal(plan(gated, context()).triggered, true);
});

test('plan: a stage with nothing to run leaves the wait on the stage before it', () => {
  const p = pipeline([
    stage('a', [job('first')]),
    stage('b', [job('never', { when: { event: { include: ['cron'], exclude: [] } } })]),
    stage('c', [job('last')]),
  ]);
  assert.deepEqual(summary({}, p), [
    'first after []',
    'never skipped (job-when: event push does not match [cron])',
    'last after [first]',
  ]);
});

test('plan refuses an invalid pipeline', () => {
  const cyclic = pipeline([stage('s', [job('a', { needs: ['b'] }), job('b', { needs: ['a'] })])]);
  assert.throws(
    () => plan(cyclic, context()),
    (error: unknown) =>
      error instanceof InvalidPipeline &&
      error.code === 'PIPELINE_INVALID' &&
      error.issues.some((i) => i.message === 'needs form a cycle: a needs b, b needs a'),
  );
});

test('expandVariables replaces known ${NAME} only', () => {
  assert.equal(expandVariables('${A}-${B}:${A}', { A: 'x', B: '' }), 'x-:x');
  assert.equal(expandVariables('${UNKNOWN} $A ${A', { A: 'x' }), '${UNKNOWN} $A ${A');
  assert.equal(expandVariables('${toString}', {}), '${toString}');
});

test('gitRef and repositoryName derive from the context', () => {
  assert.equal(gitRef(context()), 'refs/heads/main');
  assert.equal(gitRef(context({ event: 'tag', branch: undefined, tag: 'v1' })), 'refs/tags/v1');
  assert.equal(gitRef(context({ ref: 'refs/pull/7/head' })), 'refs/pull/7/head');
  assert.equal(gitRef(context({ branch: undefined })), '');
  assert.equal(repositoryName('https://git.example.com/team/app.git'), 'app');
  assert.equal(repositoryName('https://git.example.com/team/app/'), 'app');
  assert.equal(repositoryName('git@github.com:team/app.git'), 'app');
});

test('runEnvironment gives every job the SLIPWAY_* variables', () => {
  assert.deepEqual(
    runEnvironment(context({ event: 'tag', branch: undefined, tag: 'v1.0' }), {
      pipelineId: 'pl-1',
      number: 42,
      registry: 'localhost:5000',
    }),
    {
      CI: 'true',
      SLIPWAY_EVENT: 'tag',
      SLIPWAY_BRANCH: '',
      SLIPWAY_TAG: 'v1.0',
      SLIPWAY_REF: 'refs/tags/v1.0',
      SLIPWAY_COMMIT: '0123456789abcdef',
      SLIPWAY_COMMIT_SHORT: '0123456',
      SLIPWAY_REPO_URL: 'https://git.example.com/team/app.git',
      SLIPWAY_REPO_NAME: 'app',
      SLIPWAY_PIPELINE_ID: 'pl-1',
      SLIPWAY_RUN_NUMBER: '42',
      SLIPWAY_REGISTRY: 'localhost:5000',
    },
  );
});
