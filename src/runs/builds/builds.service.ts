/**
 * Quay repository builds on the runs engine. A build is a run of the repository's build pipeline (one
 * per repository, `quay-build:<name>` in its namespace, created on first use) whose run carries its own
 * one-job definition: get the source (`fetch-archive` for an archive URL or an uploaded file, `checkout`
 * for git), `build-image` with buildah, `push-image` to the repository under the build's tags (with
 * provenance). Phase, error and logs are derived from that run; this context stores only what Quay shows
 * that a run does not hold (display name, paths, tags, robot, trigger), and the filedrop files.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { posix, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import type { Clock } from '../../platform/clock.js';
import { Conflict, Invalid, NotFound, TooLarge } from '../../platform/errors.js';
import type { BuildEventInfo, EventBus } from '../../platform/events.js';
import { newId } from '../../platform/ids.js';
import type { OutboundPolicy } from '../../platform/outbound.js';
import type { ReadableLogStore } from '../logs/readable-log-store.js';
import type { LogLine } from '../logs/readable-log-store.js';
import type { Pipeline, Step, TriggerContext } from '../model.js';
import type { JobView, RunDetail, RunsService } from '../runs.service.js';
import { isImageTag } from '../steps/image-steps.js';
import { buildLogEntries } from './build-logs.js';
import type { RepositoryBuildsStore } from './builds.store.js';
import { buildPhase, isCancellable } from './phase.js';
import type { RepositoryBuildRow } from './tables.js';
import type {
  BuildLogsPage,
  BuildRequest,
  BuildSource,
  BuildView,
  ListBuildsOptions,
  QuayLogEntry,
} from './types.js';

export interface RepositoryBuildsOptions {
  store: RepositoryBuildsStore;
  runs: RunsService;
  logs: ReadableLogStore;
  events: EventBus;
  clock: Clock;
  /** Checks archive URLs when a build is requested (the download is checked again in the run). */
  outbound: OutboundPolicy;
  /** Where filedrop uploads are kept (shared by replicas, like the step logs). */
  filesDir: string;
  /** Largest archive or upload. */
  maxArchiveBytes: number;
  /** Limit of a build's run. Default one hour. */
  timeoutSeconds?: number;
}

const FULL_COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const FILE_ID = /^[0-9a-f-]{36}$/;
const MAX_TAGS = 100;
/** Name of the local image between the build and the push step. */
const LOCAL_IMAGE = 'build';

/** The definition stored with each build pipeline: runs always carry their own, so this never runs as it is. */
const PLACEHOLDER_DEFINITION = [
  'clone: false',
  'jobs:',
  '  build:',
  '    steps:',
  '      - script: echo "this pipeline runs Quay repository builds; start them through the builds API" >&2; exit 1',
  '',
].join('\n');

