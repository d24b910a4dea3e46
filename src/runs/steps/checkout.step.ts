/**
 * The `checkout` step: system git fetches exactly the triggering commit (`TriggerContext.commit`) of the
 * pipeline's source repository (`TriggerContext.repoUrl`) into the job's workspace and checks it out detached:
 * `git init`, `git fetch [--depth N] origin <commit>`, `git checkout --detach FETCH_HEAD`. Servers that refuse
 * fetching by sha (uploadpack.allowReachableSHA1InWant off) get the trigger's ref instead, then every branch and
 * tag, and the commit is checked out from what arrived.
 *
 * Every git call runs through `runProcessGroup`: output streamed to the step's sink, killed with its process tree
 * on cancel and timeout. A URL's user info is never written to the log (`redactUrl`), and git never prompts
 * (GIT_TERMINAL_PROMPT=0).
 *
 * Outbound: with `options.outbound`, the clone URL must pass `checkRemote` (local paths count as loopback; an
 * http(s) host is pinned to the addresses checked). Credentials (`step.credentials`, a git credential of the
 * pipeline's namespace) are given to git by `gitAuth` (src/runs/git/auth.ts), as for every other git call:
 * never in argv, the URL, the log or the workspace; an ssh key's temporary directory is outside the workspace
 * and removed when the step ends. A failed git call's reason ends with git's last `fatal:`/`error:` line.
 */
import { mkdir } from 'node:fs/promises';
import { Invalid } from '../../platform/errors.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import { systemClock, type Clock } from '../../platform/clock.js';
import { beginExecution, type StepEnd } from '../executor.js';
import { endOf, runProcessGroup, workspaceProblem } from '../executors/local.executor.js';
import { gitRef, type CheckoutStep } from '../model.js';
import type { StepRunner } from '../step-runner.js';
import type { GitCredential } from '../credentials/index.js';
import {
  checkRemote,
  GitAuthProblem,
  gitAuth,
  gitEnvironment,
  hideSecrets,
  redactUrl,
  type GitAuth,
} from '../git/index.js';

/** The git credential `name` of `namespace`, opened; undefined when there is none. */
export type GitCredentialResolver = (namespace: string, name: string) => Promise<GitCredential | undefined>;

export interface CheckoutStepOptions {
  /** Default `git` on PATH. */
  git?: string;
  /** Between SIGTERM and SIGKILL when the step is ended. Default 5000 ms. */
  graceMs?: number;
  /** The environment git starts from. Default: PATH, HOME, LANG, TMPDIR of this process. */
  baseEnv?: Readonly<Record<string, string>>;
  clock?: Clock;
  /** Clone URLs must pass this policy; absent: every URL is cloned (`slipway run`, unit tests). */
  outbound?: OutboundPolicy;
  /** Where `step.credentials` is looked up; absent: steps that name credentials end in error. */
  credentials?: GitCredentialResolver;
  /** Parent of the temporary directories of ssh keys. Default: the system's temporary directory. */
  tempDir?: string;
}

const FULL_COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

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
    let pin: Array<[string, string]> = [];
    if (options.outbound) {
      try {
        pin = await checkRemote(options.outbound, repoUrl);
      } catch (error) {
        const why = error instanceof Invalid ? error.message : `cannot check the clone URL: ${String(error)}`;
        return scope.finish({ outcome: 'error', exitCode: null, error: why });
      }
    }
    let auth: GitAuth | undefined;
    if (step.credentials !== undefined) {
      const prepared = await stepAuth(step.credentials, repoUrl, ctx.pipeline.namespace, options);
      if (typeof prepared === 'string')
        return scope.finish({ outcome: 'error', exitCode: null, error: prepared });
      auth = prepared;
    }
    try {
      const redacted = redactUrl(repoUrl);
      // Configuration for this step's calls goes after any the base environment gives (GIT_CONFIG_COUNT/KEY/VALUE).
      const env = gitEnvironment(baseEnv, auth, pin);
      // Whatever git prints about the URL or the credential (errors, "From ...") is redacted.
      const hide = (text: string): string => hideSecrets(text, repoUrl, auth);
      // The end of git's stderr, for the step's reason: "git fetch: …: fatal: Authentication failed for …".
      let stderrTail = '';
      const runGit = async (args: string[]): Promise<StepEnd> => {
        const remaining = ctx.timeoutMs - (clock.now() - started);
        if (remaining <= 0) return { outcome: 'timed_out', exitCode: null, error: 'timed out' };
        stderrTail = '';
        const onOutput = (stream: 'stdout' | 'stderr', data: Buffer) => {
          const text = hide(data.toString('utf8'));
          if (stream === 'stderr') stderrTail = (stderrTail + text).slice(-4096);
          scope.emit(stream, Buffer.from(text));
        };
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
      const failed = (end: StepEnd, what: string): StepEnd => {
        if (end.outcome !== 'failed') return end;
        const complaint = stderrTail
          .split('\n')
          .filter((line) => /^(fatal|error): /.test(line))
          .pop();
        return { ...end, error: `${what}: ${end.error ?? 'failed'}${complaint ? `: ${complaint}` : ''}` };
      };

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
    } finally {
      await auth?.cleanup();
    }
  };
}

/** The GitAuth of the namespace's credential `name` for cloning `repoUrl`, or why there is none (a step error). */
async function stepAuth(
  name: string,
  repoUrl: string,
  namespace: string,
  options: CheckoutStepOptions,
): Promise<GitAuth | string> {
  if (!options.credentials)
    return `git credential "${name}" cannot be used: this server has no credential store`;
  let credential: GitCredential | undefined;
  try {
    credential = await options.credentials(namespace, name);
  } catch (error) {
    return `cannot read git credential "${name}": ${error instanceof Error ? error.message : String(error)}`;
  }
  if (!credential) return `no git credential named "${name}" in namespace ${namespace}`;
  try {
    return await gitAuth({ ...credential, name }, repoUrl, { tempDir: options.tempDir });
  } catch (error) {
    if (error instanceof GitAuthProblem) return error.message;
    throw error;
  }
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
