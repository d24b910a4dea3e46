/**
 * The `build-image` step: `buildah build --isolation chroot` of the step's Dockerfile and context in the
 * run's workspace, with its build arguments and target, tagged with the run's local names; with a `cache`,
 * `--layers` and the layer cache read from and written to that repository. Without one (`--no-cache`), no
 * intermediate layer is committed: on the vfs driver each commit copies the whole filesystem, which would make a build
 * without a cache much slower than a plain `buildah bud` (bench/runs). See image-steps.ts for local names,
 * build records and the cache, registry-auth.ts for credentials and TLS.
 */
import { readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { expandVariables, type BuildImageStep } from '../model.js';
import type { StepEnd } from '../executor.js';
import { registryOf } from '../executors/buildah.executor.js';
import { dockerfileImages, referenceRepository } from './dockerfile-images.js';
import { buildahFailure, localImageName, OutputTail, type ImageSteps, type StepCall } from './image-steps.js';
import {
  isLoopbackHost,
  registriesConfWithInsecure,
  registryTarget,
  StepProblem,
  type AccessNeed,
} from './registry-auth.js';

/** A Dockerfile larger than this is refused before buildah sees it. */
const MAX_DOCKERFILE_BYTES = 1024 * 1024;

export async function runBuildImage(
  steps: ImageSteps,
  call: StepCall,
  step: BuildImageStep,
): Promise<StepEnd> {
  const { ctx } = call;
  const startedOn = steps.clock.now();
  const expand = (value: string) => expandVariables(value, ctx.variables);
  const buildArgs = Object.fromEntries(
    Object.entries(step.buildArgs).map(([name, value]) => [name, expand(value)]),
  );
  if (step.tags.length === 0) throw new StepProblem('failed', 'a build step needs at least one tag');
  const localNames = [...new Set(step.tags.map((tag) => localImageName(ctx.runId, expand(tag))))];
  const dockerfile = await insideWorkspace(ctx.workspace, step.dockerfile, 'dockerfile');
  const context = await insideWorkspace(ctx.workspace, step.context, 'context');
  if (!(await stat(context)).isDirectory()) {
    throw new StepProblem('failed', `the build context is not a directory: ${step.context}`);
  }
  const dockerfileStat = await stat(dockerfile);
  if (!dockerfileStat.isFile() || dockerfileStat.size > MAX_DOCKERFILE_BYTES) {
    throw new StepProblem('failed', `the Dockerfile is not a file of at most 1 MiB: ${step.dockerfile}`);
  }

  // Which registries the build talks to: the images the Dockerfile names, and the cache.
  const named = dockerfileImages(await readFile(dockerfile, 'utf8'), buildArgs);
  const slipwayNeeds: AccessNeed[] = [];
  const external: { host: string; credentials?: string }[] = [];
  const hosts = new Set<string>();
  for (const image of named.images) {
    const host = registryOf(image);
    hosts.add(host);
    if (host === ctx.registryHost) {
      slipwayNeeds.push({ repository: referenceRepository(image, host), actions: ['pull'] });
    } else {
      external.push({ host });
    }
  }
  const cache = step.cache && registryTarget(step.cache.registry, expand(step.cache.repository), ctx);
  if (cache) {
    hosts.add(cache.host);
    if (cache.kind === 'slipway') {
      slipwayNeeds.push({
        repository: cache.repository,
        actions: ['pull', 'push'],
        required: ['pull', 'push'],
      });
    } else {
      external.push({ host: cache.host, ...(cache.credentials ? { credentials: cache.credentials } : {}) });
    }
  }
  // Loopback registries (Slipway's own in the embedded default) speak plain HTTP: they are marked insecure
  // in a registries.conf of this call, so every other registry keeps TLS verification.
  const plainHttp = [...hosts].filter(isLoopbackHost);
  const extraEnv: NodeJS.ProcessEnv = {};
  let tlsOff = false;
  const conf =
    plainHttp.length > 0
      ? await registriesConfWithInsecure(steps.options.containersEnv, plainHttp)
      : undefined;
  if (conf?.kind === 'extended') {
    const file = join(call.tmp, 'registries.conf');
    await writeFile(file, conf.text);
    extraEnv.CONTAINERS_REGISTRIES_CONF = file;
  } else if (conf?.kind === 'unsupported' && plainHttp.length === hosts.size && !named.unresolved) {
    tlsOff = true;
  } else if (conf?.kind === 'unsupported') {
    call.note(
      `TLS verification stays on because this build also uses other registries; ${plainHttp.join(', ')} must be ` +
        "marked insecure in the registries.conf of Slipway's buildah",
    );
  }

  const authFile = await steps.writeAuthFile(call, { slipwayNeeds, external });
  const iidFile = join(call.tmp, 'image-id');
  const args = ['build', '--isolation', 'chroot', '--force-rm', '-f', dockerfile, '--iidfile', iidFile];
  args.push('--authfile', authFile);
  for (const [name, value] of Object.entries(buildArgs)) args.push('--build-arg', `${name}=${value}`);
  if (step.target !== undefined) args.push('--target', step.target);
  for (const name of localNames) args.push('--tag', name);
  if (cache) {
    const ref = `${cache.host}/${cache.repository}`;
    args.push('--layers', '--cache-from', ref, '--cache-to', ref);
  } else {
    // One commit at the end instead of one per instruction; buildah wants it spelled out for --force-rm.
    args.push('--no-cache');
  }
  if (tlsOff) args.push('--tls-verify=false');
  args.push(context);

  call.note(
    `building ${localNames.join(', ')}${cache ? ` with the layer cache ${cache.host}/${cache.repository}` : ''}`,
  );
  const errors = new OutputTail();
  const ended = await steps.buildah(
    args,
    ctx.signal,
    call.remaining(),
    (stream, data) => {
      if (stream === 'stderr') errors.push(data);
      call.emit(stream, data);
    },
    extraEnv,
  );
  if (ended.end !== 'exited' || ended.exitCode !== 0)
    return buildahFailure('buildah build', ended, errors.toString());

  const imageId = (await readFile(iidFile, 'utf8')).trim().replace(/^sha256:/, '');
  const finishedOn = steps.clock.now();
  for (const localName of localNames) {
    await steps.writeRecord(ctx.runId, {
      imageId,
      localName,
      dockerfile: step.dockerfile,
      context: step.context,
      ...(step.target !== undefined ? { target: step.target } : {}),
      buildArgs,
      job: { id: ctx.jobId, name: ctx.job.name },
      step: { id: ctx.stepId, name: ctx.step.name, index: ctx.step.index },
      startedOn,
      finishedOn,
    });
  }
  return { outcome: 'success', exitCode: 0 };
}

/**
 * The absolute path of `path` (relative to the workspace) after resolving symbolic links, which must stay
 * inside the workspace: a Dockerfile linked to a host file is refused.
 */
async function insideWorkspace(workspace: string, path: string, field: string): Promise<string> {
  if (isAbsolute(path))
    throw new StepProblem('failed', `${field} must be relative to the workspace: ${path}`);
  let real: string;
  let root: string;
  try {
    root = await realpath(workspace);
    real = await realpath(resolve(workspace, path));
  } catch {
    throw new StepProblem('failed', `${field} does not exist in the workspace: ${path}`);
  }
  const rel = relative(root, real);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new StepProblem('failed', `${field} leads outside the workspace: ${path}`);
  }
  return real;
}