export class RepositoryBuildsService {
  private readonly store: RepositoryBuildsStore;
  private readonly runs: RunsService;
  /** Announcements in flight: `settle` waits for them (shutdown, tests). */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: RepositoryBuildsOptions) {
    this.store = options.store;
    this.runs = options.runs;
  }

  /** Turns the build runs' events into Quay's build events; call once. */
  listen(): () => void {
    const { events } = this.options;
    const track = (work: Promise<void>) => {
      this.pending.add(work);
      void work.finally(() => this.pending.delete(work));
    };
    const offStarted = events.on('run.started', (event) => track(this.announce(event.runId, 'started')));
    const offFinished = events.on('run.finished', (event) => track(this.announce(event.runId, 'finished')));
    return () => {
      offStarted();
      offFinished();
    };
  }

  /** Waits for the build events being worked out (before the database closes). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  // -------------------------------------------------------------------------------------------------------
  // Builds

  /**
   * Queues a build of `repository` (`ns/name`, which the caller checked exists and may be written by the
   * requester). Throws `Invalid` naming the field for a bad source, path or tag.
   */
  async requestBuild(repository: string, request: BuildRequest): Promise<BuildView> {
    const paths = buildPaths(request);
    const tags = checkTags(request.tags);
    const source = await this.checkSource(request.source, request.manualUser);
    if (repository.indexOf('/') <= 0) {
      throw new Invalid('INVALID_REPOSITORY', `not a namespace/name repository: ${repository}`);
    }
    const pipelineId = await this.pipelineFor(repository, request.manualUser);
    const definition = this.definitionFor(repository, source.source, paths, tags);
    const run = await this.runs.startRun(pipelineId, {
      kind: request.trigger ? 'webhook' : 'manual',
      context: triggerContext(source.source, request.trigger !== undefined),
      ...(request.manualUser ? { actor: request.manualUser } : {}),
      definition,
    });
    const id = newId();
    const row: RepositoryBuildRow = {
      id,
      repository,
      run_id: run.id,
      source: JSON.stringify(source.source),
      display_name: source.displayName,
      dockerfile_path: paths.dockerfilePath,
      context: paths.context,
      subdirectory: paths.dockerfilePath,
      tags: JSON.stringify(tags),
      pull_robot: request.pullRobot ?? null,
      manual_user: request.manualUser ?? null,
      trigger_id: request.trigger?.id ?? null,
      trigger_service: request.trigger?.service ?? null,
      trigger_metadata: request.trigger ? JSON.stringify(request.trigger.metadata) : null,
      created_at: this.options.clock.now(),
    };
    await this.store.insertBuild(row);
    const view = await this.view(row, run);
    this.options.events.emit({
      type: 'build.queued',
      repository,
      build: eventInfo(view),
      ...(request.manualUser ? { actor: request.manualUser } : {}),
    });
    return view;
  }

  async getBuild(repository: string, id: string): Promise<BuildView> {
    const row = await this.row(repository, id);
    return this.view(row, await this.runs.getRun(row.run_id), true);
  }

  /** Newest first; `limit` default 5 (Quay's), at most 100. */
  async listBuilds(repository: string, opts: ListBuildsOptions = {}): Promise<BuildView[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 5), 1), 100);
    const rows = await this.store.listBuilds(repository, {
      limit,
      ...(opts.since !== undefined ? { sinceMs: opts.since * 1000 } : {}),
      ...(opts.triggerId !== undefined ? { triggerId: opts.triggerId } : {}),
    });
    return Promise.all(rows.map(async (row) => this.view(row, await this.runs.getRun(row.run_id))));
  }

  /**
   * Cancels a build that has not started pushing: its run is cancelled, which ends the running step and
   * its whole process tree. Throws `Conflict` ("Build is currently running or has finished") otherwise.
   */
  async cancelBuild(repository: string, id: string, actor?: string): Promise<BuildView> {
    const row = await this.row(repository, id);
    const before = await this.view(row, await this.runs.getRun(row.run_id));
    if (!isCancellable(before.phase)) {
      throw new Conflict('BUILD_NOT_CANCELLABLE', 'Build is currently running or has finished');
    }
    const run = await this.runs.cancelRun(row.run_id, actor);
    return this.view(row, run);
  }

  /** Quay's log entries from `start` (see `buildLogEntries`). */
  async buildLogs(repository: string, id: string, start = 0): Promise<BuildLogsPage> {
    const row = await this.row(repository, id);
    const run = await this.runs.getRun(row.run_id);
    const view = await this.view(row, run);
    const job = run.jobs[0];
    const lines = new Map<number, readonly LogLine[]>();
    for (const step of job?.steps ?? []) {
      if (step.startedAt === undefined) continue;
      lines.set(step.index, (await this.options.logs.read(step.id)).lines);
    }
    const ended = isFinished(view.phase);
    const logs: QuayLogEntry[] = buildLogEntries({
      createdAt: view.createdAt,
      ...(job
        ? { job: { ...(job.claimedAt !== undefined ? { claimedAt: job.claimedAt } : {}), steps: job.steps } }
        : {}),
      lines,
      ...(ended
        ? {
            end: {
              phase: view.phase,
              at: run.finishedAt ?? this.options.clock.now(),
              ...(view.error ? { error: view.error } : {}),
            },
          }
        : {}),
    });
    const from = Math.max(0, Math.trunc(start) || 0);
    return { start: from, total: logs.length, logs: logs.slice(from) };
  }

  // -------------------------------------------------------------------------------------------------------
  // Filedrop uploads

  /** A new upload slot for `owner`: the file id the upload URL names. */
  async createUpload(owner: string, mimeType: string): Promise<{ fileId: string }> {
    if (mimeType.length === 0 || mimeType.length > 255) {
      throw new Invalid('INVALID_MIME_TYPE', 'mimeType: must be 1 to 255 characters', { field: 'mimeType' });
    }
    const id = newId();
    await this.store.insertFile({
      id,
      owner,
      mime_type: mimeType,
      size: null,
      sha256: null,
      created_at: this.options.clock.now(),
      uploaded_at: null,
    });
    return { fileId: id };
  }

  /**
   * Stores the bytes of an upload slot, once. `NotFound` for an unknown slot or one already used (the id is
   * the only secret of the upload URL), `TooLarge` past the archive limit (nothing is kept).
   */
  async storeUpload(fileId: string, body: Readable): Promise<{ size: number; sha256: string }> {
    const file = FILE_ID.test(fileId) ? await this.store.findFile(fileId) : undefined;
    if (!file || file.uploaded_at !== null) {
      body.resume();
      throw new NotFound('FILE_NOT_FOUND', 'no upload is expected at this URL');
    }
    await mkdir(this.options.filesDir, { recursive: true, mode: 0o700 });
    const part = join(this.options.filesDir, `${fileId}.${newId()}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const max = this.options.maxArchiveBytes;
    try {
      await pipe(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > max) throw new TooLarge('FILE_TOO_LARGE', `the file is larger than ${max} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(part, { mode: 0o600 }),
      );
      const sha256 = hash.digest('hex');
      if (!(await this.store.markUploaded(fileId, size, sha256, this.options.clock.now()))) {
        throw new NotFound('FILE_NOT_FOUND', 'no upload is expected at this URL');
      }
      await rename(part, this.filePath(fileId));
      return { size, sha256 };
    } finally {
      await rm(part, { force: true });
    }
  }

  /** Where an uploaded file's bytes are, for the `fetch-archive` step. */
  filePath(fileId: string): string {
    if (!FILE_ID.test(fileId)) throw new Invalid('INVALID_FILE_ID', `invalid file id: ${fileId}`);
    return join(this.options.filesDir, fileId);
  }

  // -------------------------------------------------------------------------------------------------------

  private async row(repository: string, id: string): Promise<RepositoryBuildRow> {
    const row = await this.store.findBuild(repository, id);
    if (!row) throw new NotFound('BUILD_NOT_FOUND', `build ${id} not found`);
    return row;
  }

  private async checkSource(
    source: BuildSource,
    requester: string | undefined,
  ): Promise<{ source: BuildSource; displayName: string }> {
    switch (source.kind) {
      case 'archive': {
        const url = this.options.outbound.validateUrl(source.url, 'archive_url');
        return {
          source: { kind: 'archive', url: url.toString() },
          displayName: createHash('sha224').update(source.url).digest('hex').slice(0, 7),
        };
      }
      case 'upload': {
        const file = FILE_ID.test(source.fileId) ? await this.store.findFile(source.fileId) : undefined;
        // Another user's upload is as unknown as a missing one.
        if (!file || file.uploaded_at === null || (requester !== undefined && file.owner !== requester)) {
          throw new Invalid('FILE_NOT_FOUND', `file_id: no uploaded file ${source.fileId}`, {
            field: 'file_id',
          });
        }
        if (!(await exists(this.filePath(file.id)))) {
          throw new Invalid('FILE_NOT_FOUND', `file_id: no uploaded file ${source.fileId}`, {
            field: 'file_id',
          });
        }
        return {
          source: { kind: 'upload', fileId: file.id },
          displayName: (file.sha256 ?? file.id).slice(0, 7),
        };
      }
      case 'git': {
        if (typeof source.url !== 'string' || source.url === '' || source.url.startsWith('-')) {
          throw new Invalid('INVALID_SOURCE', 'git source: invalid repository URL', { field: 'url' });
        }
        if (!FULL_COMMIT.test(source.commit)) {
          throw new Invalid('INVALID_SOURCE', `git source: not a full commit id: ${source.commit}`, {
            field: 'commit',
          });
        }
        return { source: { ...source }, displayName: source.commit.slice(0, 7) };
      }
      default:
        throw new Invalid('INVALID_SOURCE', 'file_id or archive_url required');
    }
  }

  /** The repository's build pipeline, created on first use. */
  private async pipelineFor(repository: string, actor: string | undefined): Promise<string> {
    const slash = repository.indexOf('/');
    const namespace = repository.slice(0, slash);
    const name = pipelineName(repository.slice(slash + 1));
    const found = await this.runs.findPipelineByName(namespace, name);
    if (found) return found.id;
    try {
      const created = await this.runs.createPipeline({
        namespace,
        name,
        source: PLACEHOLDER_DEFINITION,
        ...(actor ? { actor } : {}),
      });
      return created.id;
    } catch (err) {
      // Two first builds at once: the other one created it.
      if (!(err instanceof Conflict)) throw err;
      const again = await this.runs.findPipelineByName(namespace, name);
      if (!again) throw err;
      return again.id;
    }
  }

  private definitionFor(
    repository: string,
    source: BuildSource,
    paths: { dockerfile: string; contextDir: string },
    tags: string[],
  ): Pipeline {
    const fetch: Step =
      source.kind === 'git'
        ? {
            kind: 'checkout',
            name: 'checkout',
            ...(source.credentials ? { credentials: source.credentials } : {}),
          }
        : source.kind === 'archive'
          ? { kind: 'fetch-archive', name: 'unpack', url: source.url }
          : { kind: 'fetch-archive', name: 'unpack', fileId: source.fileId };
    return {
      name: pipelineName(repository.slice(repository.indexOf('/') + 1)),
      dialect: 'slipway',
      when: {},
      timeoutSeconds: this.options.timeoutSeconds ?? 3600,
      secretsOnPullRequest: false,
      stages: [
        {
          name: 'build',
          when: {},
          jobs: [
            {
              name: 'build',
              needs: [],
              when: {},
              env: {},
              secrets: [],
              retries: 0,
              steps: [
                fetch,
                {
                  kind: 'build-image',
                  name: 'build',
                  dockerfile: paths.dockerfile,
                  context: paths.contextDir,
                  buildArgs: {},
                  tags: [LOCAL_IMAGE],
                },
                {
                  kind: 'push-image',
                  name: 'push',
                  source: LOCAL_IMAGE,
                  destination: { registry: { kind: 'slipway' }, repository },
                  tags,
                },
              ],
            },
          ],
        },
      ],
    };
  }

  private async view(row: RepositoryBuildRow, run: RunDetail, withDigests = false): Promise<BuildView> {
    const job = run.jobs[0];
    const phase = buildPhase({
      run: run.state,
      ...(job ? { job: { state: job.state, steps: job.steps } } : {}),
    });
    const source = JSON.parse(row.source) as BuildSource;
    const error =
      phase === 'error'
        ? failureReason(run, job)
        : phase === 'cancelled'
          ? (run.reason ?? job?.reason ?? 'cancelled')
          : undefined;
    return {
      id: row.id,
      repository: row.repository,
      phase,
      runId: row.run_id,
      createdAt: row.created_at,
      displayName: row.display_name,
      source,
      dockerfilePath: row.dockerfile_path,
      context: row.context,
      subdirectory: row.subdirectory,
      tags: JSON.parse(row.tags) as string[],
      ...(row.pull_robot ? { pullRobot: row.pull_robot } : {}),
      ...(row.manual_user ? { manualUser: row.manual_user } : {}),
      ...(row.trigger_id
        ? {
            trigger: {
              id: row.trigger_id,
              service: row.trigger_service ?? '',
              metadata: JSON.parse(row.trigger_metadata ?? '{}') as Record<string, unknown>,
            },
          }
        : {}),
      ...(error ? { error } : {}),
      manifestDigests: withDigests && phase === 'complete' ? await this.pushedDigests(job) : [],
      ...(source.kind === 'archive' ? { archiveUrl: source.url } : {}),
    };
  }

  /** The digests the push step printed (`host/repo:tag@sha256:...`). */
  private async pushedDigests(job: JobView | undefined): Promise<string[]> {
    const push = job?.steps.find((s) => s.kind === 'push-image');
    if (!push) return [];
    const page = await this.options.logs.read(push.id);
    const digests = new Set<string>();
    for (const line of page.lines) {
      if (line.stream !== 'stdout') continue;
      const match = /@(sha256:[0-9a-f]{64})\s*$/.exec(line.data.toString('utf8'));
      if (match) digests.add(match[1]!);
    }
    return [...digests];
  }

  private async announce(runId: string, what: 'started' | 'finished'): Promise<void> {
    try {
      // The build row is written just after its run is created: a run that starts at once may be seen first.
      let row = await this.store.findBuildByRun(runId);
      for (let i = 0; !row && i < 10 && what === 'started'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        row = await this.store.findBuildByRun(runId);
      }
      if (!row) return;
      const view = await this.view(row, await this.runs.getRun(runId), what === 'finished');
      const actor = view.manualUser ? { actor: view.manualUser } : {};
      if (what === 'started') {
        this.options.events.emit({
          type: 'build.started',
          repository: row.repository,
          build: eventInfo(view),
          ...actor,
        });
        return;
      }
      const type =
        view.phase === 'complete'
          ? 'build.succeeded'
          : view.phase === 'cancelled'
            ? 'build.cancelled'
            : 'build.failed';
      this.options.events.emit({ type, repository: row.repository, build: eventInfo(view), ...actor });
    } catch (err) {
      process.emitWarning(
        `build event for run ${runId}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}

function isFinished(phase: BuildView['phase']): boolean {
  return phase === 'complete' || phase === 'error' || phase === 'cancelled';
}

/** Why the run ended badly: the failing step's reason, else the job's, else the run's. */
function failureReason(run: RunDetail, job: JobView | undefined): string | undefined {
  const bad = job?.steps.find(
    (s) => ['failed', 'error', 'timed_out', 'cancelled'].includes(s.state) && s.reason,
  );
  return (
    bad?.reason ??
    job?.reason ??
    run.reason ??
    (run.state === 'timed_out' ? 'the build timed out' : undefined)
  );
}

function eventInfo(view: BuildView): BuildEventInfo {
  return {
    id: view.id,
    name: view.displayName,
    dockerTags: view.tags,
    ...(view.trigger
      ? {
          triggerId: view.trigger.id,
          triggerKind: view.trigger.service,
          triggerMetadata: view.trigger.metadata,
        }
      : {}),
    isManual: view.trigger === undefined,
    manualUser: view.manualUser ?? null,
    ...(view.manifestDigests.length > 0 ? { manifestDigests: view.manifestDigests } : {}),
    ...(view.phase === 'error' ? { errorMessage: view.error ?? 'the build failed' } : {}),
  };
}

/** `quay-build:<name>`, hashed when too long for a pipeline name. */
function pipelineName(name: string): string {
  const full = `quay-build:${name}`;
  return full.length <= 100
    ? full
    : `quay-build:${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

function triggerContext(source: BuildSource, triggered: boolean): TriggerContext {
  if (source.kind !== 'git') return { event: 'manual', commit: '', repoUrl: '' };
  const ref = source.ref;
  return {
    event: triggered ? (ref?.startsWith('refs/tags/') ? 'tag' : 'push') : 'manual',
    commit: source.commit,
    repoUrl: source.url,
    ...(ref ? { ref } : {}),
    ...(ref?.startsWith('refs/heads/') ? { branch: ref.slice('refs/heads/'.length) } : {}),
    ...(ref?.startsWith('refs/tags/') ? { tag: ref.slice('refs/tags/'.length) } : {}),
  };
}

/**
 * Quay's path rules: `dockerfile_path` given ⇒ context = its directory unless given; `subdirectory` ⇒
 * context = it, Dockerfile = subdirectory/Dockerfile; else Dockerfile = context/Dockerfile (context default
 * "/"). Returned both as Quay shows them (absolute, from the source root) and relative to the workspace.
 */
export function buildPaths(request: Pick<BuildRequest, 'dockerfilePath' | 'context' | 'subdirectory'>): {
  dockerfilePath: string;
  context: string;
  dockerfile: string;
  contextDir: string;
} {
  let dockerfilePath: string;
  let context: string;
  if (request.dockerfilePath) {
    dockerfilePath = sourcePath(request.dockerfilePath, 'dockerfile_path');
    context = request.context ? sourcePath(request.context, 'context') : posix.dirname(dockerfilePath);
  } else if (request.subdirectory) {
    context = sourcePath(request.subdirectory, 'subdirectory');
    dockerfilePath = posix.join(context, 'Dockerfile');
  } else {
    context = request.context ? sourcePath(request.context, 'context') : '/';
    dockerfilePath = posix.join(context, 'Dockerfile');
  }
  if (dockerfilePath === '/') {
    throw new Invalid('INVALID_PATH', 'dockerfile_path: must name a file', { field: 'dockerfile_path' });
  }
  const relativeOf = (path: string) => (path === '/' ? '.' : path.slice(1));
  return { dockerfilePath, context, dockerfile: relativeOf(dockerfilePath), contextDir: relativeOf(context) };
}

/** A path inside the source: "/"-rooted, normalised, without ".." or control characters. */
function sourcePath(value: string, field: string): string {
  if (
    value.length > 1024 ||
    [...value].some((c) => c.charCodeAt(0) < 0x20) ||
    value.split(/[/\\]/).includes('..')
  ) {
    throw new Invalid('INVALID_PATH', `${field}: must be a path inside the build context`, { field });
  }
  const normalised = posix.normalize(`/${value}`).replace(/\/+$/, '');
  return normalised === '' ? '/' : normalised;
}

function checkTags(tags: string[]): string[] {
  if (!Array.isArray(tags) || tags.length === 0) {
    throw new Invalid('INVALID_TAGS', 'docker_tags: at least one tag is required', { field: 'docker_tags' });
  }
  if (tags.length > MAX_TAGS) {
    throw new Invalid('INVALID_TAGS', `docker_tags: at most ${MAX_TAGS} tags`, { field: 'docker_tags' });
  }
  if (new Set(tags).size !== tags.length) {
    throw new Invalid('INVALID_TAGS', 'docker_tags: tags must be unique', { field: 'docker_tags' });
  }
  const bad = tags.find((tag) => typeof tag !== 'string' || !isImageTag(tag));
  if (bad !== undefined) {
    throw new Invalid('INVALID_TAGS', `docker_tags: invalid tag ${JSON.stringify(bad)}`, {
      field: 'docker_tags',
    });
  }
  return tags;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
