/**
 * The image steps of a run, `build-image` and `push-image`, run with buildah on this machine.
 *
 * Local images: a build step's tags name images in buildah's storage scoped to the run,
 * `localhost/slipway-run-<runId>/<name>:<tag>` (`latest` when the tag has none), so runs never see each
 * other's images; a push step's `source` names one of them. `cleanupRun` removes them when the run ends.
 *
 * Build records: a successful build writes what it built (image id, Dockerfile, context, target,
 * arguments, timings, job and step) to `<stateDir>/<runId>/builds/`, outside the workspace, so that the
 * run's scripts cannot change them. A push of that image to Slipway's registry turns the record into the
 * image's signed provenance (src/runs/provenance.ts), if the image id still matches.
 *
 * Layer cache: `--layers` with buildah's distributed cache, `--cache-from X --cache-to X` for the step's
 * `cache` repository (buildah ≥ 1.27): every layer built is pushed there under a tag derived from its
 * cache key, and a later build, on this or another machine, with an empty local storage, pulls the layers
 * whose keys match ("Cache pulled from remote", "Using cache") instead of running their instructions.
 *
 * Processes: every buildah call runs through `runProcessGroup`, its output streamed to the step's sink,
 * and is killed with its process tree on cancel and timeout, as the executors do.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Policy, RegistryTokens } from '../../identity/index.js';
import { validateRepositoryName, type RepositoriesService } from '../../registry/index.js';
import { systemClock, type Clock } from '../../platform/clock.js';
import {
  beginExecution,
  type ContainerImage,
  type ExecutionResult,
  type LogChunk,
  type StepEnd,
} from '../executor.js';
import { registryOf } from '../executors/buildah.executor.js';
import { referenceRepository } from './dockerfile-images.js';
import { runProcessGroup, type ProcessGroupEnd } from '../executors/local.executor.js';
import type { BuildImageStep, PushImageStep } from '../model.js';
import type { ProvenancePublisher } from '../provenance.js';
import type { StepContext, StepRunner, StepRunners } from '../step-runner.js';
import { runBuildImage } from './build-image.step.js';
import { runPushImage } from './push-image.step.js';
import {
  authFileFor,
  isLoopbackHost,
  registryLogins,
  StepProblem,
  tokenLifetimeSeconds,
  type RegistryCredentialStore,
  type RegistryLoginRequest,
} from './registry-auth.js';

export interface ImageStepsOptions {
  /**
   * The environment of every buildah call: storage, registries.conf, policy.json, TMPDIR, PATH (see
   * `BuildahExecutorOptions.containersEnv`). A registries.conf that lists Slipway's own plain-HTTP registry
   * as `insecure` lets builds that also pull from TLS registries use it.
   */
  containersEnv: NodeJS.ProcessEnv;
  /** Default `buildah` on containersEnv's PATH. */
  buildah?: string;
  /** Between SIGTERM and SIGKILL when a step is ended. Default 5000 ms. */
  graceMs?: number;
  /** Where build records are kept, per run. */
  stateDir: string;
  /** Where a step's auth file and image id file are written (mode 0600) and removed. Default os.tmpdir(). */
  tmpDir?: string;
  tokens: RegistryTokens;
  policy: Policy;
  repositories: RepositoriesService;
  /** Credentials for registries other than Slipway's; without it, those are reached anonymously. */
  credentials?: RegistryCredentialStore;
  provenance: ProvenancePublisher;
  /**
   * host[:port] of Slipway's registry as people pull from it (the host of the public URL): the name of
   * images in provenance statements. Default: the step's `registryHost`.
   */
  publicRegistryHost?: string;
  clock?: Clock;
}

/** What a successful build step leaves for the push steps of its run. */
export interface BuildRecord {
  /** buildah's image id (the config digest's hex). */
  imageId: string;
  localName: string;
  dockerfile: string;
  context: string;
  target?: string;
  buildArgs: Record<string, string>;
  job: { id: string; name: string };
  step: { id: string; name: string; index: number };
  startedOn: number;
  finishedOn: number;
}

/** Every local image of a run is named under this prefix. */
export const RUN_IMAGE_PREFIX = 'localhost/slipway-run-';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The distribution spec's tag syntax. */
export const isImageTag = (tag: string): boolean => TAG.test(tag);

