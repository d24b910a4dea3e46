// Shared steps of the tests that build images through Slipway: the base image pushed in, then skopeo, the
// referrers API and buildah checking what a build pushed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PROVENANCE_ARTIFACT_TYPE } from '../../src/runs/provenance.js';
import { buildTestImages, TEST_IMAGE_TAG } from './images.js';
import { RegistryClient } from './registry-client.js';
import { containersEnv, run, runOk, type ContainersEnvOptions } from './tools.js';

const toolTimeoutMs = 60_000;

/** A registry login, as skopeo's and buildah's `--creds` and RegistryClient take it. */
export interface Login {
  username: string;
  password: string;
}

const credsOf = (login: Login): string => `${login.username}:${login.password}`;

/** Sets `env` in this process's environment (the server's steps run with it); returns the undo. */
export function overrideProcessEnv(env: NodeJS.ProcessEnv): () => void {
  const savedEnv = { ...process.env };
  Object.assign(process.env, env);
  return () => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
    Object.assign(process.env, savedEnv);
  };
}

/** Points this process's buildah/skopeo state (the server's image steps use it) at dir; returns the undo. */
export function confineProcessContainers(dir: string, opts: ContainersEnvOptions = {}): () => void {
  return overrideProcessEnv(containersEnv(dir, opts));
}

/** Builds the busybox-static test image under workDir and pushes it to host/reference (e.g. admin/base:v1). */
export async function pushBaseImage(
  host: string,
  login: Login,
  reference: string,
  workDir: string,
): Promise<string> {
  const images = await buildTestImages(join(workDir, 'images'));
  const image = `${host}/${reference}`;
  await runOk(
    'skopeo',
    [
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      credsOf(login),
      `oci:${images.ociLayout}:${TEST_IMAGE_TAG}`,
      `docker://${image}`,
    ],
    { env: images.env, timeoutMs: toolTimeoutMs },
  );
  return image;
}

/** `skopeo inspect` of host/reference (a fresh containers storage in dir); fails when it is not there. */
export async function skopeoInspect(
  host: string,
  login: Login,
  reference: string,
  dir: string,
): Promise<{ Digest: string; Layers: string[] }> {
  const inspected = await runOk(
    'skopeo',
    ['inspect', '--tls-verify=false', '--creds', credsOf(login), `docker://${host}/${reference}`],
    { env: containersEnv(dir), timeoutMs: toolTimeoutMs },
  );
  return JSON.parse(inspected.stdout) as { Digest: string; Layers: string[] };
}

/** Asserts the referrers API lists exactly one provenance artifact for repository@digest; returns it. */
export async function assertOneProvenance(
  registry: RegistryClient,
  repository: string,
  digest: string,
): Promise<{ digest: string; artifactType?: string }> {
  const referrers = await registry.request('GET', `/v2/${repository}/referrers/${digest}`);
  assert.equal(referrers.status, 200);
  const provenance = referrers
    .json<{ manifests: { digest: string; artifactType?: string }[] }>()
    .manifests.filter((m) => m.artifactType === PROVENANCE_ARTIFACT_TYPE);
  assert.equal(provenance.length, 1, JSON.stringify(referrers.json()));
  return provenance[0]!;
}

/** Pulls host/reference into a fresh storage in dir, runs `command` in it with buildah; returns its stdout. */
export async function runInImage(
  host: string,
  login: Login,
  reference: string,
  dir: string,
  command: string[],
): Promise<string> {
  const env = containersEnv(dir);
  const container = (
    await runOk(
      'buildah',
      ['from', '--quiet', '--tls-verify=false', '--creds', credsOf(login), `${host}/${reference}`],
      {
        env,
        timeoutMs: toolTimeoutMs,
      },
    )
  ).stdout.trim();
  const ran = await runOk('buildah', ['run', '--isolation', 'chroot', container, '--', ...command], {
    env,
    timeoutMs: toolTimeoutMs,
  });
  await run('buildah', ['rm', container], { env });
  return ran.stdout;
}

/** Checks what a build pushed: skopeo finds it, one provenance refers to it, `buildah run` cats `files` in it. */
export async function checkPushedImage(
  server: { host: string; url: string },
  login: Login,
  reference: string,
  workDir: string,
  files = ['/built.txt'],
): Promise<{ digest: string; contents: string }> {
  const { Digest: digest } = await skopeoInspect(server.host, login, reference, join(workDir, 'skopeo'));
  const repository = reference.slice(0, reference.lastIndexOf(':'));
  await assertOneProvenance(new RegistryClient(server.url, login), repository, digest);
  const contents = await runInImage(server.host, login, reference, join(workDir, 'pull'), [
    '/bin/busybox',
    'cat',
    ...files,
  ]);
  return { digest, contents };
}
