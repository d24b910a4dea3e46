/**
 * The `push-image` step: `buildah push` of a local image of the run to each of the step's tags, then,
 * for Slipway's own registry, the image's signed build provenance as a referrer of what was pushed.
 *
 * Provenance needs the record of the build step that made the image (image-steps.ts); an image this run
 * did not build with a build step (or that was replaced since) is pushed without, and the log says so.
 * Provenance is not pushed to other registries. A provenance that cannot be stored ends the step in
 * `error`: the image is pushed, but the promise that every build has its provenance would be broken.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expandVariables, gitRef, type PushImageStep } from '../model.js';
import type { StepEnd } from '../executor.js';
import {
  buildahFailure,
  isImageTag,
  localImageName,
  OutputTail,
  type ImageSteps,
  type StepCall,
} from './image-steps.js';
import { isLoopbackHost, registryTarget, StepProblem } from './registry-auth.js';

export async function runPushImage(steps: ImageSteps, call: StepCall, step: PushImageStep): Promise<StepEnd> {
  const { ctx } = call;
  const expand = (value: string) => expandVariables(value, ctx.variables);
  const source = expand(step.source);
  const localName = localImageName(ctx.runId, source);
  const destination = registryTarget(step.destination.registry, expand(step.destination.repository), ctx);
  const tags = [...new Set(step.tags.map(expand))];
  if (tags.length === 0) throw new StepProblem('failed', 'a push step needs at least one tag');
  const badTag = tags.find((tag) => !isImageTag(tag));
  if (badTag !== undefined) throw new StepProblem('failed', `invalid tag: ${JSON.stringify(badTag)}`);

  const imageId = await localImageId(steps, call, localName);
  if (imageId === undefined) {
    return { outcome: 'failed', exitCode: null, error: `no image ${source} was built in this run` };
  }

  const slipway = destination.kind === 'slipway';
  const authFile = await steps.writeAuthFile(call, {
    slipwayNeeds: slipway
      ? [{ repository: destination.repository, actions: ['pull', 'push'], required: ['pull', 'push'] }]
      : [],
    external: slipway
      ? []
      : [
          {
            host: destination.host,
            ...(destination.credentials ? { credentials: destination.credentials } : {}),
          },
        ],
  });

  const digests = new Set<string>();
  const digestFile = join(call.tmp, 'digest');
  for (const tag of tags) {
    const target = `${destination.host}/${destination.repository}:${tag}`;
    call.note(`pushing ${source} to ${target}`);
    const args = ['push', '--authfile', authFile, '--digestfile', digestFile];
    if (isLoopbackHost(destination.host)) args.push('--tls-verify=false');
    args.push(localName, `docker://${target}`);
    const errors = new OutputTail();
    const ended = await steps.buildah(args, ctx.signal, call.remaining(), (stream, data) => {
      if (stream === 'stderr') errors.push(data);
      call.emit(stream, data);
    });
    if (ended.end !== 'exited' || ended.exitCode !== 0) {
      return buildahFailure('buildah push', ended, errors.toString());
    }
    const digest = (await readFile(digestFile, 'utf8')).trim();
    call.emit('stdout', Buffer.from(`${target}@${digest}\n`));
    digests.add(digest);
  }

  if (!slipway) {
    call.note(`no provenance for ${destination.host}: provenance is kept in Slipway's registry only`);
    return { outcome: 'success', exitCode: 0 };
  }
  const record = await steps.readRecord(ctx.runId, localName);
  if (record === undefined || record.imageId !== imageId) {
    call.note(`no provenance: ${source} was not made by a build step of this run`);
    return { outcome: 'success', exitCode: 0 };
  }
  const imageName = `${steps.options.publicRegistryHost ?? ctx.registryHost}/${destination.repository}`;
  for (const digest of digests) {
    try {
      const published = await steps.options.provenance.publish(
        destination.repository,
        {
          image: { name: imageName, digest },
          source: { repository: ctx.trigger.repoUrl, commit: ctx.trigger.commit, ref: gitRef(ctx.trigger) },
          build: {
            dockerfile: record.dockerfile,
            context: record.context,
            ...(record.target !== undefined ? { target: record.target } : {}),
            buildArgs: record.buildArgs,
          },
          event: ctx.trigger.event,
          pipeline: ctx.pipeline,
          run: { id: ctx.runId, number: ctx.run.number },
          job: record.job,
          step: record.step,
          startedOn: record.startedOn,
          finishedOn: record.finishedOn,
        },
        ctx.actor,
      );
      call.note(`provenance ${published.digest} pushed as a referrer of ${destination.repository}@${digest}`);
    } catch (err) {
      return {
        outcome: 'error',
        exitCode: null,
        error: `could not push the provenance of ${destination.repository}@${digest}: ${(err as Error).message}`,
      };
    }
  }
  return { outcome: 'success', exitCode: 0 };
}

/** The id of a local image, or undefined when there is none by that name. */
async function localImageId(
  steps: ImageSteps,
  call: StepCall,
  localName: string,
): Promise<string | undefined> {
  const out: Buffer[] = [];
  const ended = await steps.buildah(
    ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', localName],
    call.ctx.signal,
    call.remaining(),
    (stream, data) => {
      if (stream === 'stdout') out.push(data);
    },
  );
  if (ended.end === 'cancelled') throw new StepProblem('cancelled', 'cancelled');
  if (ended.end === 'timed_out') throw new StepProblem('timed_out', 'timed out');
  if (ended.end !== 'exited' || ended.exitCode !== 0) return undefined;
  return Buffer.concat(out).toString('utf8').trim() || undefined;
}