/** `web` → `localhost/slipway-run-<runId>/web:latest`; `web:1` → `.../web:1`. Throws StepProblem when invalid. */
export function localImageName(runId: string, name: string): string {
  if (!SAFE_ID.test(runId)) throw new StepProblem('error', `run id cannot name images: ${runId}`);
  const colon = name.lastIndexOf(':');
  const hasTag = colon > name.lastIndexOf('/');
  const repository = hasTag ? name.slice(0, colon) : name;
  const tag = hasTag ? name.slice(colon + 1) : 'latest';
  try {
    validateRepositoryName(repository);
  } catch {
    throw new StepProblem('failed', `invalid image name: ${JSON.stringify(name)}`);
  }
  if (!TAG.test(tag)) throw new StepProblem('failed', `invalid image tag: ${JSON.stringify(name)}`);
  return `${RUN_IMAGE_PREFIX}${runId.toLowerCase()}/${repository}:${tag}`;
}

/** The shared machinery of both image steps; one instance serves any number of concurrent steps. */
export class ImageSteps {
  readonly build: StepRunner<BuildImageStep>;
  readonly push: StepRunner<PushImageStep>;
  readonly options: ImageStepsOptions;
  readonly clock: Clock;
  private readonly graceMs: number;

  constructor(options: ImageStepsOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.graceMs = options.graceMs ?? 5000;
    this.build = (step, ctx) => this.runStep(ctx, (call) => runBuildImage(this, call, step));
    this.push = (step, ctx) => this.runStep(ctx, (call) => runPushImage(this, call, step));
  }

  /**
   * How a script step pulls its image `ref`: from Slipway's own registry with a pull token of the run (as far
   * as the policy lets the run's actor pull), from another registry with its stored credential if there is
   * one; loopback registries (the embedded default) over plain HTTP.
   */
  async pullAccess(
    ctx: StepContext,
    ref: string,
  ): Promise<Pick<ContainerImage, 'credentials' | 'tlsVerify'>> {
    const host = registryOf(ref);
    const own = host === ctx.registryHost;
    const logins = await registryLogins(
      this.options,
      loginRequest(ctx, {
        slipwayNeeds: own ? [{ repository: referenceRepository(ref, host), actions: ['pull'] }] : [],
        external: own ? [] : [{ host }],
      }),
    );
    const credentials = logins.get(host);
    return { ...(credentials ? { credentials } : {}), ...(isLoopbackHost(host) ? { tlsVerify: false } : {}) };
  }

  /** For the engine's `stepRunners`. */
  get runners(): StepRunners {
    return { 'build-image': this.build, 'push-image': this.push };
  }

  /** Removes the run's local images and build records; call it once the run has ended. */
  async cleanupRun(runId: string): Promise<void> {
    if (!SAFE_ID.test(runId)) return;
    const prefix = `${RUN_IMAGE_PREFIX}${runId.toLowerCase()}/`;
    const output: Buffer[] = [];
    const signal = new AbortController().signal;
    const listed = await this.buildah(
      ['images', '--noheading', '--format', '{{.Name}}:{{.Tag}}'],
      signal,
      60_000,
      (stream, data) => {
        if (stream === 'stdout') output.push(data);
      },
    );
    const names = Buffer.concat(output)
      .toString('utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith(prefix));
    if (listed.end === 'exited' && names.length > 0) {
      await this.buildah(['rmi', '--force', ...names], signal, 60_000, () => {});
    }
    await rm(join(this.options.stateDir, runId), { recursive: true, force: true });
  }

  /**
   * Runs one buildah command in its own process group, killed on `signal` or after `timeoutMs`, with
   * `containersEnv` and `extraEnv` over it.
   */
  buildah(
    args: string[],
    signal: AbortSignal,
    timeoutMs: number,
    onOutput: (stream: LogChunk['stream'], data: Buffer) => void,
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<ProcessGroupEnd> {
    return runProcessGroup({
      command: this.options.buildah ?? 'buildah',
      args,
      env: { ...this.options.containersEnv, ...extraEnv },
      timeoutMs,
      signal,
      graceMs: this.graceMs,
      onOutput,
    });
  }

  /** Writes the containers auth.json of the step's logins (`authFileFor`) in its private directory; returns its path. */
  async writeAuthFile(call: StepCall, needs: LoginNeeds): Promise<string> {
    const file = join(call.tmp, 'auth.json');
    await writeFile(file, await authFileFor(this.options, loginRequest(call.ctx, needs)), { mode: 0o600 });
    return file;
  }

  async writeRecord(runId: string, record: BuildRecord): Promise<void> {
    const dir = join(this.options.stateDir, runId, 'builds');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, recordFile(record.localName)), `${JSON.stringify(record)}\n`, { mode: 0o600 });
  }

