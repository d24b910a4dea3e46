import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseSlipwayPipeline } from '../../src/runs/definition/slipway-yaml.js';

/** The README's pipeline example must stay a valid pipeline: users copy it. */
test('the pipeline file in the README parses without warnings', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```yaml\n(# \.slipway\.yml\n[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README shows a .slipway.yml');
  const { pipeline, warnings } = parseSlipwayPipeline(block, { file: '.slipway.yml' });
  assert.deepEqual(warnings, []);
  assert.equal(pipeline.name, 'web');
  assert.deepEqual(
    pipeline.stages.map((s) => [s.name, s.jobs.map((j) => j.name)]),
    [
      ['clone', ['clone']],
      ['test', ['unit', 'lint']],
      ['image', ['build']],
    ],
  );
  const build = pipeline.stages[2]!.jobs[0]!;
  assert.deepEqual(
    build.steps.map((s) => s.kind),
    ['build-image', 'push-image'],
  );
  assert.deepEqual(pipeline.stages[1]!.jobs[0]!.secrets, [
    { env: 'NPM_TOKEN', secret: 'npm', key: 'NPM_TOKEN' },
  ]);
});
