/**
 * The buildah executor: a step's commands inside a working container made from the step's image,
 * with the run's workspace mounted at /workspace as the working directory.
 *
 * One call is `buildah from` (pulling the image by its pull policy, with the request's
 * credentials), `buildah run --isolation chroot` and `buildah rm`, which runs on every end.
 * chroot isolation needs no container runtime, cgroups or user namespaces, so it works inside an
 * unprivileged container; it isolates the file system only (host network, host PIDs). The
 * processes of `buildah run` and of the step stay in the process group of `buildah run`, which
 * the executor starts and ends as the local executor does (runProcessGroup).
 *
 * The step sees the image's environment plus the request's env. The request's env is written to
 * a file (mode 0600, outside the workspace) that is mounted read-only and sourced before the
 * commands, rather than passed as `buildah run -e NAME=VALUE`, which would show secrets in the
 * host's process list. The image therefore needs a `sh`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../../platform/clock.js';
import {
  beginExecution,
  requestProblem,
  scriptOf,
  type ContainerImage,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type LogSink,
  type StepEnd,
} from '../executor.js';
import { endOf, runProcessGroup, workspaceProblem, type ProcessGroupEnd } from './local.executor.js';

/** Where the run's workspace is mounted in the container, and the step's working directory. */
export const CONTAINER_WORKSPACE = '/workspace';
/** Where the step's env file is mounted in the container. */
const CONTAINER_ENV_FILE = '/run/slipway/env';
/** Every working container this executor makes is named `slipway-<run>-<step>-<random>`. */
export const CONTAINER_NAME_PREFIX = 'slipway-';

export interface BuildahExecutorOptions {
  /**
   * The environment of every buildah call: where its storage is (`CONTAINERS_STORAGE_CONF`, vfs
   * where overlay is unavailable), registries and policy (`CONTAINERS_REGISTRIES_CONF`, a
   * policy.json in `$HOME/.config/containers`), `CONTAINERS_CONF`, `TMPDIR`, PATH. It is the
   * environment of buildah, not of the step.
   */
  containersEnv: NodeJS.ProcessEnv;
  /** Default `buildah` on containersEnv's PATH. */
  buildah?: string;
  /** Between SIGTERM and SIGKILL when a step is ended. Default 5000 ms. */
  graceMs?: number;
  /** Where the per-step env and credentials files are written. Default os.tmpdir(). */
  tmpDir?: string;
  clock?: Clock;
}

/** How long `buildah rm` may take; it runs after a cancel too, so it has its own limit. */
const REMOVE_TIMEOUT_MS = 60_000;

export class BuildahExecutor implements Executor {
  readonly name = 'buildah';
  private readonly buildah: string;
  private readonly graceMs: number;
  private readonly tmpDir: string;
  private readonly clock: Clock;
  private readonly containersEnv: NodeJS.ProcessEnv;

  constructor(options: BuildahExecutorOptions) {
    this.containersEnv = options.containersEnv;
    this.buildah = options.buildah ?? 'buildah';
    this.graceMs = options.graceMs ?? 5000;
    this.tmpDir = options.tmpDir ?? tmpdir();
    this.clock = options.clock ?? systemClock;
  }

  async execute(request: ExecutionRequest, sink: LogSink): Promise<ExecutionResult> {
    const scope = beginExecution(sink, () => this.clock.now());
    if (request.signal.aborted) {
      return scope.finish({ outcome: 'cancelled', exitCode: null, error: 'cancelled before start' });
    }
    const problem =
      requestProblem(request) ??
      (request.image === undefined ? 'the buildah executor needs an image' : undefined) ??
      (await workspaceProblem(request.workspace)) ??
      (await mountsProblem(request));
    if (problem !== undefined || request.image === undefined) {
      return scope.finish({ outcome: 'error', exitCode: null, error: problem });
    }
    const image = request.image;
    const deadline = performance.now() + request.timeoutMs;
    const remaining = (): number => Math.max(1, deadline - performance.now());

    const container = containerName(request);
    let secretsDir: string | undefined;
    let end: StepEnd;
    try {
      secretsDir = await mkdtemp(join(this.tmpDir, 'slipway-step-'));
      end = await this.inContainer(request, image, container, secretsDir, remaining, scope.emit);
    } catch (err) {
      end = { outcome: 'error', exitCode: null, error: `buildah executor: ${(err as Error).message}` };
    }
    const problemRemoving = await this.remove(container);
    if (problemRemoving !== undefined) scope.emit('stderr', Buffer.from(`slipway: ${problemRemoving}\n`));
    if (secretsDir !== undefined) await rm(secretsDir, { recursive: true, force: true }).catch(() => {});
    return scope.finish(end);
  }

