/**
 * Quay repository builds on the runs engine: a build is a run of a one-job pipeline (get the source, build
 * the Dockerfile with buildah, push to the repository). These are the domain shapes the Quay face and the
 * build-triggers context use.
 */

/** Quay's BUILD_PHASE values Slipway reports (`internalerror` is folded into `error`). */
export const BUILD_PHASES = [
  'waiting',
  'build-scheduled',
  'unpacking',
  'pulling',
  'building',
  'pushing',
  'complete',
  'error',
  'cancelled',
] as const;
export type BuildPhase = (typeof BUILD_PHASES)[number];

export const TERMINAL_BUILD_PHASES: readonly BuildPhase[] = ['complete', 'error', 'cancelled'];

/** Where the build context comes from. */
export type BuildSource =
  | { kind: 'archive'; url: string }
  | { kind: 'upload'; fileId: string }
  | { kind: 'git'; url: string; commit: string; ref?: string; credentials?: string };

export interface BuildRequest {
  source: BuildSource;
  /** Quay's dockerfile_path, relative to the source root ("/Dockerfile", "sub/Dockerfile"). */
  dockerfilePath?: string;
  /** Build context directory relative to the source root ("/" = root). */
  context?: string;
  /** Quay's subdirectory: context = subdirectory, Dockerfile = subdirectory/Dockerfile. */
  subdirectory?: string;
  /** Tags pushed to the repository; at least one. */
  tags: string[];
  /** Robot name (`ns+robot`); recorded and shown, checked by the face. */
  pullRobot?: string;
  /** Who asked (Quay manual_user); also the run's actor. */
  manualUser?: string;
  trigger?: { id: string; service: string; metadata: Record<string, unknown> };
}

export interface BuildView {
  /** Build uuid (Quay id). */
  id: string;
  /** `ns/name`. */
  repository: string;
  phase: BuildPhase;
  runId: string;
  /** When the build was requested (ms since epoch). */
  createdAt: number;
  /** Short name for people: sha224(archive_url)[:7], the upload's checksum prefix or commit[:7]. */
  displayName: string;
  source: BuildSource;
  /** Normalised per Quay's rules: both start with "/". */
  dockerfilePath: string;
  context: string;
  /** Quay's `subdirectory` field (= dockerfile_path in Quay's views). */
  subdirectory: string;
  tags: string[];
  pullRobot?: string;
  manualUser?: string;
  trigger?: { id: string; service: string; metadata: Record<string, unknown> };
  /** Why the build failed or was cancelled; undefined otherwise. */
  error?: string;
  /** Manifest digests pushed, once complete. */
  manifestDigests: string[];
  /** The archive URL for archive sources (writers only on the wire). */
  archiveUrl?: string;
}

/** One Quay build log entry (data/buildlogs.py shape). */
export interface QuayLogEntry {
  message: string;
  type?: 'phase' | 'command' | 'error';
  data: { datetime: string } & Record<string, unknown>;
}

export interface BuildLogsPage {
  start: number;
  total: number;
  logs: QuayLogEntry[];
}

export interface ListBuildsOptions {
  limit?: number;
  /** Only builds requested at or after this time, in seconds since the epoch (Quay's `since`). */
  since?: number;
  triggerId?: string;
}
