import type { RunTrigger } from '../runs.service.js';

/**
 * The one use case every trigger ends in, `RunsService.startRun`, as triggers depend on it: start a run of
 * pipeline `pipelineId` for `trigger.context`. Triggers that know no commit (cron, image, pipeline) leave
 * `commit` and `repoUrl` empty. Rejects with `NotFound` for an unknown pipeline and with `RunNotTriggered`
 * when the pipeline's own conditions turn the context down.
 */
export type StartRun = (pipelineId: string, trigger: Omit<RunTrigger, 'rerunOf'>) => Promise<{ id: string }>;
