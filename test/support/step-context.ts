import { anonymous } from '../../src/identity/index.js';
import type { LogChunk } from '../../src/runs/executor.js';
import type { StepContext } from '../../src/runs/step-runner.js';

/** A StepContext to call one step runner directly on `workspace` (a push of `commit` from `repoUrl`); its log kept. */
export function directStepContext(
  workspace: string,
  trigger: { commit: string; repoUrl: string },
  overrides: Partial<StepContext> = {},
): { ctx: StepContext; log: () => string } {
  const chunks: LogChunk[] = [];
  const ctx: StepContext = {
    runId: 'run1',
    jobId: 'job1',
    stepId: 'step1',
    workspace,
    env: {},
    variables: {},
    signal: new AbortController().signal,
    timeoutMs: 60_000,
    sink: (chunk) => chunks.push(chunk),
    registryHost: '127.0.0.1:5000',
    pipeline: { id: 'p1', name: 'p', namespace: 'admin' },
    run: { number: 1 },
    job: { name: 'j' },
    step: { index: 0, name: 'checkout' },
    trigger: { event: 'push', branch: 'main', ...trigger },
    actor: anonymous,
    ...overrides,
  };
  return { ctx, log: () => Buffer.concat(chunks.map((chunk) => chunk.data)).toString('utf8') };
}
