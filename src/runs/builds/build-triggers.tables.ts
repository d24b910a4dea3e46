/** The table of Quay build triggers (migration `0071_build_triggers`). Timestamps are epoch milliseconds. */
export interface BuildTriggerTables {
  /** A source binding of a repository: pushes to it (or a manual start) build the repository's image. */
  build_triggers: {
    /** A UUID; part of the webhook URL. */
    id: string;
    repository_id: string;
    /** `namespace/name` of the repository, to find it again from a webhook call. */
    repository: string;
    /** `github`, `gitlab`, `bitbucket` or `custom-git`. */
    service: string;
    /** JSON of the trigger's config (build_source, dockerfile_path, ...); never holds a secret. */
    config: string;
    /** Name of the user who set the trigger up; its builds act for this user. */
    connected_user: string;
    /** Robot name (`ns+robot`) builds pull base images as; null for none. */
    pull_robot: string | null;
    /** sha256 (hex) of the webhook's `$token` password; null until activated. */
    token_hash: string | null;
    /** GitHub's webhook secret (X-Hub-Signature-256), sealed with the SecretBox; null when none is set. */
    hook_secret_sealed: string | null;
    activated_at: number | null;
    enabled: number;
    /** Why the trigger was disabled: successive_build_failures, successive_build_internal_errors, user_toggled. */
    disabled_reason: string | null;
    successive_failures: number;
    successive_internal_errors: number;
    created_at: number;
  };
}
