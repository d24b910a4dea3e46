import type { Selectable } from 'kysely';

/** Timestamps are epoch milliseconds; JSON columns hold the shapes named in their comments. */
export interface RepositoryBuildTables {
  repository_builds: {
    /** The build's uuid (Quay's id). */
    id: string;
    /** `ns/name`. */
    repository: string;
    /** The run that carries the build out (a run of the repository's build pipeline). */
    run_id: string;
    /** JSON: the `BuildSource`. */
    source: string;
    display_name: string;
    dockerfile_path: string;
    context: string;
    subdirectory: string;
    /** JSON: string[]. */
    tags: string;
    pull_robot: string | null;
    manual_user: string | null;
    trigger_id: string | null;
    trigger_service: string | null;
    /** JSON: the trigger's metadata. */
    trigger_metadata: string | null;
    created_at: number;
  };
  /** Files uploaded through Quay's filedrop, for builds; the bytes live in the data directory. */
  build_files: {
    id: string;
    /** Who asked for the upload URL: only they may build from the file. */
    owner: string;
    mime_type: string;
    /** Null until the bytes were uploaded. */
    size: number | null;
    sha256: string | null;
    created_at: number;
    uploaded_at: number | null;
  };
}

export type RepositoryBuildRow = Selectable<RepositoryBuildTables['repository_builds']>;
export type BuildFileRow = Selectable<RepositoryBuildTables['build_files']>;
