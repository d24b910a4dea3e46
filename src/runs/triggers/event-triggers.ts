import type { EventBus, EventOf } from '../../platform/events.js';
import { matchGlob } from '../model.js';
import { RunNotTriggered } from '../runs.service.js';
import type { StartRun } from './start-run.js';
import type { TriggersStore } from './triggers.store.js';

/**
 * Triggers fed by domain events: an image pushed to a watched repository under a tag matching the trigger's
 * glob (`manifest.pushed`), and the end of a run of a pipeline other pipelines follow (`run.finished`).
 *
 * Bus handlers run synchronously and must not throw: each event's work runs in the background, failures go
 * to `onError`, and `settle` waits for the work in flight (shutdown, tests). A push by digest, without a
 * tag, starts nothing.
 */
export class EventTriggers {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly store: TriggersStore,
    private readonly startRun: StartRun,
    private readonly onError: (message: string, error: unknown) => void = (message, error) =>
      process.emitWarning(`${message}: ${error instanceof Error ? error.message : String(error)}`),
  ) {}

  /** Subscribes to the bus; returns the unsubscribe function. */
  listen(events: EventBus): () => void {
    const offPush = events.on('manifest.pushed', (event) => this.track(this.imagePushed(event)));
    const offRun = events.on('run.finished', (event) => this.track(this.runFinished(event)));
    return () => {
      offPush();
      offRun();
    };
  }

  /** Resolves when every run started for the events seen so far has been asked for. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Starts a run of every pipeline watching the pushed repository tag; resolves to the run ids. */
  async imagePushed(event: EventOf<'manifest.pushed'>): Promise<string[]> {
    const tag = event.tag;
    if (tag === undefined) return [];
    const triggers = (await this.store.imageTriggersOf(event.repository)).filter((t) =>
      matchGlob(t.tag_glob, tag),
    );
    return this.startEach(
      triggers.map((t) => t.pipeline_id),
      'image',
      `image push ${event.repository}:${tag}`,
    );
  }

  /** Starts a run of every pipeline following the finished run's pipeline in the state it ended in. */
  async runFinished(event: EventOf<'run.finished'>): Promise<string[]> {
    const followers = (await this.store.followersOf(event.pipelineId)).filter((t) =>
      t.states.split(',').includes(event.state),
    );
    return this.startEach(
      followers.map((t) => t.pipeline_id),
      'pipeline',
      `end of run ${event.runId} of pipeline ${event.pipelineId}`,
    );
  }

  private async startEach(
    pipelineIds: string[],
    kind: 'image' | 'pipeline',
    cause: string,
  ): Promise<string[]> {
    const started: string[] = [];
    for (const pipelineId of new Set(pipelineIds)) {
      try {
        const run = await this.startRun(pipelineId, {
          kind,
          context: { event: kind, commit: '', repoUrl: '' },
        });
        started.push(run.id);
      } catch (error) {
        // The pipeline's own conditions may turn these events down; that is no failure.
        if (!(error instanceof RunNotTriggered))
          this.onError(`${cause} could not start a run of pipeline ${pipelineId}`, error);
      }
    }
    return started;
  }

  private track(work: Promise<unknown>): void {
    const tracked = work
      .catch((error: unknown) => this.onError('event trigger failed', error))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