  /** `buildah from` then `buildah run`; the caller removes the container. */
  private async inContainer(
    request: ExecutionRequest,
    image: ContainerImage,
    container: string,
    secretsDir: string,
    remaining: () => number,
    emit: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<StepEnd> {
    const envFile = join(secretsDir, 'env');
    await writeFile(envFile, envFileOf(request.env), { mode: 0o600 });
    const fromArgs = ['from', '--quiet', '--name', container, `--pull=${image.pullPolicy ?? 'missing'}`];
    if (image.tlsVerify === false) fromArgs.push('--tls-verify=false');
    if (image.credentials !== undefined) {
      const authFile = join(secretsDir, 'auth.json');
      await writeFile(authFile, authFileOf(image.ref, image.credentials), { mode: 0o600 });
      fromArgs.push('--authfile', authFile);
    }
    fromArgs.push(image.ref);

    const fromErrors: Buffer[] = [];
    const from = await this.run(fromArgs, remaining(), request.signal, (stream, data) => {
      if (stream === 'stderr') fromErrors.push(data);
    });
    if (from.end !== 'exited' || from.exitCode !== 0) {
      const output = Buffer.concat(fromErrors);
      emit('stderr', output);
      return (
        stoppedEnd(from) ?? {
          outcome: 'error',
          exitCode: null,
          error: `cannot create a container from ${image.ref}: ${fromFailure(from, output)}`,
        }
      );
    }

    const runArgs = [
      'run',
      '--isolation',
      'chroot',
      '--volume',
      `${request.workspace}:${CONTAINER_WORKSPACE}`,
      '--volume',
      `${envFile}:${CONTAINER_ENV_FILE}:ro`,
    ];
    for (const mount of request.mounts ?? []) {
      runArgs.push('--volume', `${mount.source}:${mount.target}${mount.readOnly ? ':ro' : ''}`);
    }
    runArgs.push('--workingdir', CONTAINER_WORKSPACE, container, '--', 'sh', '-e', '-c');
    if ('script' in request.commands) {
      runArgs.push(`. ${CONTAINER_ENV_FILE}\n${scriptOf(request.commands)}`);
    } else {
      runArgs.push(`. ${CONTAINER_ENV_FILE}\nexec "$@"`, 'sh', ...request.commands.argv);
    }
    const ran = await this.run(runArgs, remaining(), request.signal, emit);
    if (ran.end === 'spawn_failed') {
      return { outcome: 'error', exitCode: null, error: `cannot start buildah: ${ran.spawnError?.message}` };
    }
    return endOf(ran, 'buildah run');
  }

  private run(
    args: string[],
    timeoutMs: number,
    signal: AbortSignal,
    onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void,
  ): Promise<ProcessGroupEnd> {
    return runProcessGroup({
      command: this.buildah,
      args,
      env: this.containersEnv,
      timeoutMs,
      signal,
      graceMs: this.graceMs,
      onOutput,
    });
  }

  /**
   * Removes the working container, whatever state the step left it in (it may not exist when
   * `buildah from` was stopped early). One retry covers a storage lock held by a dying buildah.
   * Returns a problem, or undefined once it is gone.
   */
  private async remove(container: string): Promise<string | undefined> {
    let problem: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (attempt > 0) await sleep(500);
      const errors: Buffer[] = [];
      const removed = await this.run(
        ['rm', container],
        REMOVE_TIMEOUT_MS,
        new AbortController().signal,
        (stream, data) => {
          if (stream === 'stderr') errors.push(data);
        },
      );
      const message = Buffer.concat(errors).toString('utf8').trim();
      if (
        (removed.end === 'exited' && removed.exitCode === 0) ||
        /container not known|no container with name/i.test(message)
      ) {
        return undefined;
      }
      problem = `could not remove container ${container}: ${message || removed.end}`;
    }
    return problem;
  }
}

function stoppedEnd(ended: ProcessGroupEnd): StepEnd | undefined {
  if (ended.end === 'cancelled') return { outcome: 'cancelled', exitCode: null, error: 'cancelled' };
  if (ended.end === 'timed_out') return { outcome: 'timed_out', exitCode: null, error: 'timed out' };
  return undefined;
}

function fromFailure(ended: ProcessGroupEnd, stderr: Buffer): string {
  if (ended.end === 'spawn_failed') return `cannot start buildah: ${ended.spawnError?.message}`;
  const lines = stderr.toString('utf8').trim().split('\n');
  return lines[lines.length - 1] || `buildah from exited with code ${ended.exitCode}`;
}

function containerName(request: ExecutionRequest): string {
  const part = (id: string): string => id.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40);
  return `${CONTAINER_NAME_PREFIX}${part(request.runId)}-${part(request.stepId)}-${randomBytes(4).toString('hex')}`;
}

/** `buildah run --volume` separates its fields with ':' and cannot take a path containing one. */
async function mountsProblem(request: ExecutionRequest): Promise<string | undefined> {
  if (request.workspace.includes(':')) return `workspace path cannot contain ':': ${request.workspace}`;
  for (const mount of request.mounts ?? []) {
    if (!isAbsolute(mount.source) || !isAbsolute(mount.target)) {
      return `mount paths must be absolute: ${mount.source} → ${mount.target}`;
    }
    if (mount.source.includes(':') || mount.target.includes(':')) {
      return `mount paths cannot contain ':': ${mount.source} → ${mount.target}`;
    }
    try {
      await stat(mount.source);
    } catch {
      return `mount source does not exist: ${mount.source}`;
    }
  }
  return undefined;
}

/** `export NAME='value'` lines for `sh`: single quotes keep every byte but `'`, which is spliced in. */
export function envFileOf(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([name, value]) => `export ${name}='${value.replaceAll("'", `'\\''`)}'\n`)
    .join('');
}

/** The registry host a reference names; Docker Hub when its first component is not a host. */
export function registryOf(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash === -1) return 'docker.io';
  const first = ref.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** A containers-auth.json with one entry, for `buildah from --authfile`. */
export function authFileOf(ref: string, credentials: { username: string; password: string }): string {
  const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
  return `${JSON.stringify({ auths: { [registryOf(ref)]: { auth } } })}\n`;
}
