import type { RunDetail } from '../../src/runs/index.js';
import { isTerminal } from '../../src/runs/states.js';
import type { TestServer } from './server.js';

/** Polls the run through the services until it is in a terminal state; throws after timeoutMs. */
export async function waitForRunEnd(
  server: TestServer,
  runId: string,
  timeoutMs = 30_000,
): Promise<RunDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await server.services.runs.getRun(runId);
    if (isTerminal(run.state)) return run;
    if (Date.now() > deadline) throw new Error(`run did not end: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `probe` every 50 ms until it answers something; throws "timed out waiting for <what>" after ms. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
