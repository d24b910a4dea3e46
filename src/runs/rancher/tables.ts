/** What Rancher's pipeline API knows of a pipeline beyond Slipway's (migration `0077_rancher_pipelines`). */
export interface RancherPipelineTables {
  rancher_pipelines: {
    /** The Slipway pipeline (deleted with it). */
    pipeline_id: string;
    namespace: string;
    /** Rancher's `displayName`, unique in the namespace; the Slipway pipeline keeps the name it was created with. */
    display_name: string;
    /** Inactive pipelines start no runs from webhooks or schedules, and refuse manual runs. */
    active: number;
    /** `stages`: a 2.0 tech-preview spec; `repository`: 2.1+, the definition is `.rancher-pipeline.yml`. */
    form: string;
    /** JSON `{stages, triggers}` of a tech-preview spec, as given (checked); null for the repository form. */
    spec: string | null;
    repository_url: string;
    /** The branch runs build when none is asked for; null: the repository's default branch. */
    branch: string | null;
    trigger_webhook_push: number;
    trigger_webhook_pr: number;
    trigger_webhook_tag: number;
    source_credential: string | null;
    /** The generic webhook trigger, when webhooks are on. */
    webhook_id: string | null;
    /** The cron trigger of a tech-preview `cronTrigger`. */
    cron_id: string | null;
    created_by: string | null;
    created_at: number;
    updated_at: number;
  };
}
