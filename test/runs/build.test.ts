// Image steps end to end, with real parts: a Slipway server on SQLite, buildah (chroot isolation, vfs)
// building from a base image made of Debian's busybox-static and pushed to that server, the build-image and
// push-image step runners called directly, skopeo and buildah checking what was pushed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { subjectOf, type Subject } from '../../src/identity/index.js';
import type { LogChunk } from '../../src/runs/executor.js';
import type { BuildImageStep, PushImageStep } from '../../src/runs/model.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  ProvenancePublisher,
  SLIPWAY_BUILD_TYPE,
  verifyEnvelope,
  type DsseEnvelope,
} from '../../src/runs/provenance.js';
import type { StepContext } from '../../src/runs/step-runner.js';
import { ImageSteps } from '../../src/runs/steps/image-steps.js';
import { processAlive } from '../contracts/executor.contract.js';
import { createGitRepo } from '../support/git-repo.js';
import { assertOneProvenance, pushBaseImage, runInImage, skopeoInspect } from '../support/image-checks.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { processesWith } from '../support/process.js';
import { containersEnv, requireTools, run, runOk } from '../support/tools.js';

const tools = ['buildah', 'skopeo', 'busybox', 'git'];
const admin = { username: 'admin', password: adminPassword };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
}

/** The working containers in the storage of `steps`. */
async function workingContainers(steps: ImageSteps): Promise<string[]> {
  const listed = await runOk('buildah', ['containers', '--quiet'], { env: steps.options.containersEnv });
  return listed.stdout.split('\n').filter(Boolean);
}

