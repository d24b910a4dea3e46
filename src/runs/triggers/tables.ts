/** The tables of pipeline triggers (migration `0061_triggers`). Timestamps are epoch milliseconds. */
export interface TriggerTables {
  /** A webhook endpoint of a pipeline: `POST /api/slipway/v1/hooks/{id}`. */
  webhook_triggers: {
    /** Random (a UUID): the id is part of the hook URL. */
    id: string;
    pipeline_id: string;
    /** `WebhookProvider`. */
    provider: string;
    /** The shared secret, sealed with the SecretBox; null only for a Bitbucket hook without one. */
    secret_sealed: string | null;
    created_at: number;
  };
  /** A schedule that starts runs of a pipeline (Rancher's cron trigger). */
  cron_triggers: {
    id: string;
    pipeline_id: string;
    /** A 5-field cron expression (6 with seconds first), read in `timezone`. */
    schedule: string;
    /** IANA zone (`Europe/Berlin`, `UTC`). */
    timezone: string;
    /** The branch the runs build; null: the pipeline's default branch. */
    branch: string | null;
    /** The tick to fire next; the claim of a tick is a compare-and-set on it. Null when no tick is left. */
    next_fire_at: number | null;
    enabled: number;
    created_at: number;
  };
  /** Start a run of a pipeline when a manifest is pushed to a repository under a matching tag. */
  image_triggers: {
    id: string;
    pipeline_id: string;
    /** `namespace/name` in Slipway's registry. */
    repository: string;
    /** Tag glob (`matchGlob` syntax, e.g. `v*`, `latest`). */
    tag_glob: string;
    created_at: number;
  };
  /** Start a run of `pipeline_id` when a run of `upstream_pipeline_id` ends in one of `states`. */
  pipeline_triggers: {
    id: string;
    pipeline_id: string;
    upstream_pipeline_id: string;
    /** Comma-separated terminal run states, e.g. `success`. */
    states: string;
    created_at: number;
  };
}