  async readRecord(runId: string, localName: string): Promise<BuildRecord | undefined> {
    const file = join(this.options.stateDir, runId, 'builds', recordFile(localName));
    try {
      return JSON.parse(await readFile(file, 'utf8')) as BuildRecord;
    } catch {
      return undefined;
    }
  }

  /**
   * The frame of every image step: the guarded sink, an already aborted signal, a private temporary
   * directory removed on every end, problems turned into outcomes, and the timings.
   */
  private async runStep(
    ctx: StepContext,
    body: (call: StepCall) => Promise<StepEnd>,
  ): Promise<ExecutionResult> {
    const scope = beginExecution(ctx.sink, () => this.clock.now());
    if (ctx.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    if (!(ctx.timeoutMs > 0)) {
      return scope.finish({
        outcome: 'error',
        exitCode: null,
        error: `timeoutMs must be positive: ${ctx.timeoutMs}`,
      });
    }
    const deadline = performance.now() + ctx.timeoutMs;
    let tmp: string | undefined;
    let end: StepEnd;
    try {
      tmp = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), 'slipway-image-'));
      const dir = tmp;
      end = await body({
        ctx,
        tmp: dir,
        emit: scope.emit,
        note: (message) => scope.emit('stderr', Buffer.from(`slipway: ${message}\n`)),
        remaining: () => Math.max(1, deadline - performance.now()),
      });
    } catch (err) {
      end =
        err instanceof StepProblem
          ? { outcome: err.outcome, exitCode: null, error: err.message }
          : { outcome: 'error', exitCode: null, error: `image step: ${(err as Error).message}` };
      if (end.error !== undefined) scope.emit('stderr', Buffer.from(`slipway: ${end.error}\n`));
    }
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true }).catch(() => {});
    return scope.finish(end);
  }
}

/** One call of an image step, as its body sees it. */
export interface StepCall {
  ctx: StepContext;
  /** A private directory (mode 0700) for auth and id files, removed when the step ends. */
  tmp: string;
  emit: (stream: LogChunk['stream'], data: Buffer) => void;
  /** A line of Slipway's own in the step's log (stderr, prefixed `slipway:`). */
  note: (message: string) => void;
  /** Milliseconds left of the step's time limit. */
  remaining: () => number;
}

type LoginNeeds = Pick<RegistryLoginRequest, 'slipwayNeeds' | 'external'>;

/** The logins a step of `ctx` needs: its run acts for the run's actor, with a token living as long as the step. */
function loginRequest(ctx: StepContext, needs: LoginNeeds): RegistryLoginRequest {
  return {
    actor: ctx.actor,
    namespace: ctx.pipeline.namespace,
    registryHost: ctx.registryHost,
    ...needs,
    ttlSeconds: tokenLifetimeSeconds(ctx.timeoutMs),
  };
}

function recordFile(localName: string): string {
  return `${createHash('sha256').update(localName).digest('hex')}.json`;
}

/** The end of a buildah call that did not succeed, with the last line of its error output as the reason. */
export function buildahFailure(what: string, ended: ProcessGroupEnd, errorTail: string): StepEnd {
  switch (ended.end) {
    case 'cancelled':
      return { outcome: 'cancelled', exitCode: null, error: 'cancelled' };
    case 'timed_out':
      return { outcome: 'timed_out', exitCode: null, error: 'timed out' };
    case 'spawn_failed':
      return {
        outcome: 'error',
        exitCode: null,
        error: `cannot start buildah: ${ended.spawnError?.message}`,
      };
    case 'exited': {
      const lines = errorTail
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean);
      const last = lines[lines.length - 1];
      const code = ended.exitCode ?? 128;
      return {
        outcome: 'failed',
        exitCode: code,
        error: `${what} failed${last ? `: ${last}` : ` with code ${code}`}`,
      };
    }
  }
}

/** Keeps the last `limit` bytes of a stream, for error messages. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = 4096) {}
  push(data: Buffer): void {
    this.chunks.push(data);
    this.size += data.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