describe('build-image and push-image steps', { concurrency: false }, () => {
  let server: TestServer;
  let workDir: string;
  let actor: Subject;
  let client: RegistryClient;
  let dirs = 0;
  let baseReady: Promise<void> | undefined;

  before(async () => {
    server = await startTestServer();
    workDir = await mkdtemp(join(tmpdir(), 'slipway-build-'));
    actor = subjectOf(await server.services.identity.getUserByName('admin'));
    client = new RegistryClient(server.url, admin);
  });
  after(async () => {
    await server?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const newDir = (name: string): string => join(workDir, `${name}-${++dirs}`);
  const ready = (t: TestContext) => requireTools(t, ...tools);

  /** The busybox base image, pushed once to admin/base:v1. */
  const pushBase = (): Promise<void> =>
    (baseReady ??= pushBaseImage(server.host, admin, 'admin/base:v1', workDir).then(() => undefined));

  /** Image steps with their own buildah storage, as one machine of Slipway has. */
  const imageSteps = (): ImageSteps => {
    const services = server.services;
    return new ImageSteps({
      containersEnv: containersEnv(newDir('containers')),
      stateDir: newDir('state'),
      tokens: services.tokens,
      policy: services.policy,
      repositories: services.repositories,
      provenance: new ProvenancePublisher({
        uploads: services.uploads,
        manifests: services.manifests,
        signer: services.tokens,
        builder: { id: `${server.url}/builder`, version: 'test' },
        clock: { now: () => Date.now() },
      }),
      graceMs: 2000,
    });
  };

  /** A git repository with a Dockerfile as the run's workspace; returns it and its commit. */
  const workspaceWith = async (dockerfile: string): Promise<{ workspace: string; commit: string }> => {
    const repo = await createGitRepo(newDir('workspace'));
    const commit = await repo.commit({ Dockerfile: dockerfile }, 'dockerfile');
    return { workspace: repo.path, commit };
  };

  interface Call {
    ctx: StepContext;
    log: () => string;
    abort: AbortController;
  }

  let runs = 0;
  const context = (workspace: string, commit: string, overrides: Partial<StepContext> = {}): Call => {
    const chunks: LogChunk[] = [];
    const abort = new AbortController();
    const runId = `run-${++runs}-${process.pid}`;
    const ctx: StepContext = {
      runId,
      jobId: `${runId}-job`,
      stepId: `${runId}-step`,
      workspace,
      env: {},
      variables: { SLIPWAY_COMMIT_SHORT: commit.slice(0, 7) },
      signal: abort.signal,
      timeoutMs: 120_000,
      sink: (chunk) => chunks.push(chunk),
      registryHost: server.host,
      pipeline: { id: 'pipeline-1', name: 'web', namespace: 'admin' },
      run: { number: runs },
      job: { name: 'image' },
      step: { index: 0, name: 'build' },
      trigger: { event: 'push', commit, repoUrl: 'https://git.example.com/team/web.git', branch: 'main' },
      actor,
      ...overrides,
    };
    return { ctx, abort, log: () => Buffer.concat(chunks.map((c) => c.data)).toString('utf8') };
  };

  const buildStep = (over: Partial<BuildImageStep> = {}): BuildImageStep => ({
    kind: 'build-image',
    name: 'build',
    dockerfile: 'Dockerfile',
    context: '.',
    buildArgs: {},
    tags: ['web:${SLIPWAY_COMMIT_SHORT}'],
    ...over,
  });
  const pushStep = (repository: string, tags: string[]): PushImageStep => ({
    kind: 'push-image',
    name: 'push',
    source: 'web:${SLIPWAY_COMMIT_SHORT}',
    destination: { registry: { kind: 'slipway' }, repository },
    tags,
  });
  const cache = { registry: { kind: 'slipway' as const }, repository: 'web-cache' };

  const manifestOf = async (repository: string, reference: string) => {
    const res = await client.request('GET', `/v2/${repository}/manifests/${reference}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(res.status, 200, `GET ${repository}:${reference}: ${res.body.toString()}`);
    return {
      digest: res.headers.get('docker-content-digest')!,
      manifest: res.json<{ layers: Descriptor[]; config: Descriptor }>(),
    };
  };

  test('a build pushed to Slipway is pullable, runs, and has signed provenance as a referrer', async (t) => {
    if (!ready(t)) return;
    await pushBase();
    const dockerfile = `FROM ${server.host}/admin/base:v1\nRUN echo built > /built.txt\nRUN echo one > /changed.txt\n`;
    const { workspace, commit } = await workspaceWith(dockerfile);
    const steps = imageSteps();

    const build = context(workspace, commit);
    const built = await steps.build(buildStep({ cache }), build.ctx);
    assert.equal(built.outcome, 'success', `${built.error}\n${build.log()}`);
    assert.match(build.log(), /STEP 2\/3: RUN echo built/);
    assert.match(build.log(), /Pushing cache/);

    const push = context(workspace, commit, { runId: build.ctx.runId, step: { index: 1, name: 'push' } });
    const pushed = await steps.push(pushStep('web', ['v1', 'latest']), push.ctx);
    assert.equal(pushed.outcome, 'success', `${pushed.error}\n${push.log()}`);
    assert.match(push.log(), /provenance sha256:[0-9a-f]{64} pushed as a referrer of admin\/web@/);

    // skopeo sees the image under both tags.
    const inspect = (tag: string) => skopeoInspect(server.host, admin, `admin/web:${tag}`, newDir('skopeo'));
    const v1 = await inspect('v1');
    assert.equal((await inspect('latest')).Digest, v1.Digest);
    assert.equal(v1.Layers.length, 5, 'three base layers and two of the Dockerfile');

    // The referrers API lists the provenance artifact.
    const provenance = await assertOneProvenance(client, 'admin/web', v1.Digest);

    // Its layer is a DSSE envelope signed with the server's key, naming the image and the commit.
    const artifact = await manifestOf('admin/web', provenance.digest);
    const envelopeBlob = await client.request(
      'GET',
      `/v2/admin/web/blobs/${artifact.manifest.layers[0]!.digest}`,
    );
    assert.equal(envelopeBlob.status, 200);
    const envelope = envelopeBlob.json<DsseEnvelope>();
    assert.equal(envelope.payloadType, IN_TOTO_PAYLOAD_TYPE);
    const statement = verifyEnvelope(envelope, server.services.tokens.signingKey.publicJwk);
    assert.deepEqual(statement.subject, [
      { name: `${server.host}/admin/web`, digest: { sha256: v1.Digest.slice('sha256:'.length) } },
    ]);
    const definition = statement.predicate.buildDefinition;
    assert.equal(definition.buildType, SLIPWAY_BUILD_TYPE);
    assert.deepEqual(definition.externalParameters.source, {
      repository: 'https://git.example.com/team/web.git',
      commit,
      ref: 'refs/heads/main',
    });
    assert.deepEqual(definition.resolvedDependencies, [
      { uri: 'git+https://git.example.com/team/web.git@refs/heads/main', digest: { gitCommit: commit } },
    ]);
    assert.equal(statement.predicate.runDetails.metadata.invocationId, build.ctx.runId);
    assert.equal(statement.predicate.runDetails.builder.id, `${server.url}/builder`);
    // A changed statement no longer verifies.
    const forged = {
      ...envelope,
      payload: Buffer.from(JSON.stringify({ ...statement, subject: [] })).toString('base64'),
    };
    assert.throws(() => verifyEnvelope(forged, server.services.tokens.signingKey.publicJwk), /no signature/);

    // buildah runs the pushed image from a fresh storage.
    const ran = await runInImage(server.host, admin, 'admin/web:v1', newDir('pull'), [
      '/bin/busybox',
      'cat',
      '/built.txt',
    ]);
    assert.equal(ran, 'built\n');

    // A rebuild with one changed layer, on another machine (an empty storage), reuses the registry cache.
    const changed = await workspaceWith(dockerfile.replace('echo one', 'echo two'));
    const rebuild = context(changed.workspace, changed.commit);
    const other = imageSteps();
    const rebuilt = await other.build(buildStep({ cache }), rebuild.ctx);
    assert.equal(rebuilt.outcome, 'success', `${rebuilt.error}\n${rebuild.log()}`);
    assert.match(rebuild.log(), /Cache pulled from remote [^\n]*admin\/web-cache:/);
    assert.match(rebuild.log(), /Using cache/);
    const repush = context(changed.workspace, changed.commit, { runId: rebuild.ctx.runId });
    const repushed = await other.push(pushStep('web', ['v2']), repush.ctx);
    assert.equal(repushed.outcome, 'success', `${repushed.error}\n${repush.log()}`);
    const first = (await manifestOf('admin/web', 'v1')).manifest.layers.map((l) => l.digest);
    const second = (await manifestOf('admin/web', 'v2')).manifest.layers.map((l) => l.digest);
    assert.deepEqual(second.slice(0, 4), first.slice(0, 4), 'the base layers and the unchanged RUN layer');
    assert.notEqual(second[4], first[4], 'the changed RUN layer');

    await steps.cleanupRun(build.ctx.runId);
    const left = await run(
      'buildah',
      ['inspect', '--type', 'image', `localhost/slipway-run-${build.ctx.runId}/web:${commit.slice(0, 7)}`],
      {
        env: steps.options.containersEnv,
      },
    );
    assert.notEqual(left.code, 0, 'cleanupRun removes the run images');
  });

  test("a Dockerfile that fails ends the step failed with buildah's error and pushes nothing", async (t) => {
    if (!ready(t)) return;
    await pushBase();
    const { workspace, commit } = await workspaceWith(`FROM ${server.host}/admin/base:v1\nRUN false\n`);
    const steps = imageSteps();
    const build = context(workspace, commit);
    const result = await steps.build(buildStep(), build.ctx);
    assert.equal(result.outcome, 'failed', build.log());
    assert.match(result.error ?? '', /buildah build failed: .*RUN false/);
    assert.match(build.log(), /Error: building at STEP "RUN false": exit status 1/);
    assert.deepEqual(await workingContainers(steps), [], 'the working container is removed');

    const push = context(workspace, commit, { runId: build.ctx.runId });
    const pushed = await steps.push(pushStep('broken', ['v1']), push.ctx);
    assert.equal(pushed.outcome, 'failed');
    assert.match(pushed.error ?? '', /no image web:[0-9a-f]{7} was built in this run/);
    const tags = await client.request('GET', '/v2/admin/broken/tags/list');
    assert.equal(tags.status, 404, 'no repository was created');
  });

  test('a run may push only where its actor may; its token is not widened at /v2/auth', async (t) => {
    if (!ready(t)) return;
    await pushBase();
    const { workspace, commit } = await workspaceWith(`FROM ${server.host}/admin/base:v1\n`);
    const steps = imageSteps();
    const build = context(workspace, commit, { actor: { kind: 'anonymous' } });
    const result = await steps.build(buildStep({ cache }), build.ctx);
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error, 'an anonymous run may not pull or push admin/web-cache');

    const { token } = await server.services.tokens.issue(actor, [
      { type: 'repository', name: 'admin/web', actions: ['pull'] },
    ]);
    const exchanged = await new RegistryClient(server.url, { username: '$token', password: token }).token([
      'repository:admin/web:pull,push',
      'repository:admin/base:pull',
    ]);
    assert.equal(exchanged.status, 200);
    const grant = await server.services.tokens.verify(exchanged.token!);
    assert.deepEqual(grant.access, [
      { type: 'repository', name: 'admin/web', actions: ['pull'] },
      { type: 'repository', name: 'admin/base', actions: [] },
    ]);
    const forged = await new RegistryClient(server.url, {
      username: '$token',
      password: 'not-a-token',
    }).token(['repository:admin/web:pull']);
    assert.equal(forged.status, 401);
  });

  test('a build that outlives its time limit ends timed out, its processes gone', async (t) => {
    if (!ready(t)) return;
    await pushBase();
    const { workspace, commit } = await workspaceWith(
      `FROM ${server.host}/admin/base:v1\nRUN echo "pid $$" && exec sleep 3128\n`,
    );
    const steps = imageSteps();
    const build = context(workspace, commit, { timeoutMs: 4000 });
    const result = await steps.build(buildStep(), build.ctx);
    assert.equal(result.outcome, 'timed_out', build.log());
    // On a slow machine the limit may end the build before its RUN instruction started.
    const pid = Number(/pid (\d+)/.exec(build.log())?.[1] ?? 0);
    if (pid > 0) assert.equal(processAlive(pid), false, 'the RUN process is gone');
    assert.deepEqual(await processesWith(workspace), [], 'buildah build is gone');
  });

  test('cancel kills buildah and what it runs', async (t) => {
    if (!ready(t)) return;
    await pushBase();
    const { workspace, commit } = await workspaceWith(
      `FROM ${server.host}/admin/base:v1\nRUN echo "pid $$" && exec sleep 3127\n`,
    );
    const steps = imageSteps();
    const build = context(workspace, commit);
    const started = Date.now();
    const running = steps.build(buildStep(), build.ctx);
    let pid: number | undefined;
    while (pid === undefined && Date.now() - started < 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const match = /pid (\d+)/.exec(build.log());
      if (match) pid = Number(match[1]);
    }
    assert.ok(pid !== undefined, `the RUN instruction never started:\n${build.log()}`);
    assert.ok(processAlive(pid), 'the RUN process is alive before the cancel');
    build.abort.abort();
    const result = await running;
    assert.equal(result.outcome, 'cancelled');
    assert.equal(processAlive(pid), false, 'the RUN process is gone');
    assert.deepEqual(await processesWith(workspace), [], 'buildah build is gone');
    assert.deepEqual(await workingContainers(steps), [], 'the working container is removed');
  });
});
