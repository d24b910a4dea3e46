/**
 * The `checkout` step: system git fetches exactly the triggering commit (`TriggerContext.commit`) of the
 * pipeline's source repository (`TriggerContext.repoUrl`) into the job's workspace and checks it out detached:
 * `git init`, `git fetch [--depth N] origin <commit>`, `git checkout --detach FETCH_HEAD`. Servers that refuse
 * fetching by sha (uploadpack.allowReachableSHA1InWant off) get the trigger's ref instead, then every branch and
 * tag, and the commit is checked out from what arrived.
 *
 * Every git call runs through `runProcessGroup`: output streamed to the step's sink, killed with its process tree
 * on cancel and timeout. Credentials: none yet (public, `file://` and local path URLs); a URL's user info is never
 * written to the log (`redactUrl`), and git never prompts (GIT_TERMINAL_PROMPT=0).
 */
import { mkdir } from 'node:fs/promises';
import { systemClock, type Clock } from '../../platform/clock.js';
import { beginExecution, type StepEnd } from '../executor.js';
import { endOf, runProcessGroup, workspaceProblem } from '../executors/local.executor.js';
import { gitRef, type CheckoutStep } from '../model.js';
import type { StepRunner } from '../step-runner.js';

export interface CheckoutStepOptions {
  /** Default `git` on PATH. */
  git?: string;
  /** Between SIGTERM and SIGKILL when the step is ended. Default 5000 ms. */
  graceMs?: number;
  /** The environment git starts from. Default: PATH, HOME, LANG, TMPDIR of this process. */
  baseEnv?: Readonly<Record<string, string>>;
  clock?: Clock;
}

const FULL_COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** `https://user:token@host/x.git` → `https://***@host/x.git`; anything else unchanged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

export function checkoutStepRunner(options: CheckoutStepOptions = {}): StepRunner<CheckoutStep> {
  const clock = options.clock ?? systemClock;
  const graceMs = options.graceMs ?? 5000;
  const git = options.git ?? 'git';
  const baseEnv = options.baseEnv ?? pick(process.env, ['PATH', 'HOME', 'LANG', 'TMPDIR']);
  return async (step, ctx) => {
    const scope = beginExecution(ctx.sink, () => clock.now());
    if (ctx.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    const started = clock.now();
    const note = (line: string) => scope.emit('stderr', Buffer.from(`[checkout] ${line}\n`));
    const { repoUrl, commit } = ctx.trigger;
    const problem =
      (await workspaceProblem(ctx.workspace)) ??
      (repoUrl === '' ? 'the run has no source repository' : undefined) ??
      (repoUrl.startsWith('-') ? `invalid repository URL: ${redactUrl(repoUrl)}` : undefined) ??
      (!FULL_COMMIT.test(commit) ? `not a full commit id: ${JSON.stringify(commit)}` : undefined) ??
      (step.depth !== undefined && !(Number.isInteger(step.depth) && step.depth > 0)
        ? `invalid depth: ${step.depth}`
        : undefined);
    if (problem !== undefined) return scope.finish({ outcome: 'error', exitCode: null, error: problem });

    const redacted = redactUrl(repoUrl);
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      GIT_CONFIG_NOSYSTEM: '1',
      LC_ALL: 'C',
    };
    const runGit = async (args: string[]): Promise<StepEnd> => {
      const remaining = ctx.timeoutMs - (clock.now() - started);
      if (remaining <= 0) return { outcome: 'timed_out', exitCode: null, error: 'timed out' };
      // Whatever git prints about the URL (errors, "From ...") is redacted.
      const onOutput = (stream: 'stdout' | 'stderr', data: Buffer) =>
        scope.emit(stream, Buffer.from(data.toString('utf8').split(repoUrl).join(redacted)));
      return endOf(
        await runProcessGroup({
          command: git,
          args,
          cwd: ctx.workspace,
          env,
          timeoutMs: remaining,
          signal: ctx.signal,
          graceMs,
          onOutput,
        }),
        git,
      );
    };
    const failed = (end: StepEnd, what: string): StepEnd =>
      end.outcome === 'failed' ? { ...end, error: `${what}: ${end.error ?? 'failed'}` } : end;

    await mkdir(ctx.workspace, { recursive: true });
    note(`fetching ${commit} from ${redacted}${step.depth ? ` (depth ${step.depth})` : ''}`);
    const depth = step.depth ? [`--depth=${step.depth}`] : [];
    const fetch = ['fetch', '--no-tags', '--prune', ...depth, 'origin'];
    for (const args of [
      ['init', '--quiet', '.'],
      ['config', 'remote.origin.url', repoUrl],
    ]) {
      const end = await runGit(args);
      if (end.outcome !== 'success') return scope.finish(failed(end, `git ${args[0]}`));
    }
    let end = await runGit([...fetch, commit]);
    let checkoutOf = 'FETCH_HEAD';
    if (end.outcome === 'failed') {
      // The server does not let us ask for a sha: fetch the trigger's ref, or everything, and pick the commit.
      note('the server refused fetching by commit id; fetching the ref instead');
      const ref = gitRef(ctx.trigger);
      const refspecs = ref
        ? [`+${ref}:refs/remotes/origin/trigger`]
        : ['+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'];
      end = await runGit([...fetch.filter((arg) => !arg.startsWith('--depth')), ...refspecs]);
      if (end.outcome === 'failed' && ref) {
        note(`fetching ${ref} failed; fetching all branches and tags`);
        end = await runGit([
          ...fetch.filter((arg) => !arg.startsWith('--depth')),
          '+refs/heads/*:refs/remotes/origin/*',
          '+refs/tags/*:refs/tags/*',
        ]);
      }
      checkoutOf = commit;
    }
    if (end.outcome !== 'success') return scope.finish(failed(end, 'git fetch'));
    end = await runGit(['checkout', '--quiet', '--force', '--detach', checkoutOf]);
    if (end.outcome !== 'success') return scope.finish(failed(end, 'git checkout'));
    // FETCH_HEAD is what the server sent for the sha; make sure it is the commit itself.
    const head: Buffer[] = [];
    const verify = await runProcessGroup({
      command: git,
      args: ['rev-parse', 'HEAD'],
      cwd: ctx.workspace,
      env,
      timeoutMs: 30_000,
      signal: ctx.signal,
      graceMs,
      onOutput: (stream, data) => {
        if (stream === 'stdout') head.push(data);
      },
    });
    const actual = Buffer.concat(head).toString('utf8').trim();
    if (verify.end !== 'exited' || verify.exitCode !== 0) return scope.finish(endOf(verify, git));
    if (actual !== commit) {
      return scope.finish({
        outcome: 'failed',
        exitCode: null,
        error: `checked out ${actual}, expected ${commit}`,
      });
    }
    note(`HEAD is now ${commit}`);
    return scope.finish({ outcome: 'success', exitCode: 0 });
  };
}

/** For the engine's `stepRunners`. */
export function checkoutStepRunners(options: CheckoutStepOptions = {}): {
  checkout: StepRunner<CheckoutStep>;
} {
  return { checkout: checkoutStepRunner(options) };
}

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
